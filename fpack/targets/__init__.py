"""Target builders: one module per target, each satisfying `TargetBuilder`, listed in TARGETS.

A little duplication between targets beats an early abstraction: each module owns its layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from fpack.artifact import Artifact
    from fpack.deps.engine import Dependencies
    from fpack.outputs import Outputs
    from fpack.plan import BuildPlan
    from fpack.report import Reporter


class TargetBuilder(Protocol):
    def build(self, plan: BuildPlan, deps: Dependencies, out: Outputs,
              reporter: Reporter) -> list[Artifact]: ...

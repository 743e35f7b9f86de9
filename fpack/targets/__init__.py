"""Target builders: one module per target, each satisfying `TargetBuilder`, listed in build.py.

A target module plans its artifacts as data (`fpack.layout`): `plan_artifacts` gathers what the
world must tell it first (a vendored bundle's wheels, a base image's id), then calls the module's
pure `plan`, which unit tests call directly. A little duplication between targets beats an early
abstraction: each module owns its layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from fpack.deps.engine import Dependencies
    from fpack.layout import ArtifactPlan
    from fpack.plan import BuildPlan
    from fpack.report import Reporter


class TargetBuilder(Protocol):
    def plan_artifacts(self, bp: BuildPlan, deps: Dependencies,
                       reporter: Reporter) -> tuple[ArtifactPlan, ...]: ...

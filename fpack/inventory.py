"""`fpack ls`: what each function is made of, from fpack.toml and the files it names; no build.

One row per function: its directory, handler and trigger, the dependency spec it uses (and the
workspace member, for a uv workspace), the dependency set's identity (functions with the same id
share one resolution, one install and, in aws layer mode, one layer), the local libraries the set
names, and each configured target's settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fpack.config import Function, Project
from fpack.deps import locals as local_libraries
from fpack.deps import spec as dep_spec


@dataclass(frozen=True, kw_only=True)
class Row:
    name: str
    dir: str
    handler: str
    trigger: str
    style: str
    dependencies: str  # the spec's path relative to the project, "" for none
    member: str | None
    set_id: str  # the dependency set's key, shortened: equal ids, one resolution
    libraries: tuple[str, ...]  # local library directories, relative to the project
    targets: tuple[str, ...]  # "aws python3.12 x86_64 layer", ...

    def as_json(self) -> dict[str, Any]:
        return {"function": self.name, "dir": self.dir, "handler": self.handler,
                "trigger": self.trigger, "style": self.style,
                "dependencies": self.dependencies or None, "member": self.member,
                "set": self.set_id, "libraries": list(self.libraries),
                "targets": list(self.targets)}


def describe(project: Project, only: Sequence[str] = ()) -> list[Row]:
    return [_row(project, fn) for fn in project.functions.values()
            if not only or fn.name in only]


def _row(project: Project, fn: Function) -> Row:
    spec = dep_spec.read(fn.dependencies, project.config_path, fn.member)
    libraries = local_libraries.libraries(fn.dependencies, fn.member)
    return Row(name=fn.name, dir=fn.dir, handler=fn.handler, trigger=fn.trigger, style=fn.style,
               dependencies=_rel(spec.path, project.root) if spec.path else "",
               member=spec.member, set_id=spec.key()[:10] if spec.path else "-",
               libraries=tuple(_rel(p, project.root) for p in libraries),
               targets=targets(project))


def targets(project: Project) -> tuple[str, ...]:
    """Each configured target's settings, in words."""
    out = []
    for target in project.targets:
        match target:
            case "aws":
                a = project.aws
                out.append(" ".join(["aws", a.runtime, a.arch, *(["layer"] if a.layer else []),
                                     *(["compile"] if a.compile else [])]))
            case "gcp":
                g = project.gcp
                out.append(" ".join(["gcp", g.runtime, *(["vendor"] if g.vendor else [])]))
            case "docker":
                d = project.docker
                out.append(" ".join(["docker", d.runtime, d.arch, d.flavor]))
    return tuple(out)


def _rel(path: Path, root: Path) -> str:
    path = path.resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)

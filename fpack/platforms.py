"""The table of target runtimes: Python version, CPU architecture, OS, glibc and default images.

Knowledge, not logic: adding a runtime is adding a row. Pure: no I/O.

Sources for the glibc column:
- AWS Lambda runtimes: https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html
  (python3.9-3.11 on Amazon Linux 2, glibc 2.26; python3.12+ on Amazon Linux 2023, glibc 2.34).
- Cloud Functions: https://cloud.google.com/functions/docs/concepts/execution-environment
  (python37-39 on Ubuntu 18.04, glibc 2.27; python310-313 on Ubuntu 22.04, 2.35;
  python314 on Ubuntu 24.04, 2.39).
- Docker: the python:3.X-slim-bookworm images are Debian 12, glibc 2.36.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Target = Literal["aws", "gcp", "docker"]
Arch = Literal["x86_64", "arm64"]
TARGETS: Final[tuple[Target, ...]] = ("aws", "gcp", "docker")
ARCHES: Final[tuple[Arch, ...]] = ("x86_64", "arm64")

# uv's --python-platform accepts only these manylinux levels; the ceiling we hand uv is the highest
# one not above the target's glibc (uv's plain `x86_64-unknown-linux-gnu` means 2_28: too new for
# Amazon Linux 2).
_UV_MANYLINUX: Final[tuple[tuple[int, int], ...]] = (
    (2, 17), (2, 28), (2, 31), (2, 32), (2, 33), (2, 34), (2, 35), (2, 36), (2, 37), (2, 38),
    (2, 39), (2, 40),
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """One row: a runtime name as the cloud spells it and what it runs on."""

    target: Target
    name: str
    python: tuple[int, int]
    os: str
    glibc: tuple[int, int]
    glibcxx: tuple[int, int, int]  # the newest GLIBCXX_x.y.z the OS's libstdc++ provides
    arches: tuple[Arch, ...]
    base_image: str  # what the function runs on (local invoke, docker images)
    build_image: str  # where source-only packages are compiled; `{arch}` is filled in


@dataclass(frozen=True, kw_only=True)
class Platform:
    """A runtime on one architecture: what wheels must fit."""

    runtime: Runtime
    arch: Arch

    @property
    def python(self) -> tuple[int, int]:
        return self.runtime.python

    @property
    def python_version(self) -> str:
        return f"{self.runtime.python[0]}.{self.runtime.python[1]}"

    @property
    def glibc(self) -> tuple[int, int]:
        return self.runtime.glibc

    @property
    def machine(self) -> str:
        """The ELF/uname name of the architecture (manylinux tags use it)."""
        return "x86_64" if self.arch == "x86_64" else "aarch64"

    @property
    def docker_platform(self) -> str:
        return "linux/amd64" if self.arch == "x86_64" else "linux/arm64"

    @property
    def manylinux_tag(self) -> str:
        """The highest manylinux platform tag the target accepts."""
        return f"manylinux_{self.glibc[0]}_{self.glibc[1]}_{self.machine}"

    @property
    def uv_platform(self) -> str:
        """The value for uv's --python-platform: the highest level uv knows not above our glibc."""
        level = max(v for v in _UV_MANYLINUX if v <= self.glibc)
        return f"{self.machine}-manylinux_{level[0]}_{level[1]}"

    @property
    def label(self) -> str:
        glibc = f"{self.glibc[0]}.{self.glibc[1]}"
        return f"{self.runtime.name} {self.arch} ({self.runtime.os}, glibc {glibc})"

    def build_image(self) -> str:
        return self.runtime.build_image.format(arch=self.machine)

    def key(self) -> str:
        """Everything about the platform that decides which wheels fit, as a cache-key string."""
        return f"{self.runtime.target}:{self.runtime.name}:{self.arch}:{self.uv_platform}"


# (OS, glibc, libstdc++'s GLIBCXX level: GCC 7 on AL2, 11 on AL2023, 8/12/14 on Ubuntu 18/22/24.04,
# 12 on Debian 12; https://gcc.gnu.org/onlinedocs/libstdc++/manual/abi.html lists the levels.)
_AL2: Final = ("Amazon Linux 2", (2, 26), (3, 4, 24))
_AL2023: Final = ("Amazon Linux 2023", (2, 34), (3, 4, 29))


def _aws(minor: int) -> Runtime:
    os_name, glibc, glibcxx = _AL2 if minor <= 11 else _AL2023
    return Runtime(
        target="aws",
        name=f"python3.{minor}",
        python=(3, minor),
        os=os_name,
        glibc=glibc,
        glibcxx=glibcxx,
        arches=ARCHES,
        base_image=f"public.ecr.aws/lambda/python:3.{minor}",
        build_image=f"public.ecr.aws/sam/build-python3.{minor}",
    )


def _gcp(minor: int) -> Runtime:
    if minor <= 9:
        os_name, glibc, glibcxx = "Ubuntu 18.04", (2, 27), (3, 4, 25)
    elif minor <= 13:
        os_name, glibc, glibcxx = "Ubuntu 22.04", (2, 35), (3, 4, 30)
    else:
        os_name, glibc, glibcxx = "Ubuntu 24.04", (2, 39), (3, 4, 33)
    return Runtime(
        target="gcp",
        name=f"python3{minor}",
        python=(3, minor),
        os=os_name,
        glibc=glibc,
        glibcxx=glibcxx,
        arches=("x86_64",),
        base_image=f"python:3.{minor}-slim-bookworm",
        build_image="quay.io/pypa/manylinux_2_28_{arch}"
        if glibc >= (2, 28)
        else "quay.io/pypa/manylinux2014_{arch}",
    )


def _docker(minor: int) -> Runtime:
    return Runtime(
        target="docker",
        name=f"3.{minor}",
        python=(3, minor),
        os="Debian 12",
        glibc=(2, 36),
        glibcxx=(3, 4, 30),
        arches=ARCHES,
        base_image=f"python:3.{minor}-slim-bookworm",
        build_image=f"python:3.{minor}-bookworm",
    )


_MINORS: Final = range(9, 15)
RUNTIMES: Final[dict[Target, dict[str, Runtime]]] = {
    "aws": {r.name: r for r in map(_aws, _MINORS)},
    "gcp": {r.name: r for r in map(_gcp, _MINORS)},
    "docker": {r.name: r for r in map(_docker, _MINORS)},
}


def runtime_name(target: Target, python: tuple[int, int]) -> str:
    """How each cloud spells a Python version: python3.12, python312, 3.12."""
    match target:
        case "aws":
            return f"python{python[0]}.{python[1]}"
        case "gcp":
            return f"python{python[0]}{python[1]}"
        case "docker":
            return f"{python[0]}.{python[1]}"


DEFAULT_PYTHON: Final = (3, 12)

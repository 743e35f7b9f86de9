"""Building wheels for packages that have none for the target, inside a container of the target.

A source distribution, a source archive, a local directory or a git checkout is turned into a wheel
by `pip wheel --no-deps` run by the target's own Python version in a container of the target's
platform (`linux/arm64` under qemu for arm64), so the compiler, glibc and Python headers are the
target's and not the build machine's. The image comes from FPACK_BUILD_IMAGE, else the target's
`build_image` setting, else the runtime table's default. The container gets the host's index, proxy
and CA settings (`container.build_settings`) and runs on the host's network, so an index or proxy
on the host's loopback is reached under the same name and certificate as from the host. The
source goes in and the wheel comes out through the Docker API, never a bind mount, so an engine
on another machine builds the same wheel.

Built wheels go to the cache's wheelhouse under a key of (name, version, source digest, Python,
arch, image, build format) and are never built twice. The audit later checks them like any other.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from fpack import guest
from fpack.deps import keys, uv
from fpack.deps.cache import Cache
from fpack.deps.lock import Locked
from fpack.deps.names import NotAWheel, Tag, wheel_name
from fpack.errors import ContainerError, DependencyError
from fpack.inputs import IMAGE_ENV, BuildInputs
from fpack.platforms import Platform
from fpack.proc import redact, run
from fpack.report import Reporter

if TYPE_CHECKING:
    from fpack import container

KIND: Final = "built"  # the cache directory of the wheelhouse
BUILD_FORMAT: Final = "1"  # bump when guest/build_wheel.sh changes what a wheel would contain
META: Final = "build.json"
HOST: Final = "host"  # what `Built.image` says of a pure-Python local library built by uv here
_HOST_BUILD_TIMEOUT: Final = 300  # seconds: a build backend that hangs must not hang the build
_NO_PYTHON: Final = 97
_NO_PIP: Final = 98
# Never copied into a build, never part of a directory's digest: VCS data, environments and, above
# all, earlier build output, whose host-compiled objects setuptools would happily link again.
_SKIP_DIRS: Final = frozenset({".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", ".eggs",
                               "build", "dist", "__pycache__", ".mypy_cache", ".pytest_cache"})
_SKIP_SUFFIXES: Final = (".egg-info", ".pyc", ".so", ".o")

# Runs in the build container as root: finds the target's Python (manylinux images keep theirs in
# /opt/python, Lambda's in /var/lang), builds one wheel into /out, which the host copies back.
SCRIPT: Final = "build_wheel.sh"  # in fpack/guest/, passed whole to `sh -c`
# Known failure signatures in a build's output, and what to do about each.
# The first sign found in a failed build's output picks the hint: most specific first ("gcc" is in
# every compile line, so a missing header must be recognised before a missing compiler).
_HINTS: Final[Mapping[str, str]] = {
    "CERTIFICATE_VERIFY_FAILED": "the container does not trust the index's certificate: set "
    "PIP_CERT or SSL_CERT_FILE to the CA bundle your pip uses (fpack copies it into the container)",
    "Python.h": "the build image has no Python headers: use an image with python3-dev, or set "
    "[targets.T] build_image / FPACK_BUILD_IMAGE",
    "pg_config": "the build needs PostgreSQL's client library (pg_config, libpq): depend on "
    "psycopg2-binary or psycopg[binary], which publish manylinux wheels, or build in an image "
    "with libpq-dev (build_image)",
    "Rust compiler": "the package builds Rust code and the build image has no Rust toolchain: pin "
    "a version with a wheel for the target, or use a build image with rustc and cargo",
    "Cargo, the Rust package manager": "the package builds Rust code and the build image has no "
    "Rust toolchain: pin a version with a wheel for the target, or use a build image with cargo",
    ".h: No such file or directory": "a C header the package includes is not in the build image "
    "(see the line above): use a build image of your own with its -dev package installed "
    "(build_image / FPACK_BUILD_IMAGE), or pin a version with a wheel for the target",
    "gcc": "the build image has no C compiler: use an image with build-essential, or set "
    "[targets.T] build_image / FPACK_BUILD_IMAGE",
    "Could not find a version": "the container cannot reach the package index: check the proxy "
    "and index variables (HTTPS_PROXY, PIP_INDEX_URL)",
    "DO NOT MATCH THE HASHES": "the index now serves another file than the one it listed when "
    "fpack resolved: run the build again with --refresh",
}


@dataclass(frozen=True, kw_only=True)
class Built:
    """A wheel in the wheelhouse and where it came from."""

    name: str
    version: str
    wheel: Path
    image: str
    source: Locked  # what it was built from, as the resolution pinned it


# The build image: FPACK_BUILD_IMAGE, else the target's build_image, else the table's. It is
# part of the resolution's cache key, so it lives with the keys.
image_for = keys.build_image


def key(source: Locked, digest: str, platform: Platform, image: str) -> str:
    parts = (source.name, source.version or "", digest, platform.python_version,
             platform.machine, image, BUILD_FORMAT)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def source_digest(source: Locked) -> str:
    """What identifies the source's content: the archive's sha256, the commit, or the tree's."""
    match source.kind:
        case "directory":
            return "tree:" + tree_digest(Path(source.location))
        case "vcs":
            return f"vcs:{redact(source.location)}@{source.commit}#{source.subdirectory}"
        case _:
            if not source.sha256:
                raise DependencyError(f"{source.name}: the resolution recorded no sha256 for "
                                      f"{redact(source.location)}; fpack cannot cache its build")
            return f"sha256:{source.sha256}#{source.subdirectory}"


def _walk(root: Path) -> Iterator[Path]:
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name in _SKIP_DIRS or entry.name.endswith(_SKIP_SUFFIXES):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        else:
            yield Path(entry.path)


def tree_digest(root: Path) -> str:
    """sha256 over the sorted (path, executable bit, content) of a source tree's files."""
    h = hashlib.sha256()
    for path in _walk(root):
        rel = path.relative_to(root).as_posix()
        content = str(path.readlink()).encode() if path.is_symlink() else path.read_bytes()
        mode = "x" if path.lstat().st_mode & 0o111 else "-"
        h.update(f"{rel}\0{mode}\0{len(content)}\0".encode() + content)
    return h.hexdigest()


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in _SKIP_DIRS or n.endswith(_SKIP_SUFFIXES)}


def cached(cache: Cache, build_key: str) -> Built | None:
    """The wheelhouse entry `build_key`, if whole (marker present, wheel and meta readable)."""
    entry = cache.entry(KIND, build_key)
    if entry is None:
        return None
    try:
        meta = json.loads((entry / META).read_text(encoding="utf-8"))
        wheel = entry / meta["wheel"]
        source = Locked(**meta["source"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not wheel.is_file():
        return None
    return Built(name=meta["name"], version=meta["version"], wheel=wheel, image=meta["image"],
                 source=source)


def build(source: Locked, platform: Platform, image: str, inputs: BuildInputs,
          reporter: Reporter, *,
          index: Sequence[str] = ()) -> Built:
    """A wheel of `source` for `platform`, from the wheelhouse or built in `image` (then kept).

    `index`: the requirements file's index options, handed to pip in the container as
    PIP_INDEX_URL / PIP_EXTRA_INDEX_URL (a source on a private index needs its credentials)."""
    cache = inputs.cache
    build_key = key(source, source_digest(source), platform, image)
    if (hit := cached(cache, build_key)) is not None:
        return hit
    with cache.lock(f"wheel-{build_key}"):
        if (hit := cached(cache, build_key)) is not None:
            return hit
        what = f"{source.name} {source.version or ''}".rstrip()
        with cache.new_entry(KIND, build_key) as out:
            wheel = _build_pure_on_host(source, out, reporter, inputs) \
                if source.kind == "directory" else None
            made_by = HOST if wheel is not None else image
            if wheel is None:
                from fpack import container  # noqa: PLC0415 - only a build in a container needs it

                reporter.step(f"building {what} from source in {image} "
                              f"({platform.docker_platform})")
                wheel = _build_in_container(source, platform, image, out, env=pip_env(index),
                                            settings=container.build_settings(inputs))
            name, version = _check_wheel(wheel, source, platform, image)
            meta = {"name": name, "version": version, "wheel": wheel.name, "image": made_by,
                    "source": {**source.__dict__, "location": redact(source.location)}}
            (out / META).write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
        reporter.done(f"built {wheel.name}")
    built = cached(cache, build_key)
    assert built is not None
    return built


def _build_pure_on_host(source: Locked, out: Path, reporter: Reporter,
                        inputs: BuildInputs) -> Path | None:
    """A local library's wheel built on this machine by `uv build`, if it is pure Python (one
    wheel, tagged `none-any`: the same bytes for every target, so there is no need to pay for a
    container); None when the build fails or makes a platform wheel, which the caller then
    builds in the target's container, as any compiled source. SOURCE_DATE_EPOCH pins the
    wheel's timestamps: a bundle that ships it (gcp) is the same in every checkout."""
    reporter.step(f"{source.name}: a local library; trying a pure-Python wheel with uv")
    with tempfile.TemporaryDirectory(prefix="fpack-local-") as tmp:
        copy = Path(tmp) / "tree"
        shutil.copytree(Path(source.location), copy, symlinks=True, ignore=_ignore)
        made = Path(tmp) / "wheels"
        try:
            result = run([uv.binary(), "build", "--wheel", "--quiet", "--no-python-downloads",
                          *inputs.index.uv_args(), "--out-dir", made, copy],
                         env={**inputs.environ, "SOURCE_DATE_EPOCH": str(inputs.epoch)},
                         timeout=_HOST_BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            return None
        wheels = sorted(made.glob("*.whl")) if result.returncode == 0 else []
        if len(wheels) != 1 or not _pure(wheels[0].name):
            return None
        return Path(shutil.move(str(wheels[0]), out / wheels[0].name))


def _pure(filename: str) -> bool:
    try:
        tags = wheel_name(filename).tags
    except NotAWheel:
        return False
    return all(t.platform == "any" and t.abi == "none" for t in tags)


def pip_env(index: Sequence[str]) -> dict[str, str]:
    """uv-style index options as pip's environment variables (find-links name host paths)."""
    pairs = list(zip(index[::2], index[1::2], strict=True))
    env: dict[str, str] = {}
    primary = [v for k, v in pairs if k == "--index-url"]
    extra = [v for k, v in pairs if k == "--extra-index-url"]
    if primary:
        env["PIP_INDEX_URL"] = primary[-1]
    if extra:
        env["PIP_EXTRA_INDEX_URL"] = " ".join(extra)
    return env


def _build_in_container(source: Locked, platform: Platform, image: str, out: Path, *,
                        env: Mapping[str, str], settings: container.Settings) -> Path:
    """The source copied in, `pip wheel` run, /out copied back into `out`: through the Docker
    API, so an engine that sees none of this machine's files (remote, Docker-in-Docker, Podman)
    builds the same wheel."""
    from fpack import container  # noqa: PLC0415 - a wheel-only set never builds

    with tempfile.TemporaryDirectory(prefix="fpack-src-") as tmp:
        argument, inputs = _source_inputs(source, Path(tmp))
        command = ["sh", "-c", guest.text(SCRIPT), "fpack-build", platform.python_version, argument,
                   f"cp{platform.python[0]}{platform.python[1]}"]
        result = container.run(
            image, command, platform=platform.docker_platform,
            settings=settings, copy_in=inputs, network="host", env=env,
            outputs={"/out": out},
        )
    _check_result(result, source, platform, image)
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != 1:
        found = ", ".join(w.name for w in wheels) or "none"
        raise DependencyError(
            f"building {source.name} in {image} produced {len(wheels)} wheels ({found}), "
            "expected exactly one",
            hint="the build exited 0 but its /out held no single wheel: run again with --debug "
            "to see the build's log",
        )
    return wheels[0]


def _source_inputs(source: Locked, tmp: Path) -> tuple[str, dict[str, Path]]:
    """The argument for `pip wheel` inside the container, and what must be copied in for it
    (container path -> host path)."""
    if source.kind in ("sdist", "archive") and "://" in source.location \
            and not source.location.startswith("file://"):
        fragment = f"#sha256={source.sha256}" if source.sha256 else ""
        if source.subdirectory:
            fragment += ("&" if fragment else "#") + f"subdirectory={source.subdirectory}"
        return source.location + fragment, {}
    if source.kind in ("sdist", "archive"):
        path = Path(source.location.removeprefix("file://"))
        return f"/src/{path.name}", {f"/src/{path.name}": path}
    tree = _checkout(source, tmp) if source.kind == "vcs" else Path(source.location)
    copy = tmp / "tree"
    shutil.copytree(tree, copy, symlinks=True, ignore=_ignore)
    inside = "/src/tree" + (f"/{source.subdirectory}" if source.subdirectory else "")
    return inside, {"/src/tree": copy}


def _checkout(source: Locked, tmp: Path) -> Path:
    """A git checkout of the locked commit, made with the host's git (and its credentials)."""
    dest = tmp / "checkout"
    url = source.location.removeprefix("git+")
    steps: list[list[str | Path]] = [["git", "clone", "--quiet", "--no-checkout", url, dest],
                                     ["git", "-C", dest, "checkout", "--quiet", source.commit]]
    for args in steps:
        result = run(args)
        if result.returncode != 0:
            raise DependencyError(f"{source.name}: cannot check out {redact(url)} at "
                                  f"{source.commit}: {redact(result.stderr.strip())}")
    return dest


def _check_result(result: container.RunResult, source: Locked, platform: Platform,
                  image: str) -> None:
    if result.exit_code == 0:
        return
    if result.exit_code in (_NO_PYTHON, _NO_PIP):
        raise ContainerError(
            f"{image}: {result.stderr.strip()} (needed to build {source.name} for "
            f"{platform.label})",
            hint=f"set [targets.T] build_image (or {IMAGE_ENV}) to an image with Python "
            f"{platform.python_version} and pip for {platform.docker_platform}",
        )
    text = redact(result.stderr.strip() or result.stdout.strip())
    tail = "\n".join("    " + line for line in text.splitlines()[-25:])
    hint = next((h for sign, h in _HINTS.items() if sign in text), None)
    raise DependencyError(
        f"building {source.name} {source.version or ''} from source for {platform.label} in "
        f"{image} failed (exit {result.exit_code}):\n{tail}",
        hint=hint or f"pin a version of {source.name} that publishes a wheel for the target, or "
        "fix the build above (the image is the target's build image)",
    )


def _check_wheel(wheel: Path, source: Locked, platform: Platform,
                 image: str) -> tuple[str, str]:
    """(name, version) of a wheel the build made, refused unless it can run on `platform`."""
    from packaging.version import InvalidVersion, Version  # noqa: PLC0415 - a source build's

    try:
        name, version, _, tags = wheel_name(wheel.name)
        version = str(Version(version))
    except (NotAWheel, InvalidVersion) as e:
        raise DependencyError(f"building {source.name} in {image} made {wheel.name}, "
                              "not a valid wheel name") from e
    if name != source.name:
        raise DependencyError(f"building {source.name} in {image} made a wheel of {name}")
    if not any(_fits(tag, platform) for tag in tags):
        found = ", ".join(sorted(str(t) for t in tags))
        raise DependencyError(
            f"building {source.name} in {image} made {wheel.name} ({found}), which cannot run on "
            f"{platform.label}",
            hint=f"the build image must run Python {platform.python_version} on "
            f"{platform.docker_platform}: check [targets.T] build_image / {IMAGE_ENV}",
        )
    return name, version


def _fits(tag: Tag, platform: Platform) -> bool:
    """Whether a wheel tag runs on the target: its Python (or abi3 below it), Linux, its CPU."""
    want = platform.python
    interpreter = tag.interpreter
    if interpreter.startswith(("cp", "py")) and interpreter[2:].isdigit():
        digits = interpreter[2:]
        version = (int(digits[0]), int(digits[1:] or "0"))
        exact = version == want or (interpreter.startswith("py") and len(digits) == 1
                                    and version[0] == want[0])
        python_ok = exact or (tag.abi == "abi3" and version[0] == want[0] and version <= want)
    else:
        python_ok = False
    linux = tag.platform.startswith(("linux_", "manylinux")) and \
        tag.platform.endswith("_" + platform.machine)
    return python_ok and (tag.platform == "any" or linux)

"""Bytecode for the target, compiled by the target's own Python version (`compile = true`).

A .pyc is only used by the Python version that wrote it (its magic number), so the compiler must be
the target's minor version: a local `pythonX.Y` if there is one, else the target's build image in a
container of the target's platform. The pycs use `--invalidation-mode unchecked-hash`: a
timestamp-based pyc records the source's mtime, and a zip's entries all carry one fixed date, so
on every cold start Python would find them stale, recompile in memory and (on a read-only
filesystem) throw the result away. An unchecked-hash pyc is used as is; the tree is immutable once
shipped, so nothing is lost by not checking.

Files that do not compile for the target (tests written for another Python, templates named .py)
get no pyc, exactly as without `compile = true`.

A dependency tree's bytecode is cached per distribution (`compile_cached`): `pycs/<key>/` holds
the pycs of one distribution's modules, keyed by its content (`dists`), the target's Python
version and the compiler's options. Only the modules of distributions no earlier tree had are
compiled (numpy and pandas: about 6 s in a container), from a scratch tree of links to them
laid out as in the tree, so the bytes are those of a compile in place (`-s` strips the prefix).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from fpack import guest
from fpack.deps import dists
from fpack.deps.cache import Cache
from fpack.deps.keys import sha
from fpack.errors import DependencyError
from fpack.platforms import Platform
from fpack.proc import run

if TYPE_CHECKING:
    pass

_ARGS: Final = ("-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash")
# In the container: the target's Python, found as the build script finds it; the pycs written
# under /out (PYTHONPYCACHEPREFIX), copied back out.
SCRIPT: Final = "compile.sh"  # in fpack/guest/, passed whole to `sh -c`
# compileall exits 1 when some file failed to compile: those simply get no pyc (see above).
_COMPILED: Final = (0, 1)
KIND: Final = "pycs"  # cache entries: one distribution's bytecode for one Python version
_FORMAT: Final = "1"  # bump when the pycs this module writes change for the same sources


def local_python(platform: Platform, which: Callable[[str], str | None] = shutil.which,
                 ) -> str | None:
    """A `pythonX.Y` on PATH that really is the target's version (pyenv shims may point
    elsewhere), or None."""
    found = which(f"python{platform.python_version}")
    if found is None:
        return None
    check = run([found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
    return found if check.returncode == 0 and check.stdout.strip() == platform.python_version \
        else None


def compile_tree(tree: Path, platform: Platform, image: str) -> None:
    """Write unchecked-hash pycs beside every module of `tree`, for `platform`'s Python; a run
    that writes none for a tree with modules is an error, never a quiet success."""
    python = local_python(platform)
    if python is not None:
        result = run([python, *_ARGS, "-s", str(tree), str(tree)])
        _check(result.returncode, result.stdout + result.stderr, f"{python}")
    else:
        _compile_in_container(tree, platform, image)
    modules = sum(1 for _ in tree.rglob("*.py"))
    if modules and not any(tree.rglob("*.pyc")):
        where = python or image
        raise DependencyError(
            f"compile = true: compiling {modules} module(s) with Python "
            f"{platform.python_version} ({where}) reported success but wrote no bytecode",
            hint="run again with --debug; set compile = false to build without bytecode",
        )


def compile_cached(tree: Path, platform: Platform, image: str, cache: Cache) -> int:
    """`compile_tree`, but each distribution's pycs come from the cache when an earlier tree had
    the same distribution; what is compiled now is cached. Returns how many distributions were
    compiled now."""
    parts = dists.split(tree)
    todo: list[tuple[dists.Dist, str]] = []
    for d in parts.dists:
        key = sha("pycs", _FORMAT, platform.python_version, *_ARGS, d.key)
        found = cache.entry(KIND, key)
        if found is None:
            todo.append((d, key))
            continue
        dists.link(found, tree, dists.files(found))
        cache.use(cache.root / KIND / f"{key}.ok")
    sources = [rel for d, _ in todo for rel in d.files if rel.endswith(".py")]
    sources += [rel for rel in parts.loose if rel.endswith(".py")]
    if not sources:
        return len(todo)
    (cache.root / KIND).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache.root / KIND, prefix=".tmp-compile-") as tmp:
        scratch = Path(tmp)
        dists.link(tree, scratch, sources)
        compile_tree(scratch, platform, image)
        compiled = [rel for rel in dists.files(scratch) if rel.endswith(".pyc")]
        for d, key in todo:
            modules = {rel for rel in d.files if rel.endswith(".py")}
            with cache.lock(f"pycs-{key}"):
                if cache.entry(KIND, key) is not None:
                    continue  # another build made it meanwhile; never replace what it may read
                with cache.new_entry(KIND, key) as entry:
                    dists.link(scratch, entry,
                               [rel for rel in compiled if dists.source_of(rel) in modules])
        dists.link(scratch, tree, compiled)
    return len(todo)


def _compile_in_container(tree: Path, platform: Platform, image: str) -> None:
    """The tree copied in to /tree, compiled with PYTHONPYCACHEPREFIX=/out so that only the pycs
    come back (`/out/tree/pkg/mod.cpython-XY.pyc`), each then put where Python looks for it
    (`pkg/__pycache__/`). The bytes are those of a compile in place: `-s /tree` fixes the path
    recorded in them either way. Through the Docker API, so a remote engine compiles the tree,
    not an empty directory."""
    from fpack import container  # noqa: PLC0415 - compile = false never starts a container

    with tempfile.TemporaryDirectory(prefix="fpack-pycs-") as tmp:
        out = Path(tmp)
        outcome = container.run(
            image, ["sh", "-c", guest.text(SCRIPT), "fpack-compile", platform.python_version,
                    f"cp{platform.python[0]}{platform.python[1]}"],
            platform=platform.docker_platform, network=False,
            copy_in={"/tree": tree}, outputs={"/out": out}, output_codes=_COMPILED,
        )
        if outcome.exit_code == 97:
            raise DependencyError(
                f"compile = true: {image} has no Python {platform.python_version}, and there is "
                f"no python{platform.python_version} on PATH",
                hint="install that Python version locally, or set [targets.T] build_image (or "
                "FPACK_BUILD_IMAGE) to an image that has it",
            )
        _check(outcome.exit_code, outcome.stdout + outcome.stderr, image)
        _place(out / "tree", tree)


def _place(prefix: Path, tree: Path) -> None:
    """Each pyc of the PYTHONPYCACHEPREFIX tree moved to its module's `__pycache__/`."""
    if not prefix.is_dir():
        return  # nothing compiled: compile_tree says so
    for pyc in sorted(prefix.rglob("*.pyc")):
        rel = pyc.relative_to(prefix)
        dest = tree / rel.parent / "__pycache__" / rel.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(pyc), dest)


def _check(code: int, output: str, where: str) -> None:
    if code in _COMPILED:
        return
    tail = "\n".join("    " + line for line in output.strip().splitlines()[-15:])
    raise DependencyError(f"compile = true: compiling bytecode with {where} failed "
                          f"(exit {code}):\n{tail}")


def pycs_for(sources: Mapping[str, bytes], platform: Platform, image: str) -> dict[str, bytes]:
    """Unchecked-hash pycs for an artifact's own modules (archive path -> source), by the
    target's Python: archive path of each pyc (`pkg/__pycache__/mod.cpython-XY.pyc`) -> bytes."""
    with tempfile.TemporaryDirectory(prefix="fpack-pyc-") as tmp:
        root = Path(tmp)
        for name, data in sources.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        compile_tree(root, platform, image)
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.pyc")}

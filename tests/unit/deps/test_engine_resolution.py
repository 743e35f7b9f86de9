"""The resolution stages, with a fake uv and a fake builder that declare what they hold: wheels
only when possible, a container build for exactly the packages without a wheel, overrides that
point at the built wheels, and the user's hashes checked before anything is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fpack import inputs
from fpack.deps import builder, resolution, uv
from fpack.deps import spec as dep_spec
from fpack.deps.builder import Built
from fpack.deps.lock import Locked
from fpack.errors import DependencyError
from fpack.inputs import BuildInputs, IndexSettings
from fpack.platforms import RUNTIMES, Platform
from fpack.proc import Result
from fpack.report import NullReporter

PLATFORM = Platform(runtime=RUNTIMES["aws"]["python3.12"], arch="x86_64")
SIX = Locked(name="six", version="1.17.0", kind="wheel", location="https://x/six.whl",
             sha256="a" * 64)
EXT_SDIST = Locked(name="ext", version="1.0", kind="sdist", location="https://x/ext-1.0.tar.gz",
                   sha256="b" * 64)


@dataclass
class FakeUv:
    """Answers: the wheels-only resolution (or the error it raises), the one admitting source,
    and the built packages' entries in the final one."""

    wheels_only: tuple[Locked, ...] | DependencyError
    with_source: tuple[Locked, ...] = ()
    final: tuple[Locked, ...] = ()
    calls: list[dict[str, Any]] = field(default_factory=list)

    def resolve(self, spec: Any, platform: Platform, *, index: IndexSettings,
                refresh: bool = False,
                wheels_only: bool = True, overrides: tuple[str, ...] | list[str] = (),
                requirements: str | None = None, constraints: str = "",
                fresh: object = None) -> uv.Resolution:
        self.calls.append({"wheels_only": wheels_only, "overrides": list(overrides)})
        if not wheels_only:
            return uv.Resolution(text="with source", packages=self.with_source)
        if overrides:
            return uv.Resolution(text="final", packages=(SIX, *self.final))
        if isinstance(self.wheels_only, DependencyError):
            raise self.wheels_only
        return uv.Resolution(text="wheels only", packages=self.wheels_only)


@dataclass
class FakeBuilder:
    root: Path
    built: list[Locked] = field(default_factory=list)

    def build(self, source: Locked, platform: Platform, image: str, inputs: BuildInputs,
              reporter: Any, *, index: Any = ()) -> Built:
        self.built.append(source)
        wheel = self.root / f"{source.name}-{source.version or '0'}-cp312-cp312-linux_x86_64.whl"
        return Built(name=source.name, version=source.version or "0", wheel=wheel, image=image,
                     source=source)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[FakeUv, FakeBuilder]:
    fake_uv = FakeUv(wheels_only=(SIX,))
    fake_builder = FakeBuilder(root=tmp_path / "built")
    monkeypatch.setattr(uv, "resolve", fake_uv.resolve)
    monkeypatch.setattr(builder, "build", fake_builder.build)
    return fake_uv, fake_builder


def resolve(tmp_path: Path, requirements: str = "six\n") -> resolution.Resolved:
    path = tmp_path / "requirements.txt"
    path.write_text(requirements)
    spec = dep_spec.read(path, tmp_path / "fpack.toml")
    build_inputs = inputs.read({"FPACK_CACHE_DIR": str(tmp_path / "cache")})
    return resolution.resolve(spec, PLATFORM, image="img", inputs=build_inputs,
                              reporter=NullReporter())


def test_wheels_for_everything_means_no_build(fakes: tuple[FakeUv, FakeBuilder],
                                              tmp_path: Path) -> None:
    fake_uv, fake_builder = fakes
    assert resolve(tmp_path) == resolution.Resolved(text="wheels only")
    assert fake_uv.calls == [{"wheels_only": True, "overrides": []}]
    assert fake_builder.built == []


def test_a_local_directory_is_built_and_pointed_at_by_an_override(
        fakes: tuple[FakeUv, FakeBuilder], tmp_path: Path) -> None:
    fake_uv, fake_builder = fakes
    (tmp_path / "ext").mkdir()
    (tmp_path / "ext" / "setup.py").write_text("setup()\n")
    local = Locked(name="ext", version=None, kind="directory", location=str(tmp_path / "ext"))
    fake_uv.wheels_only = (SIX, local)
    wheel = tmp_path / "built" / "ext-0-cp312-cp312-linux_x86_64.whl"
    fake_uv.final = (Locked(name="ext", version="1.0", kind="archive", location=str(wheel),
                            sha256="c" * 64),)
    result = resolve(tmp_path, "six\n./ext\n")
    assert fake_builder.built == [local]
    assert fake_uv.calls[-1] == {"wheels_only": True, "overrides": [f"ext @ {wheel.as_uri()}"]}
    assert result == resolution.Resolved(
        text="final", local=((str(tmp_path / "ext"),
                              "tree:" + builder.tree_digest(tmp_path / "ext")),))


def test_a_package_without_wheels_is_found_as_source_then_built(
        fakes: tuple[FakeUv, FakeBuilder], tmp_path: Path) -> None:
    fake_uv, fake_builder = fakes
    fake_uv.wheels_only = uv.NoWheelError("ext has no wheel")
    fake_uv.with_source = (SIX, EXT_SDIST)
    fake_uv.final = (Locked(name="ext", version="1.0", kind="archive", location="/w.whl",
                            sha256="c" * 64),)
    assert resolve(tmp_path, "six\next\n").text == "final"
    assert [c["wheels_only"] for c in fake_uv.calls] == [True, False, True]
    assert fake_builder.built == [EXT_SDIST]


def test_when_source_changes_nothing_the_wheels_only_error_stands(
        fakes: tuple[FakeUv, FakeBuilder], tmp_path: Path) -> None:
    fake_uv, _ = fakes
    fake_uv.wheels_only = uv.NoWheelError("ext has no wheel for python3.12")
    fake_uv.with_source = (SIX,)
    with pytest.raises(uv.NoWheelError) as e:
        resolve(tmp_path)
    assert e.value.message == "ext has no wheel for python3.12"


def test_a_source_refused_by_the_hashes_is_never_built(fakes: tuple[FakeUv, FakeBuilder],
                                                       tmp_path: Path) -> None:
    fake_uv, fake_builder = fakes
    fake_uv.wheels_only = uv.NoWheelError("ext has no wheel")
    fake_uv.with_source = (EXT_SDIST,)
    with pytest.raises(DependencyError) as e:
        resolve(tmp_path, f"ext==1.0 --hash=sha256:{'d' * 64}\n")
    assert "ext 1.0: the file chosen for python3.12 x86_64" in e.value.message
    assert fake_builder.built == []


def test_a_build_is_checked_by_its_source_hash_and_the_rest_by_their_wheels(
        fakes: tuple[FakeUv, FakeBuilder], tmp_path: Path) -> None:
    fake_uv, fake_builder = fakes
    fake_uv.wheels_only = uv.NoWheelError("ext has no wheel")
    fake_uv.with_source = (SIX, EXT_SDIST)
    fake_uv.final = (Locked(name="ext", version="1.0", kind="archive", location="/w.whl",
                            sha256="c" * 64),)
    hashed = f"six==1.17.0 --hash=sha256:{'a' * 64}\next==1.0 --hash=sha256:{'b' * 64}\n"
    assert resolve(tmp_path, hashed).text == "final"
    assert fake_builder.built == [EXT_SDIST]


UV_013_NO_WHEEL = """error: No solution found when resolving dependencies
  cause: Because all versions of mkl have no wheels with a matching platform tag (e.g., \
`manylinux_2_34_aarch64`) and you require mkl, we can conclude that your requirements are \
unsatisfiable.

hint: Wheels are available for `mkl` (v2026.2.0) on the following platforms: \
`manylinux_2_28_x86_64`, `win_amd64`
"""


@pytest.mark.parametrize("stderr", [
    UV_013_NO_WHEEL,
    "  cause: Because mkl==1.0 has no usable wheels and you require mkl==1.0, we can conclude",
])
def test_both_of_uvs_no_wheel_wordings_name_the_package(stderr: str) -> None:
    """uv 0.13 says "all versions of X have no wheels with a matching platform tag" when X has
    no source either; both wordings must give the NoWheelError that names X (and that the
    engine's container-build fallback and `fpack check` recognise)."""
    arm = Platform(runtime=RUNTIMES["aws"]["python3.12"], arch="arm64")
    with pytest.raises(uv.NoWheelError) as e:
        uv._check(Result(args=(), returncode=1, stdout="", stderr=stderr), "resolving", None, arm)
    assert e.value.message.startswith("mkl has no wheel for python3.12 arm64")
    if stderr is UV_013_NO_WHEEL:
        assert e.value.message.endswith("; its wheels are for manylinux_2_28_x86_64, win_amd64")
    assert uv.NO_WHEEL.search(str(e.value)) is not None  # what fpack check matches

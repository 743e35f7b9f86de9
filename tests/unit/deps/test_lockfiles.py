"""Other tools' locks as what uv resolves: pins, markers, hashes, groups, staleness, refusals.

The files under `locks/` were written by the real tools (Poetry 2.5.1, PDM 2.29.3, pipenv
2026.10.3, `uv export --format pylock.toml` 0.13.9) for one small project: six==1.15.0,
attrs==22.1.0, idna==3.4, colorama on Windows only, a `socks` extra and a `dev` group.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import tomllib

from fpack import config
from fpack.checks import locks
from fpack.deps import hashes, lockfiles, poetry, uv
from fpack.deps import spec as dep_spec
from fpack.deps.lock import Locked
from fpack.errors import ConfigError, DependencyError

LOCKS = Path(__file__).parent / "locks"
SIX = ("--hash=sha256:30639c035cdb23534cd4aa2dd52c3bf48f06e5f4a941509c8bafd8ce11080259 "
       "--hash=sha256:8b74bedcbbbaca38ff6d7491d76f2b06b3592611af620f8426e82dddb04a5ced")
ATTRS = ("--hash=sha256:29adc2665447e5191d0e7c568fde78b21f9672d344281d0c6e1ab085429b22b6 "
         "--hash=sha256:86efa402f67bf2df34f51a335487cf46b1ec130d02b8d39fd248abfd30da551c")
IDNA = ("--hash=sha256:814f528e8dead7d329833b91c5faa87d60bf71824cd12a7530b5526063d02cb4 "
        "--hash=sha256:90b77e79eaa3eba6de819a0c442c0b4ceefc341a7a2ab77d7562bf49f425c5c2")
COLORAMA = ("--hash=sha256:08695f5cb7ed6e0531a20572697297273c47b8cae5a63ffc6d6ed5c201be6e44 "
            "--hash=sha256:4f1d9991f5acc0ca119f9d443620b77f9d6b33703e51011c16baf57afb285fc6")


def project(tmp_path: Path, name: str, groups: str = "") -> Path:
    shutil.copytree(LOCKS / name, tmp_path, dirs_exist_ok=True)
    (tmp_path / "fpack.toml").write_text(
        f'[project]\nname = "demo"\n{groups}\n[functions.hello]\nhandler = "app:hello"\n')
    return tmp_path


def spec_of(root: Path) -> dep_spec.DependencySpec:
    found = config.load(root / "fpack.toml").dependencies
    return dep_spec.read(found, root / "fpack.toml")


# --- pins and markers ----------------------------------------------------------------------------


def test_pdm_lock_pins_its_default_group_with_markers_and_hashes(tmp_path: Path) -> None:
    spec = spec_of(project(tmp_path, "pdm"))
    assert (spec.kind, spec.path, [Path(f).name for f, _ in spec.files]) == (
        "pdm", tmp_path / "pdm.lock", ["pdm.lock", "pyproject.toml"])
    assert uv.derived(spec) == ("".join([
        f"attrs==22.1.0 {ATTRS}\n",
        f'colorama==0.4.6 ; sys_platform == "win32" {COLORAMA}\n',
        f"idna==3.4 {IDNA}\n",
        f"six==1.15.0 {SIX}\n"]), "")


def test_pdm_groups_add_theirs_and_an_unlocked_group_is_refused(tmp_path: Path) -> None:
    spec = spec_of(project(tmp_path, "pdm", 'groups = ["dev"]'))
    requirements, _ = uv.derived(spec)
    assert requirements is not None and "iniconfig==2.1.0 --hash" in requirements
    assert spec.groups == ("dev",) and spec.key() != spec_of(project(tmp_path, "pdm")).key()
    with pytest.raises(ConfigError) as e:
        spec_of(project(tmp_path, "pdm", 'groups = ["socks"]'))
    assert str(e.value) == (
        f"{tmp_path}/pdm.lock: [project] groups names 'socks', which the lock does not have (it "
        'has: "default", "dev")\n'
        "  hint: add the group to pyproject.toml and run `pdm lock -G :all`, or correct "
        "[project] groups in fpack.toml")


def test_a_pdm_lock_without_per_package_groups_cannot_be_used(tmp_path: Path) -> None:
    root = project(tmp_path, "pdm")
    lock = root / "pdm.lock"
    lock.write_text(lock.read_text().replace('groups = ["default"]\n', ""))
    with pytest.raises(ConfigError) as e:
        spec_of(root)
    assert str(e.value) == (
        f"{lock}: written without PDM's inherit_metadata strategy, so its packages carry no "
        "groups and markers, and fpack cannot tell which of them the target needs\n"
        "  hint: run `pdm lock --strategy inherit_metadata` (PDM's default since 2.11)")


def test_pylock_pins_every_package_and_both_versions_of_a_split_one(tmp_path: Path) -> None:
    spec = spec_of(project(tmp_path, "pylock"))
    assert spec.kind == "pylock"
    requirements, constraints = uv.derived(spec)
    assert constraints == "" and requirements is not None
    assert requirements.splitlines()[:2] == [
        f"attrs==22.1.0 {ATTRS}", f"colorama==0.4.6 ; sys_platform == 'win32' {COLORAMA}"]
    assert [line.split(" --hash")[0] for line in requirements.splitlines()[3:5]] == [
        "iniconfig==2.1.0 ; python_full_version < '3.10'",
        "iniconfig==2.3.1 ; python_full_version >= '3.10'"]


def test_pep_751_extras_and_groups_are_decided_in_markers() -> None:
    extras, groups = frozenset({"socks"}), frozenset({"dev"})
    assert lockfiles.lock_marker("'socks' in extras", extras, groups) == ""
    assert lockfiles.lock_marker("'docs' in extras", extras, groups) is None
    assert lockfiles.lock_marker(
        "'dev' in dependency_groups and python_version < '3.12'", extras, groups) == \
        'python_version < "3.12"'
    assert lockfiles.lock_marker(
        "('docs' in extras or sys_platform == 'linux') and 'test' not in dependency_groups",
        extras, groups) == 'sys_platform == "linux"'
    assert lockfiles.lock_marker("sys_platform == 'win32'", extras, groups) == \
        "sys_platform == 'win32'"


def test_pylock_names_and_its_version(tmp_path: Path) -> None:
    assert [lockfiles.is_lock(Path(n)) for n in (
        "pylock.toml", "pylock.prod.toml", "pylock.a.b.toml", "pylock..toml", "poetry.lock")] == [
        True, True, False, False, True]
    root = project(tmp_path, "pylock")
    (root / "pylock.toml").rename(root / "pylock.prod.toml")
    (root / "uv.lock").unlink(missing_ok=True)
    lock = root / "pylock.prod.toml"
    lock.write_text(lock.read_text().replace('lock-version = "1.0"', 'lock-version = "2.0"'))
    with pytest.raises(ConfigError) as e:
        spec_of(root)
    assert str(e.value) == (
        f"{lock}: lock-version = \"2.0\": fpack reads PEP 751's lock-version 1\n"
        "  hint: run `uv export --format pylock.toml -o pylock.toml` to write it again")


def test_pipfile_lock_pins_default_and_leaves_an_unresolved_entry_unpinned(
        tmp_path: Path) -> None:
    spec = spec_of(project(tmp_path, "pipenv"))
    assert (spec.kind, [Path(f).name for f, _ in spec.files]) == (
        "pipfile", ["Pipfile.lock", "Pipfile"])
    requirements, _ = uv.derived(spec)
    assert requirements is not None and requirements.splitlines() == [
        f"attrs==22.1.0 ; python_version >= '3.5' {ATTRS}",
        "colorama ; sys_platform == 'win32'",  # pipenv locked it nowhere: the pin check refuses it
        f"idna==3.4 ; python_version >= '3.5' {IDNA}",
        "six==1.15.0 ; python_version >= '2.7' and python_version != '3.0' and python_version "
        f"!= '3.1' and python_version != '3.2' {SIX}"]
    develop, _ = uv.derived(spec_of(project(tmp_path, "pipenv", 'groups = ["develop"]')))
    assert develop is not None and "iniconfig==2.3.1 ; python_version >= '3.10'" in develop


def test_poetry_lock_constrains_the_project_requirements_with_groups_and_extras(
        tmp_path: Path) -> None:
    spec = spec_of(project(tmp_path, "poetry1"))
    assert (spec.kind, spec.path) == ("poetry", tmp_path / "poetry.lock")
    assert uv.derived(spec) == (
        "six==1.15.0\nattrs==22.1.0\nidna==3.4\n",
        "attrs==22.1.0\nidna==3.4\niniconfig==2.1.0\npysocks==1.7.1\nsix==1.15.0\n")
    grouped = spec_of(project(tmp_path, "poetry1", 'groups = ["dev", "socks"]'))
    assert uv.derived(grouped)[0] == \
        "six==1.15.0\nattrs==22.1.0\nidna==3.4\niniconfig\npysocks==1.7.1\n"
    two = spec_of(project(tmp_path / "two", "poetry2", 'groups = ["socks"]'))
    assert uv.derived(two)[0] == ('six==1.15.0\nattrs==22.1.0\nidna==3.4\n'
                                  "colorama; sys_platform == 'win32'\npysocks==1.7.1\n")


def test_a_poetry_1_1_lock_keeps_its_hashes_under_metadata_files(tmp_path: Path) -> None:
    lock = tmp_path / "poetry.lock"
    text = ('[[package]]\nname = "six"\nversion = "1.15.0"\ncategory = "main"\n'
            '[[package]]\nname = "Six"\nversion = "1.16.0"\ncategory = "main"\n'
            '[metadata]\nlock-version = "1.1"\ncontent-hash = "x"\n'
            '[metadata.files]\nsix = [{file = "six.whl", hash = "sha256:AA"}]\n')
    assert poetry.pins(text, lock) == ({"six": frozenset({"1.15.0", "1.16.0"})},
                                       {"six": frozenset({"aa"})})
    # Two versions without markers: no constraint; the pin check allows either.
    assert poetry.constraints(text, lock) == ""


# --- hashes and pins ------------------------------------------------------------------------------


def wheel(name: str, version: str, sha: str) -> Locked:
    return Locked(name=name, version=version, kind="wheel", location=f"https://x/{name}.whl",
                  sha256=sha)


def test_the_resolution_may_not_leave_the_lock(tmp_path: Path) -> None:
    spec = spec_of(project(tmp_path, "poetry1"))
    rules = lockfiles.policy(spec.path, spec.groups)  # type: ignore[arg-type]
    six = "8b74bedcbbbaca38ff6d7491d76f2b06b3592611af620f8426e82dddb04a5ced"
    hashes.verify(rules, [wheel("six", "1.15.0", six)], "for aws")
    with pytest.raises(DependencyError) as e:
        hashes.verify(rules, [wheel("six", "1.16.0", six)], "for aws python3.11 x86_64")
    assert str(e.value) == (
        f"{tmp_path}/poetry.lock: six: the lock pins 1.15.0, and the resolution for aws "
        "python3.11 x86_64 chose 1.16.0\n  hint: run `poetry lock`, then build again")
    with pytest.raises(DependencyError) as e:
        hashes.verify(rules, [wheel("urllib3", "2.0", six)], "for aws")
    assert str(e.value) == (
        f"{tmp_path}/poetry.lock: urllib3 2.0 is needed for aws, and the lock does not pin it\n"
        "  hint: run `poetry lock`, then build again (the lock was written for another "
        "platform, or before this requirement)")
    with pytest.raises(DependencyError) as e:
        hashes.verify(rules, [wheel("six", "1.15.0", "f" * 64)], "for aws")
    assert str(e.value) == (
        f"{tmp_path}/poetry.lock: six 1.15.0: the file chosen for aws (six.whl, sha256:"
        f"{'f' * 64}) matches none of the 2 hash(es) given for it\n"
        "  hint: run `poetry lock` to lock the files the index has now")


# --- staleness ------------------------------------------------------------------------------------


def fp503(root: Path) -> list[str]:
    return [p.render(root) for p in locks.check(spec_of(root))]


def test_fresh_locks_written_by_the_tools_pass(tmp_path: Path) -> None:
    for name in ("poetry1", "poetry2", "pdm", "pylock", "pipenv"):
        assert fp503(project(tmp_path / name, name)) == [], name


def test_each_tool_s_hash_is_reproduced() -> None:

    import tomllib

    def toml(path: Path) -> dict:  # type: ignore[type-arg]
        return tomllib.loads(path.read_text())

    for name in ("poetry1", "poetry2"):
        assert poetry.content_hash(toml(LOCKS / name / "pyproject.toml")) == \
            toml(LOCKS / name / "poetry.lock")["metadata"]["content-hash"]
    assert lockfiles.pdm_content_hash(toml(LOCKS / "pdm/pyproject.toml")) == \
        toml(LOCKS / "pdm/pdm.lock")["metadata"]["content_hash"]
    assert json.loads((LOCKS / "pipenv/Pipfile.lock").read_text())["_meta"]["hash"]["sha256"] \
        == lockfiles.pipfile_hashes(toml(LOCKS / "pipenv/Pipfile"))[0]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_stale_locks_are_reported_with_the_command_that_refreshes_them(tmp_path: Path) -> None:
    root = project(tmp_path / "p", "poetry1")
    edit(root / "pyproject.toml", 'idna = "3.4"', 'idna = "3.5"')
    assert fp503(root) == [
        "pyproject.toml:1: FP503 poetry.lock is out of date with pyproject.toml (its content-hash "
        "is not pyproject.toml's: dependencies, groups, extras or sources changed since it was "
        "written); run `poetry lock`"]
    root = project(tmp_path / "d", "pdm")
    edit(root / "pyproject.toml", '"idna==3.4"', '"idna==3.5"')
    assert fp503(root) == [
        "pyproject.toml:1: FP503 pdm.lock is out of date with pyproject.toml (its content_hash "
        "is not pyproject.toml's: dependencies, groups, sources or requires-python changed since "
        "it was written); run `pdm lock`"]
    root = project(tmp_path / "e", "pipenv")
    edit(root / "Pipfile", 'IDNA = "==3.4"', 'IDNA = "==3.5"')
    assert fp503(root) == [
        "Pipfile:1: FP503 Pipfile.lock is out of date with Pipfile (its _meta hash is not the "
        "Pipfile's: packages, sources or requires changed); run `pipenv lock`"]
    root = project(tmp_path / "l", "pylock")
    edit(root / "pyproject.toml", '"idna==3.4"', '"idna>=3.5", "requests"')
    assert fp503(root) == [
        "pyproject.toml:1: FP503 pylock.toml is out of date with pyproject.toml (pylock.toml "
        "pins idna==3.4, outside idna>=3.5); run `uv export --format pylock.toml -o "
        "pylock.toml`"]


def test_a_stale_lock_stops_the_build_with_the_command(tmp_path: Path) -> None:
    root = project(tmp_path, "pipenv")
    edit(root / "Pipfile", 'IDNA = "==3.4"', 'IDNA = "==3.5"')
    with pytest.raises(ConfigError) as e:
        lockfiles.policy(root / "Pipfile.lock")
    assert str(e.value) == (
        f"{root}/Pipfile.lock is out of date with Pipfile (its _meta hash is not the Pipfile's: "
        "packages, sources or requires changed)\n"
        f"  hint: run `pipenv lock` in {root}, then build again")
    assert e.value.exit_code == 2


def test_a_poetry_lock_before_2_3_may_hash_without_dependency_groups(tmp_path: Path) -> None:
    root = project(tmp_path, "poetry2")
    lock = root / "poetry.lock"
    old = poetry.content_hash(tomllib.loads((root / "pyproject.toml").read_text()),
                              with_dependency_groups=False)
    text = lock.read_text()
    recorded = tomllib.loads(text)["metadata"]["content-hash"]
    lock.write_text(text.replace(recorded, old))
    assert fp503(root) != []  # written by Poetry 2.5.1: the groups count
    lock.write_text(text.replace(recorded, old).replace("Poetry 2.5.1", "Poetry 2.2.0"))
    assert fp503(root) == []


# --- finding locks --------------------------------------------------------------------------------


def test_two_locks_are_refused_until_one_is_named(tmp_path: Path) -> None:
    root = project(tmp_path, "pdm")
    shutil.copy(LOCKS / "pylock/pylock.toml", root / "pylock.toml")
    with pytest.raises(ConfigError) as e:
        config.load(root / "fpack.toml")
    assert str(e.value) == (
        f"{root}: 2 lock files (pdm.lock, pylock.toml): fpack cannot tell which one the "
        "dependencies come from\n"
        '  hint: name one in fpack.toml, e.g. dependencies = "pdm.lock" in [project] (or in the '
        "function's table), or delete the others")
    (root / "fpack.toml").write_text('[project]\ndependencies = "pylock.toml"\n'
                                     '[functions.hello]\nhandler = "app:hello"\n')
    assert spec_of(root).kind == "pylock"


def test_a_pyproject_named_with_a_lock_beside_it_is_read_through_the_lock(tmp_path: Path) -> None:
    root = project(tmp_path, "pylock")
    spec = dep_spec.read(root / "pyproject.toml", root / "fpack.toml")
    assert (spec.kind, spec.path) == ("pylock", root / "pylock.toml")


def test_a_poetry_lock_is_found_through_its_pyproject(tmp_path: Path) -> None:
    root = project(tmp_path, "poetry2")
    assert config.load(root / "fpack.toml").dependencies == root / "pyproject.toml"
    (root / "pyproject.toml").unlink()
    with pytest.raises(ConfigError) as e:
        spec_of(root)
    assert str(e.value) == (
        f"{root}/poetry.lock: no pyproject.toml beside it: Poetry reads the two together\n"
        "  hint: restore pyproject.toml, or point `dependencies` in fpack.toml at another "
        "dependency file")


def test_groups_must_be_a_list_of_strings(tmp_path: Path) -> None:
    root = project(tmp_path, "pdm", "groups = \"dev\"")
    with pytest.raises(ConfigError) as e:
        config.load(root / "fpack.toml")
    assert str(e.value) == \
        f'{root}/fpack.toml: [project] groups = "dev": expected a list of strings.'
    assert config.load(project(tmp_path, "pdm", 'groups = ["dev"]') / "fpack.toml").groups == (
        "dev",)

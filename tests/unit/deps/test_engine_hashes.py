"""--hash / --require-hashes: what a requirements file asks, and the check (whole messages)."""

from __future__ import annotations

import pytest

from fpack.deps.hashes import HashPolicy, logical_lines, policy, verify
from fpack.deps.lock import Locked
from fpack.errors import DependencyError

A, B, C = "a" * 64, "b" * 64, "c" * 64


def wheel(name: str, sha: str, version: str = "1.0") -> Locked:
    return Locked(name=name, version=version, kind="wheel", location=f"https://x/{name}.whl",
                  sha256=sha)


def test_logical_lines_join_continuations_and_drop_comments() -> None:
    text = "# top\nsix==1.0 \\\n    --hash=sha256:aa  # pinned\n\n-r base.txt\nurl#egg=x\n"
    assert logical_lines(text) == ["six==1.0      --hash=sha256:aa", "-r base.txt", "url#egg=x"]


def test_policy_collects_sha256_hashes_per_canonical_name() -> None:
    rules = policy("req.txt", [
        f"Six==1.0 --hash=sha256:{A} \\\n  --hash=sha256:{B}\n",
        f'typing_extensions==4 ; python_version < "3.12" --hash sha256:{C} --hash=md5:ff\n',
    ])
    assert rules == HashPolicy(source="req.txt", required=True,
                               allowed={"six": frozenset({A, B}),
                                        "typing-extensions": frozenset({C})})


def test_require_hashes_alone_turns_checking_on() -> None:
    assert policy("r", ["--require-hashes\nsix\n"]) == HashPolicy(source="r", required=True)
    assert policy("r", ["six\n-r other.txt\n"]) == HashPolicy(source="r")


def test_matching_files_pass_and_directories_are_let_through() -> None:
    rules = policy("r", [f"six==1.0 --hash=sha256:{A}\n"])
    local = Locked(name="mine", version=None, kind="directory", location="/src/mine")
    verify(rules, [wheel("six", A), local], "for py")
    verify(HashPolicy(source="r"), [wheel("anything", C)], "for py")


def test_a_file_matching_none_of_its_hashes_is_refused() -> None:
    rules = policy("/p/requirements.txt", [f"six==1.0 --hash=sha256:{A}\n"])
    with pytest.raises(DependencyError) as e:
        verify(rules, [wheel("six", B)], "for python3.12 x86_64")
    assert str(e.value) == (
        "/p/requirements.txt: six 1.0: the file chosen for python3.12 x86_64 (six.whl, "
        f"sha256:{B}) matches none of the 1 hash(es) given for it\n"
        "  hint: add the hash of that file (`uv pip compile --generate-hashes --python-platform "
        "...` for the target lists it), or remove the --hash options of six")


def test_hash_checking_mode_needs_a_hash_for_every_package() -> None:
    rules = policy("/p/requirements.txt", [f"six==1.0 --hash=sha256:{A}\n"])
    with pytest.raises(DependencyError) as e:
        verify(rules, [wheel("six", A), wheel("idna", B, "3.10")], "for py")
    assert str(e.value) == (
        "/p/requirements.txt: hash-checking mode is on (--require-hashes, or a --hash option on a "
        "requirement), but idna 3.10 has no --hash\n"
        "  hint: pin every package, dependencies included, with the hashes of its files "
        "(`uv pip compile --generate-hashes` writes them), or drop every --hash option")

"""Project and wheel file names read as packaging reads them (fpack/deps/names.py), without
importing packaging.tags on the way to every build."""

from __future__ import annotations

import pytest
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from fpack.deps import names

REAL = (
    "pydantic_core-2.33.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "numpy-2.2.6-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
    "requests-2.32.3-py3-none-any.whl",
    "six-1.16.0-py2.py3-none-any.whl",
    "charset_normalizer-3.4.2-cp39-cp39-musllinux_1_2_x86_64.whl",
    "cryptography-44.0.0-cp39-abi3-manylinux_2_28_x86_64.whl",
    "watchdog-6.0.0-py3-none-manylinux2014_x86_64.whl",
    "simplejson-3.19.3-cp311-cp311-macosx_11_0_arm64.whl",
    "Pillow-10.4.0-cp311-cp311-win_amd64.whl",
    "zope.interface-7.2-cp311-cp311-manylinux_2_5_x86_64.manylinux1_x86_64.whl",
    "backports.zoneinfo-0.2.1-cp38-cp38-manylinux1_x86_64.whl",
    "typing_extensions-4.12.2-py3-none-any.whl",
    "example-1.0-1build-py3-none-any.whl",  # a build tag
    "example-1.0rc1.post2.dev3-py3-none-any.whl",
    "Example_Pkg-01.00-PY3-None-ANY.whl",  # upper case, an unnormalized version
)


@pytest.mark.parametrize("filename", REAL)
def test_a_wheel_name_reads_as_packaging_reads_it(filename: str) -> None:
    name, version, build, tags = parse_wheel_filename(filename)
    ours = names.wheel_name(filename)
    assert ours.name == name
    assert Version(ours.version) == version
    assert ours.build == "".join(map(str, build))
    assert {str(t) for t in ours.tags} == {str(t) for t in tags}
    assert {(t.interpreter, t.abi, t.platform) for t in ours.tags} == \
        {(t.interpreter, t.abi, t.platform) for t in tags}


@pytest.mark.parametrize("filename", [
    "requests-2.32.3.tar.gz",  # not a wheel
    "requests-py3-none-any.whl",  # no version
    "requests-2.32.3-1-2-py3-none-any.whl",  # too many parts
    "bad__name-1.0-py3-none-any.whl",
    "example-1.0-build-py3-none-any.whl",  # a build tag starts with a digit
    "example-1.0-py3.-none-any.whl",  # an empty member of a tag set
])
def test_what_packaging_refuses_is_not_a_wheel(filename: str) -> None:
    with pytest.raises(InvalidWheelFilename):
        parse_wheel_filename(filename)
    with pytest.raises(names.NotAWheel, match=filename.replace(".", r"\.")):
        names.wheel_name(filename)


@pytest.mark.parametrize("name", ["Django", "oslo.concurrency", "Foo__Bar-.baz", "zope_interface",
                                  "typing-extensions", "A.B_C-D"])
def test_canonical_names_are_packagings(name: str) -> None:
    assert names.canonical(name) == canonicalize_name(name)


def test_a_tag_prints_as_packagings() -> None:
    assert str(names.Tag("cp311", "abi3", "manylinux_2_17_x86_64")) == \
        "cp311-abi3-manylinux_2_17_x86_64"


@pytest.mark.parametrize(("a", "b", "same"), [
    ("2.33.2", "2.33.2", True), ("1.0-rc1", "1.0rc1", True), ("1.0", "1.0.0", True),
    ("1.0.post1", "1.0-1", True), ("1.0", "1.1", False), ("not a version", "1.0", False)])
def test_versions_are_the_same_as_pep_440_says(a: str, b: str, same: bool) -> None:
    assert names.same_version(a, b) is same

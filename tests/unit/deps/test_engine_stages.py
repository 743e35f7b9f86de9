"""Engine stages without uv or Docker: target settings, the health of a cached lock (local sources
re-checked), installer records scrubbed of this machine, pins marked with where they came from,
index options read out of requirements files, and which Python compiles bytecode."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

from fpack import config
from fpack.deps import builder, bytecode, dists, engine
from fpack.deps import settings as dep_settings
from fpack.deps import spec as dep_spec
from fpack.deps.cache import Cache
from fpack.deps.lock import Locked
from fpack.platforms import RUNTIMES, Platform


def test_settings_come_from_the_target_table(tmp_path: Path) -> None:
    (tmp_path / "fpack.toml").write_text(textwrap.dedent("""\
        [functions.f]
        handler = "app:f"

        [targets.aws]
        compile = true
        build_image = "mirror/sam-build:3.12"

        [targets.docker]
        compile = false
    """))
    (tmp_path / "app.py").write_text("def f(request):\n    return None\n")
    project = config.load(tmp_path / "fpack.toml")
    assert dep_settings.settings_for(project, "aws") == dep_settings.Settings(
        build_image="mirror/sam-build:3.12", compile=True)
    assert dep_settings.settings_for(project, "gcp") == dep_settings.Settings()
    assert dep_settings.settings_for(project, "docker") == dep_settings.Settings()


def _lock_with_local(cache: Cache, source: Path, wheel: Path) -> Path:
    text = (f'[[packages]]\nname = "ext"\nversion = "1.0"\n'
            f'archive = {{ path = "{wheel}", hashes = {{ sha256 = "aa" }} }}\n')
    local = [{"path": str(source), "digest": "tree:" + builder.tree_digest(source)}]
    cache.write_file("resolve", "pylock.k", ".local.json", json.dumps(local).encode())
    return cache.write_file("resolve", "pylock.k", ".toml", text.encode())


def test_a_cached_lock_is_stale_once_a_local_source_or_its_wheel_changed(tmp_path: Path) -> None:
    source = tmp_path / "ext"
    source.mkdir()
    (source / "ext.c").write_text("int x;\n")
    wheel = tmp_path / "ext-1.0-cp312-cp312-linux_x86_64.whl"
    wheel.write_bytes(b"PK")
    lock = _lock_with_local(Cache(tmp_path / "cache"), source, wheel)
    assert engine._healthy(lock)
    (source / "build").mkdir()  # build output does not count
    assert engine._healthy(lock)
    (source / "ext.c").write_text("int y;\n")
    assert not engine._healthy(lock)
    (source / "ext.c").write_text("int x;\n")
    wheel.unlink()
    assert not engine._healthy(lock)


def test_installer_records_naming_this_machine_are_dropped_from_record(tmp_path: Path) -> None:
    info = tmp_path / "ext-1.0.dist-info"
    info.mkdir()
    (info / "direct_url.json").write_text('{"url":"file:///home/me/.cache/fpack/built/k/x.whl"}')
    (info / "uv_cache.json").write_text('{"timestamp":{"secs_since_epoch":1}}')
    (info / "METADATA").write_text("Name: ext\n")
    (tmp_path / "ext.so").write_bytes(b"\x7fELF")
    (info / "RECORD").write_text(
        "ext-1.0.dist-info/METADATA,sha256=x,10\n"
        "ext-1.0.dist-info/direct_url.json,sha256=y,20\n"
        "ext-1.0.dist-info/uv_cache.json,sha256=z,30\n"
        "ext.so,sha256=w,40\n")
    remote = tmp_path / "six-1.0.dist-info"
    remote.mkdir()
    (remote / "direct_url.json").write_text('{"url":"https://files.example/six.whl"}')
    (remote / "RECORD").write_text("six-1.0.dist-info/direct_url.json,,\n")
    dists.clean(tmp_path)
    assert sorted(p.name for p in info.iterdir()) == ["METADATA", "RECORD"]
    assert (info / "RECORD").read_text() == (
        "ext-1.0.dist-info/METADATA,sha256=x,10\next.so,sha256=w,40\n")
    assert (remote / "direct_url.json").is_file()  # a URL, the same on every machine


def test_pins_say_where_each_wheel_came_from(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    source = Locked(name="ext", version="1.0", kind="sdist", location="https://x/ext.tar.gz",
                    sha256="b" * 64)
    with cache.new_entry(builder.KIND, "k1") as entry:
        (entry / "ext-1.0-cp312-cp312-linux_x86_64.whl").write_bytes(b"PK")
        (entry / builder.META).write_text(json.dumps({
            "name": "ext", "version": "1.0", "image": "lab/build:3.12",
            "wheel": "ext-1.0-cp312-cp312-linux_x86_64.whl",
            "source": dataclasses.asdict(source)}))
    built = tmp_path / "built" / "k1" / "ext-1.0-cp312-cp312-linux_x86_64.whl"
    locked = (
        Locked(name="ext", version="1.0", kind="archive", location=str(built), sha256="c" * 64),
        Locked(name="six", version="1.17.0", kind="wheel", location="https://x/six-1.17.0.whl",
               sha256="a" * 64),
        Locked(name="direct", version="2", kind="archive", location="https://x/direct-2.whl",
               sha256="d" * 64),
    )
    pins = engine._pins(locked, cache)
    assert {k: v["source"] for k, v in pins.items()} == {
        "ext": "built in lab/build:3.12", "six": "index", "direct": "url"}
    assert pins["ext"] == {"version": "1.0", "wheel": "ext-1.0-cp312-cp312-linux_x86_64.whl",
                           "sha256": "c" * 64, "source": "built in lab/build:3.12"}


def test_index_options_are_read_from_every_included_file(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("--extra-index-url https://${TOKEN}@extra.example/simple\n")
    (tmp_path / "requirements.txt").write_text("-i https://main.example/simple\n-r base.txt\nsix\n")
    spec = dep_spec.read(tmp_path / "requirements.txt", tmp_path / "fpack.toml")
    assert dep_spec.index_options(spec, {"TOKEN": "t0k"}) == (
        "--index-url", "https://main.example/simple",
        "--extra-index-url", "https://t0k@extra.example/simple")
    lock = tmp_path / "uv.lock"
    lock.write_text("version = 1\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert dep_spec.index_options(dep_spec.read(lock, tmp_path / "fpack.toml"), {}) == ()


def test_no_local_python_of_the_target_version_means_the_container() -> None:
    platform = Platform(runtime=RUNTIMES["aws"]["python3.13"], arch="x86_64")
    assert bytecode.local_python(platform, which=lambda name: None) is None

"""What the dependency lab tests serve and build: packages made on the spot, a PEP 503 index on
loopback (HTTP or HTTPS, optionally behind basic auth), a CONNECT proxy, and a CA made by the test.

Everything listens on 127.0.0.1 only and stops with its `with` block. The index records each
request's path and User-Agent, so a test can tell the host's uv (`uv/...`) from the build
container's pip (`pip/...`).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import html
import http.server
import ipaddress
import select
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

C_SOURCE = textwrap.dedent("""\
    #include <Python.h>
    #include <string.h>

    static PyObject *add(PyObject *self, PyObject *args) {
        long a, b;
        if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
        return PyLong_FromLong(a + b);
    }
    %(extra)s
    static PyMethodDef methods[] = {
        {"add", add, METH_VARARGS, "a + b, in C"},
        %(extra_def)s
        {NULL, NULL, 0, NULL}};
    static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "%(module)s", NULL, -1, methods};
    PyMODINIT_FUNC PyInit_%(module)s(void) { return PyModule_Create(&module); }
""")
# strlcpy arrived in glibc 2.38: an object that calls it needs GLIBC_2.38.
STRLCPY = textwrap.dedent("""\
    static PyObject *copy(PyObject *self, PyObject *args) {
        const char *text;
        char buffer[64];
        if (!PyArg_ParseTuple(args, "s", &text)) return NULL;
        strlcpy(buffer, text, sizeof buffer);
        return PyUnicode_FromString(buffer);
    }
""")


def c_package(dest: Path, name: str, *, strlcpy: bool = False, version: str = "1.0",
              dependencies: tuple[str, ...] = ()) -> Path:
    """A setuptools project with one C extension module (the name with "_" for "-")."""
    module = name.replace("-", "_")
    (dest / "src").mkdir(parents=True)
    deps = ", ".join(f'"{d}"' for d in dependencies)
    (dest / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name}"
        version = "{version}"
        dependencies = [{deps}]
    """))
    (dest / "setup.py").write_text(
        "from setuptools import Extension, setup\n\n"
        f'setup(ext_modules=[Extension("{module}", ["src/{module}.c"])])\n')
    extra_def = '{"copy", copy, METH_VARARGS, "strlcpy"},' if strlcpy else ""
    (dest / "src" / f"{module}.c").write_text(C_SOURCE % {
        "module": module, "extra": STRLCPY if strlcpy else "", "extra_def": extra_def})
    return dest


def pure_package(dest: Path, name: str, *, version: str = "1.0", body: str = "") -> Path:
    """A pure-Python project with one module."""
    module = name.replace("-", "_")
    dest.mkdir(parents=True)
    (dest / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name}"
        version = "{version}"
    """))
    (dest / f"{module}.py").write_text(body or f"NAME = {name!r}\n")
    return dest


def build_dist(project: Path, out: Path, *, kind: str) -> Path:
    """`uv build --sdist` or `--wheel` of `project` into `out` (on the host)."""
    from fpack.deps import uv

    proc = subprocess.run([uv.binary(), "build", f"--{kind}", "--out-dir", out, "--quiet",
                           "--no-python-downloads", project], capture_output=True, text=True,
                          check=False, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"uv build --{kind} {project}:\n{proc.stderr}")
    suffix = ".tar.gz" if kind == "sdist" else ".whl"
    return next(out.glob(f"*{suffix}"))


def setuptools_wheel(out: Path) -> Path:
    """A setuptools wheel, for an index that must serve the build containers' build backend."""
    out.mkdir(parents=True, exist_ok=True)
    if found := sorted(out.glob("setuptools-*.whl")):
        return found[-1]
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary",
                           ":all:", "--dest", out, "setuptools>=70"],
                          capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"pip download setuptools:\n{proc.stderr}")
    return sorted(out.glob("setuptools-*.whl"))[-1]


def write_index(root: Path, files: list[Path]) -> Path:
    """A PEP 503 simple index under `root`: simple/<name>/index.html linking files/<file>, with
    #sha256= fragments (uv records them in the lock)."""
    (root / "files").mkdir(parents=True, exist_ok=True)
    by_name: dict[str, list[Path]] = {}
    for f in files:
        (root / "files" / f.name).write_bytes(f.read_bytes())
        name = f.name.split("-", 1)[0].lower().replace("_", "-").replace(".", "-")
        by_name.setdefault(name, []).append(f)
    for name, dists in by_name.items():
        page = root / "simple" / name / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        links = "".join(
            f'<a href="../../files/{html.escape(f.name)}#sha256='
            f'{hashlib.sha256(f.read_bytes()).hexdigest()}">{html.escape(f.name)}</a><br>\n'
            for f in dists)
        page.write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    names = "".join(f'<a href="{n}/">{n}</a><br>\n' for n in sorted(by_name))
    (root / "simple" / "index.html").write_text(f"<html><body>\n{names}</body></html>\n")
    return root


@dataclass
class Index:
    url: str  # .../simple
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, user agent)

    def fetched_by(self, agent: str, path_part: str) -> bool:
        return any(agent in ua and path_part in path for path, ua in self.requests)


class _Handler(http.server.SimpleHTTPRequestHandler):
    index: Index
    auth: str | None

    def do_GET(self) -> None:
        self.index.requests.append((self.path, self.headers.get("User-Agent", "")))
        if self.auth and self.headers.get("Authorization") != self.auth:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="fpack-test"')
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_index(root: Path, *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1",
                credentials: tuple[str, str] | None = None) -> Iterator[Index]:
    """Serve `root` on a free loopback port; the yielded Index's url names `host`."""
    index = Index(url="")
    auth = None
    if credentials:
        auth = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
    handler = type("Handler", (_Handler,), {"index": index, "auth": auth})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             partial(handler, directory=str(root)))
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    scheme = "https" if tls else "http"
    index.url = f"{scheme}://{host}:{port}/simple"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield index
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Proxy:
    url: str
    tunnels: list[str] = field(default_factory=list)  # "host:port" of each CONNECT


@contextlib.contextmanager
def connect_proxy(routes: dict[str, tuple[str, int]]) -> Iterator[Proxy]:
    """An HTTP CONNECT proxy on loopback that only knows `routes` ("name:port" -> address): a
    client that reaches a routed name proves it went through this proxy."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    proxy = Proxy(url=f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_tunnel, args=(client, routes, proxy), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _tunnel(client: socket.socket, routes: dict[str, tuple[str, int]], proxy: Proxy) -> None:
    with client:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        if method != "CONNECT" or target not in routes:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            return
        proxy.tunnels.append(target)
        with socket.create_connection(routes[target], timeout=30) as upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _pump(client, upstream)


def _pump(a: socket.socket, b: socket.socket) -> None:
    for _ in range(100_000):  # bounded: a test's transfer is far smaller
        ready, _, _ = select.select([a, b], [], [], 60)
        if not ready:
            return
        for s in ready:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class TestCA:
    bundle: Path  # the CA certificate (PEM), to trust
    server: ssl.SSLContext  # a server context with a certificate the CA signed


def make_ca(directory: Path, names: tuple[str, ...]) -> TestCA:
    """A CA and a server certificate for `names` (DNS names or IP addresses), with cryptography."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fpack test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(n)) if _is_ip(n) else x509.DNSName(n) for n in names]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    bundle = directory / "ca.pem"
    bundle.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(
        cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.pem", directory / "server.key")
    return TestCA(bundle=bundle, server=context)

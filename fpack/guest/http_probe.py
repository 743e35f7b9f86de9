"""One HTTP request to a server started inside the same container: `fpack invoke` for http images
and functions-framework bundles.

Standard library only, Python 3.9+, nothing from the rest of fpack: the file is copied into the
container and run with the function's own Python, so the container's network can stay off.

    python3 http_probe.py --request FILE [--port 8080] [--timeout S] -- CMD...

starts CMD with PORT set, waits until it accepts connections on 127.0.0.1, sends the request in
FILE ({"method", "path" (with the query string), "headers", "body" or "bodyBase64"}), prints
`FPACK-RESULT {"ok": true, "status", "headers", "body" | "bodyBase64"}` on stdout, then stops CMD
with SIGTERM as a platform would. CMD's output goes to stderr.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULT_MARK = "FPACK-RESULT "
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


def start(command: Sequence[str], port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PORT"] = str(port)
    return subprocess.Popen(list(command), env=env, stdout=sys.stderr)  # noqa: S603


def wait_ready(process: subprocess.Popen[bytes], port: int, timeout: float) -> str | None:
    """None once 127.0.0.1:port accepts connections; else why it never will."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"the server exited with status {process.returncode} before listening"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return None
        except OSError:
            time.sleep(0.05)
    return f"the server did not listen on port {port} within {timeout:.0f} s"


def send(request: dict[str, Any], port: int, timeout: float) -> dict[str, Any]:
    body = request.get("body")
    payload = base64.b64decode(request["bodyBase64"]) if "bodyBase64" in request \
        else (body or "").encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(request.get("method", "GET"), request.get("path", "/"), body=payload,
                           headers=request.get("headers") or {})
        reply = connection.getresponse()
        data = reply.read()
    finally:
        connection.close()
    out: dict[str, Any] = {"ok": True, "status": reply.status,
                           "headers": [[k.lower(), v] for k, v in reply.getheaders()]}
    content_type = reply.getheader("Content-Type") or ""
    if not data or content_type.startswith(_TEXT_TYPES):
        out["body"] = data.decode("utf-8", "replace")
    else:
        out["bodyBase64"] = base64.b64encode(data).decode()
    return out


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()


def probe(request: dict[str, Any], command: Sequence[str], port: int,
          timeout: float) -> dict[str, Any]:
    process = start(command, port)
    try:
        problem = wait_ready(process, port, timeout)
        if problem is not None:
            return {"ok": False, "error": {"errorType": "Server.NotReady", "errorMessage": problem}}
        try:
            return send(request, port, timeout)
        except OSError as e:
            return {"ok": False, "error": {"errorType": type(e).__name__, "errorMessage": str(e)}}
    finally:
        stop(process)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="http_probe")
    parser.add_argument("--request", required=True)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    request = json.loads(Path(args.request).read_text(encoding="utf-8"))
    print(RESULT_MARK + json.dumps(probe(request, command, args.port, args.timeout)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

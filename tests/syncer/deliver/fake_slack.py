"""A real loopback HTTP server standing in for Slack.

It implements what slack_sdk calls: ``chat.postMessage``, ``files.getUploadURLExternal``,
the upload URL POST, ``files.completeUploadExternal``, and an incoming-webhook URL.
Answers can be scripted per path (429, 500, error codes, a dropped connection).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

TOKEN = "xoxb-1111111111-2222222222-abcdefghijklmnopqrstuvwx"
HOOK_PATH = "/services/T0000/B0000/secretsecretsecret"
DROP = 0  # a scripted "status" that closes the connection after reading the request


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def params(self) -> dict[str, Any]:
        """JSON or form body as a dict (form values unwrapped from lists)."""
        if self.headers.get("content-type", "").startswith("application/json"):
            loaded: dict[str, Any] = json.loads(self.body)
            return loaded
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class FakeSlack:
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    # path -> answers to give before the default one: (status, headers, body)
    script: dict[str, list[tuple[int, dict[str, str], bytes]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def hook(self) -> str:
        return f"http://127.0.0.1:{self.port}{HOOK_PATH}"

    def queue(self, path: str, status: int, body: dict[str, Any] | str,
              headers: dict[str, str] | None = None) -> None:
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.script.setdefault(path, []).append((status, headers or {}, raw))

    def calls(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests.append(request)
            scripted = self.script.get(request.path)
            if scripted:
                return scripted.pop(0)
        return self.default(request)

    def default(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        ok: dict[str, Any]
        path = request.path
        if path == "/api/chat.postMessage":
            ok = {"ok": True, "channel": "C123", "ts": f"1700000000.{len(self.requests):06d}"}
        elif path == "/api/files.getUploadURLExternal":
            ok = {"ok": True, "file_id": "F1", "upload_url": f"http://127.0.0.1:{self.port}/upload/F1"}
        elif path == "/upload/F1":
            return 200, {"Content-Type": "text/plain"}, b"OK - 1024"
        elif path == "/api/files.completeUploadExternal":
            files = json.loads(request.params["files"])
            ok = {"ok": True, "files": [{"id": f["id"], "title": f["title"]} for f in files]}
        elif path == HOOK_PATH:
            return 200, {"Content-Type": "text/html"}, b"ok"
        else:
            return 404, {}, b"unknown_method"
        return 200, {"Content-Type": "application/json"}, json.dumps(ok).encode()


@contextmanager
def serve_fake_slack() -> Iterator[FakeSlack]:
    """A FakeSlack listening on a free loopback port until the block ends."""
    fake = FakeSlack()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(self.path.split("?")[0],
                              {k.lower(): v for k, v in self.headers.items()},
                              self.rfile.read(length))
            status, headers, body = fake.answer(request)
            if status == DROP:  # the request arrived; the answer never leaves
                self.close_connection = True
                return
            self.send_response(status)
            headers = {"Content-Type": "application/json", **headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()

"""HTTP/1.1 plumbing: the threaded server and the handler that hands requests to the fake."""

from __future__ import annotations

import socket
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from syncer.sandbox.fake_stripe.responses import Response

if TYPE_CHECKING:  # the server binds these classes: no import at run time
    from syncer.sandbox.fake_stripe.server import FakeStripe


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    fake: FakeStripe

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client killed mid-request (the kill -9 tests) or gone after a timeout is no news.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stripe-fake"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are dropped after this
    server: Server

    def setup(self) -> None:
        super().setup()
        with self.server.fake._conns_lock:
            self.server.fake._conns.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.fake._conns_lock:
                self.server.fake._conns.discard(self.connection)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(length)  # keep the connection usable after a refused POST
        resp = self.server.fake.handle(self.command, self.path, dict(self.headers.items()))
        if resp.fault == "reset":
            self._reset()
            return
        if resp.fault == "timeout":
            if self.server.fake._stopping.wait(self.server.fake.timeout_hold):
                self._reset()  # the server is stopping: nobody waits for this answer any more
                return
            try:
                self._send(resp)
            except OSError:  # the client gave up waiting and closed: what a timeout is
                self.close_connection = True
            return
        self._send(resp)

    def _send(self, resp: Response) -> None:
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("Cache-Control", "no-cache, no-store")
        for name, value in resp.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    def _reset(self) -> None:
        # SO_LINGER 0 makes close() send a RST instead of a FIN: a "connection reset".
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass

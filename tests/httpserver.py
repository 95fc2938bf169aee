"""A real HTTP server on 127.0.0.1 that misbehaves on demand, for the downloader's tests.

Files are served from memory with a strong ETag, Last-Modified, and correct ``Range`` /
``If-Range`` handling. Per path, a queue of *behaviours* is consumed one per request:

* ``("status", code, headers)``: answer ``code`` with those headers and no body;
* ``("cut", offset)``: send the headers of the full answer, then close the connection
  once the body reached absolute byte ``offset``;
* ``("slow", seconds)``: wait before answering;
* ``("ignore_range",)``: answer 200 with the whole file even to a Range request;
* ``("encoded", "gzip" | "deflate")``: the whole file compressed, with ``Content-Encoding``
  (as object stores serve files uploaded with that metadata), whatever the request asked;
* ``("html",)``: 200 with an HTML page instead of the file (a dead share link);
* ``("redirect", location[, code])``: a redirect to ``location`` (a path or a full URL);
* ``("endless",)``: the file, then more bytes without end (no Content-Length), for up to 5 s.

Every request is logged (path, Range, If-Range, status, body bytes sent).
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import time
import zlib
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import urlsplit


@dataclass
class Request:
    path: str
    range: str | None
    if_range: str | None
    status: int = 0
    sent: int = 0


@dataclass
class Served:
    data: bytes
    etag: str
    last_modified: str


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: MisbehavingServer

    def log_message(self, *args):  # keep pytest output clean
        pass

    def handle(self):
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            pass  # the client hung up: part of several tests

    def do_GET(self):  # noqa: N802
        srv = self.server
        path = urlsplit(self.path).path
        req = Request(path, self.headers.get("Range"), self.headers.get("If-Range"))
        with srv.lock:
            srv.requests.append(req)
            queue = srv.behaviours.get(path, [])
            beh = queue.pop(0) if queue else ("normal",)
            served = srv.files.get(path)
        if beh[0] == "slow":
            time.sleep(beh[1])
        if beh[0] == "status":
            self._answer(req, beh[1], b"", beh[2] if len(beh) > 2 else {})
            return
        if beh[0] == "redirect":
            self._answer(req, beh[2] if len(beh) > 2 else 302, b"", {"Location": beh[1]})
            return
        if beh[0] == "html":
            page = (
                b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>This link is no longer available.</body></html>"
            )
            self._answer(req, 200, page, {"Content-Type": "text/html; charset=utf-8"})
            return
        if served is None:
            self._answer(req, 404, b"not found\n", {})
            return
        if beh[0] == "encoded":
            encoder = zlib.compressobj(wbits=31 if beh[1] == "gzip" else 15)
            body = encoder.compress(served.data) + encoder.flush()
            self._answer(req, 200, body, {"Content-Encoding": beh[1], "ETag": served.etag, "Accept-Ranges": "bytes"})
            return
        if beh[0] == "endless":
            self._endless(req, served.data)
            return
        self._serve(req, served, beh)

    def _endless(self, req: Request, data: bytes):
        req.status = 200
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        deadline = time.monotonic() + 5
        try:
            self.wfile.write(data)
            req.sent += len(data)
            while time.monotonic() < deadline:
                self.wfile.write(b"\0" * 65536)
                req.sent += 65536
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass

    def _serve(self, req: Request, served: Served, beh: tuple):
        data, start, status = served.data, 0, 200
        honour = beh[0] != "ignore_range" and not self.server.ignore_range
        if req.range and honour and (req.if_range in (None, served.etag, served.last_modified)):
            start = int(req.range.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self._answer(req, 416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            status = 206
        body = data[start:]
        headers = {"ETag": served.etag, "Last-Modified": served.last_modified, "Accept-Ranges": "bytes"}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        cut = beh[1] - start if beh[0] == "cut" else None
        self._answer(req, status, body, headers, cut=cut)

    def _answer(self, req: Request, status: int, body: bytes, headers: dict, cut: int | None = None):
        req.status = status
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        limit = len(body) if cut is None else max(0, min(cut, len(body)))
        rate = self.server.rate
        step = 16384 if rate else 1 << 20
        try:
            for i in range(0, limit, step):
                block = body[i : min(i + step, limit)]
                self.wfile.write(block)
                req.sent += len(block)
                if rate:
                    time.sleep(len(block) / rate)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        if cut is not None:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)


class MisbehavingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.files: dict[str, Served] = {}
        self.behaviours: dict[str, list[tuple]] = {}
        self.requests: list[Request] = []
        self.ignore_range = False
        #: bytes per second for every body (0: unlimited)
        self.rate = 0
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def url(self, path: str) -> str:
        return self.base + path

    def put(self, path: str, data: bytes, etag: str | None = None) -> str:
        """Serve ``data`` at ``path`` (a new ETag whenever the content or ``etag`` changes)."""
        etag = etag or '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        with self.lock:
            self.files[path] = Served(data, etag, formatdate(time.time(), usegmt=True))
        return self.url(path)

    def behave(self, path: str, *behaviours: tuple) -> None:
        with self.lock:
            self.behaviours.setdefault(path, []).extend(behaviours)

    def requests_for(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def sent(self, path: str) -> int:
        return sum(r.sent for r in self.requests_for(path))

    def start(self) -> MisbehavingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

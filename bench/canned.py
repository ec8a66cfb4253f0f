"""AWS endpoints for the benchmark: a recording proxy in front of the emulator, and a canned
endpoint that replays what was recorded, so a function's invocation latency can be measured
without the emulator's own speed in it.

An operation is known by its service (the SigV4 credential scope) and its name (the
`X-Amz-Target` header, the query protocols' `Action`, the CBOR protocol's path, or else the
method and path). The canned endpoint answers each operation with the last answer the
emulator gave it; it keeps connections alive (HTTP/1.1), as AWS does.
"""

from __future__ import annotations

import http.client
import multiprocessing
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# One recorded answer: status, headers, body.
Answer = tuple[int, list[tuple[str, str]], bytes]
# Headers that describe one connection or one encoding of the body, not the answer.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}
SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")


def operation(method: str, path: str, headers: Any, body: bytes) -> str:
    scope = SCOPE.search(headers.get("Authorization") or "")
    service = scope.group(1) if scope else "?"
    target = headers.get("X-Amz-Target")
    if target:
        return f"{service} {target.rsplit('.', 1)[-1]}"
    if "/operation/" in path:
        return f"{service} {path.rsplit('/operation/', 1)[1]}"
    if (headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
        action = parse_qs(body.decode(errors="replace")).get("Action")
        if action:
            return f"{service} {action[0]}"
    return f"{service} {method} {urlsplit(path).path}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The headers and the body go out in two writes: with Nagle's algorithm on a kept-alive
    # connection the second waits for the client's delayed ACK (40 ms a call on Linux).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        key = operation(self.command, self.path, self.headers, body)
        status, headers, answer = self.server.answer(self.command, self.path, self.headers, body, key)
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def answer(self, method: str, path: str, headers: Any, body: bytes, key: str) -> Answer:
        raise NotImplementedError


class Recorder(_Server):
    """Forwards every request to `upstream` and keeps the last answer to each operation."""

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = urlsplit(upstream)
        self.recorded: dict[str, Answer] = {}
        self.order: list[str] = []
        self._lock = threading.Lock()
        self.endpoint = f"http://127.0.0.1:{self.server_port}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def answer(self, method: str, path: str, headers: Any, body: bytes, key: str) -> Answer:
        connection = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=60)
        try:
            forwarded = {k: v for k, v in headers.items() if k.lower() not in ("connection", "keep-alive")}
            connection.request(method, path, body=body, headers=forwarded)
            response = connection.getresponse()
            answer: Answer = (response.status, response.getheaders(), response.read())
        finally:
            connection.close()
        with self._lock:
            self.recorded[key] = answer
            self.order.append(key)
        return answer

    def take_order(self) -> list[str]:
        with self._lock:
            order, self.order = self.order, []
            return order

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Replayer(_Server):
    def __init__(self, recorded: dict[str, Answer]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.recorded = recorded

    def answer(self, method: str, path: str, headers: Any, body: bytes, key: str) -> Answer:
        found = self.recorded.get(key)
        if found is None:
            message = f'{{"__type": "NotRecorded", "message": "the canned endpoint has no answer to {key}"}}'
            return 400, [("Content-Type", "application/x-amz-json-1.1")], message.encode()
        return found


def _replay(recorded: dict[str, Answer], ports: Any) -> None:
    server = _Replayer(recorded)
    ports.put(server.server_port)
    server.serve_forever()


class Canned:
    """The canned endpoint, in a process of its own (so the benchmark's Runtime API and the
    endpoint do not share one interpreter lock)."""

    def __init__(self, recorded: dict[str, Answer]) -> None:
        context = multiprocessing.get_context("spawn")
        ports = context.Queue()
        self.process = context.Process(target=_replay, args=(recorded, ports), daemon=True)
        self.process.start()
        self.endpoint = f"http://127.0.0.1:{ports.get(timeout=60)}"

    def close(self) -> None:
        self.process.terminate()
        self.process.join()

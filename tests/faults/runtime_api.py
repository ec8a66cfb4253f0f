"""A minimal AWS Lambda Runtime API (2018-06-01) for running a function binary as Lambda does:
one event per invocation, with Lambda's headers (request id, deadline, function ARN), and the
function's response or error recorded. The function is the real binary, started by the caller
with AWS_LAMBDA_RUNTIME_API pointing here.

What Lambda does and this does not: it never freezes or times out the process itself; the
caller kills it once the deadline (plus a grace) has passed, as Lambda's timeout would.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"


@dataclass
class Outcome:
    kind: str  # response | error | init-error | timeout
    body: Any
    seconds: float  # from the invocation's start to the answer


class RuntimeApi:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: tuple[str, bytes, int] | None = None
        self._started = 0.0
        self._outcome: Outcome | None = None
        self._closing = False
        # When the process first asked for an event (the end of its init), and how many of its
        # requests for one are waiting: the benchmark measures init and invokes only a polling
        # process.
        self.first_poll: float | None = None
        self._polling = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            # The headers and the body go out in two writes; with Nagle's algorithm the body
            # waits for the function's delayed ACK (3 ms an invocation here, 0.4 ms without).
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    return self._answer(404, b"{}")
                item = api._next()
                if item is None:
                    return self._answer(410, b'{"errorMessage": "shutting down"}')
                request_id, body, deadline_ms = item
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline_ms))
                self.send_header(
                    "Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:fault-matrix"
                )
                self.send_header("Lambda-Runtime-Trace-Id", f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                if self.path == f"{PREFIX}/init/error":
                    api._record("init-error", body)
                elif self.path.endswith("/response"):
                    api._record("response", body)
                elif self.path.endswith("/error"):
                    api._record("error", body)
                else:
                    return self._answer(404, b"{}")
                self._answer(202, b'{"status": "OK"}')

            def _answer(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the function was stopped while it waited for its next event

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event: dict[str, Any], budget: float) -> None:
        """Queues one invocation with `budget` seconds until its deadline."""
        with self._cond:
            self._outcome = None
            self._started = time.monotonic()
            deadline_ms = int((time.time() + budget) * 1000)
            self._pending = (str(uuid.uuid4()), json.dumps(event).encode(), deadline_ms)
            self._cond.notify_all()

    def wait(self, limit: float) -> Outcome:
        """The invocation's outcome, or `timeout` when none came within `limit` seconds."""
        end = time.monotonic() + limit
        with self._cond:
            while self._outcome is None:
                left = end - time.monotonic()
                if left <= 0:
                    return Outcome("timeout", None, time.monotonic() - self._started)
                self._cond.wait(left)
            return self._outcome

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def wait_polling(self, limit: float) -> bool:
        """Whether the process is waiting for its next event within `limit` seconds."""
        end = time.monotonic() + limit
        with self._cond:
            while self._polling == 0:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def _next(self) -> tuple[str, bytes, int] | None:
        with self._cond:
            if self.first_poll is None:
                self.first_poll = time.monotonic()
            self._polling += 1
            self._cond.notify_all()
            try:
                while self._pending is None and not self._closing:
                    self._cond.wait(1)
            finally:
                self._polling -= 1
            item, self._pending = self._pending, None
            return item

    def _record(self, kind: str, body: Any) -> None:
        with self._cond:
            if self._outcome is None:
                self._outcome = Outcome(kind, body, time.monotonic() - self._started)
            self._cond.notify_all()

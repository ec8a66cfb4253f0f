"""A fake IMDSv2 on loopback for an instance whose user data runs on this machine (the fleet
sandbox tests, and instances the emulator boots): a session token by PUT, then the
metadata the script reads, answered only with that token (as IMDSv2 with HttpTokens=required
does). The instance's tags are read live from the emulator, so a tag the test or the script
changes is what the next read sees."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeImds:
    def __init__(self, instance_id: str, region: str, tags: Callable[[], dict[str, str]]) -> None:
        self.instance_id, self.region, self.tags = instance_id, region, tags
        self.token = secrets.token_urlsafe(24)
        self.refused: list[str] = []
        imds = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, status: int, body: str = "") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:
                if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    self._send(200, imds.token)
                else:
                    self._send(400)

            def do_GET(self) -> None:
                if self.headers.get("X-aws-ec2-metadata-token") != imds.token:
                    imds.refused.append(self.path)
                    self._send(401)  # IMDSv1 is off
                    return
                answer = imds.answer(self.path.removeprefix("/latest/meta-data/"))
                self._send(200, answer) if answer is not None else self._send(404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"

    def answer(self, path: str) -> str | None:
        if path == "instance-id":
            return self.instance_id
        if path == "placement/region":
            return self.region
        tags = self.tags()
        if path == "tags/instance":
            return "\n".join(sorted(tags))
        if path.startswith("tags/instance/"):
            return tags.get(path.removeprefix("tags/instance/"))
        return None

    def __enter__(self) -> FakeImds:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

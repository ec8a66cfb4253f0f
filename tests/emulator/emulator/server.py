"""Builds the emulator app and serves it on 127.0.0.1."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

from . import asg_patches, cfn_resources, cloudformation, ec2_patches, event_sources, health, lambdas, s3_patches, sns
from .router import Router
from .world import World


def build() -> tuple[World, Router]:
    asg_patches.install()
    ec2_patches.install()
    health.install()
    sns.install()
    s3_patches.install()
    cloudformation.install()
    lambdas.install()
    event_sources.install()
    world = World()
    cfn_resources.install(world)
    return world, Router(world, DomainDispatcherApplication(create_backend_app))


class QuietRequestHandler(WSGIRequestHandler):
    """No line per request: the local runs print their own story (`--log-requests` brings it back)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Emulator:
    """An emulator on a port (0: a free one), served from a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        realtime: bool = False,
        functions: Path | None = None,
        log_requests: bool = False,
    ) -> None:
        self.world, app = build()
        handler = WSGIRequestHandler if log_requests else QuietRequestHandler
        self.server = make_server(host, port, app, threaded=True, request_handler=handler)
        self.endpoint = f"http://{host}:{self.server.server_port}"
        self.world.lambdas.endpoint = self.endpoint
        self.world.boot.endpoint = self.endpoint
        self.world.lambdas.workspace = functions
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.realtime = realtime

    def start(self) -> Emulator:
        serve = threading.Thread(target=self.server.serve_forever, daemon=True)
        serve.start()
        self._threads.append(serve)
        if self.realtime:
            ticker = threading.Thread(target=self._tick_forever, daemon=True)
            ticker.start()
            self._threads.append(ticker)
        return self

    def _tick_forever(self) -> None:
        while not self._stop.wait(0.25):
            self.world.tick()

    def stop(self) -> None:
        self._stop.set()
        self.world.lambdas.stop()
        self.server.shutdown()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

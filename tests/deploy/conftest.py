"""The deployed stack the tests here share: the four functions built, the real `sam deploy` of
template.yaml into a fresh emulator (one per test module), and ways to look at the result."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "tests" / "emulator"))

import local_deploy  # noqa: E402
import local_run  # noqa: E402
from emulator.server import Emulator  # noqa: E402

STACK = local_deploy.stack_name()
FUNCTIONS = {
    "InstanceRefreshFunction": "instance-refresh",
    "QaNotifyFunction": "qa-notify",
    "ApprovalGateFunction": "approval-gate",
    "LifecycleHealthFunction": "lifecycle-health",
}


@dataclass
class Deployed:
    emulator: Emulator
    directory: Path
    code: int
    output: str

    @property
    def endpoint(self) -> str:
        return self.emulator.endpoint

    def client(self, service: str) -> Any:
        return local_deploy.client(self.endpoint, service)

    def physical_ids(self, stack: str = STACK) -> dict[str, str]:
        return {
            r["LogicalResourceId"]: r["PhysicalResourceId"] for r in local_deploy.stack_resources(self.endpoint, stack)
        }

    def control(self, method: str, path: str, body: Any = None) -> Any:
        return local_run.Control(self.endpoint).call(method, path, body)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    local_deploy.build_functions()
    with Emulator(realtime=True, functions=ROOT) as emulator:
        # moto's backends live as long as the process: an earlier module's stack must not be here.
        local_run.Control(emulator.endpoint).call("POST", "/reset")
        directory = local_deploy.stage(into=tmp_path_factory.mktemp("stack"))
        code, output = local_deploy.sam_deploy(emulator.endpoint, directory, echo=False)
        yield Deployed(emulator, directory, code, output)

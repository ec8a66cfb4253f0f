"""Instances that boot for real: when Auto Scaling launches an instance whose launch template has
user data, the user data runs with bash on this machine, in a folder of its own, as it would on
the instance: its own IMDSv2 (emulator/imds.py) answers with the instance's id, region and live
tags; the AWS CLI (first on PATH after the stand-ins) calls the emulator; `mount`, `systemctl`
and `puppet` are the recording stand-ins of the fleet sandbox (tests/fleet/stand-ins). So the
bootstrap tag lifecycle-health reads is set by the real script.

Off unless configured (`Boot.configure`); each boot's output goes to `<root>/<instance>/boot.log`.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moto.ec2.models import ec2_backends

from .imds import FakeImds

if TYPE_CHECKING:
    from .world import World

BOOT_LIMIT_SECONDS = 300


@dataclass
class BootRecord:
    instance_id: str
    group: str
    release: str | None
    started: float
    log: str
    finished: float | None = None
    exit_code: int | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "instanceId": self.instance_id,
            "group": self.group,
            "release": self.release,
            "started": self.started,
            "finished": self.finished,
            "exitCode": self.exit_code,
            "seconds": None if self.finished is None else round(self.finished - self.started, 2),
            "log": self.log,
        }


@dataclass
class Boot:
    world: World
    root: Path | None = None
    # Directories put before the system's on PATH: the stand-ins, then the AWS CLI.
    path: list[str] = field(default_factory=list)
    endpoint: str = ""
    records: list[BootRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def configure(self, root: Path, path: list[str]) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.path = root, path

    def reset(self) -> None:
        with self._lock:
            self.records.clear()

    def launched(self, account: str, region: str, group: str, instance_id: str, user_data: Any, tags: dict) -> None:
        if self.root is None or user_data is None:
            return
        script = base64.b64decode(user_data.as_bytes() if hasattr(user_data, "as_bytes") else str(user_data))
        folder = self.root / instance_id
        folder.mkdir(parents=True, exist_ok=True)
        record = BootRecord(instance_id, group, tags.get("deploy:release"), time.time(), str(folder / "boot.log"))
        with self._lock:
            self.records.append(record)
        threading.Thread(
            target=self._run, args=(account, region, instance_id, script, folder, record), daemon=True
        ).start()

    def _tags(self, account: str, region: str, instance_id: str) -> dict[str, str]:
        with self.world.lock:
            return dict(ec2_backends[account][region].tags.get(instance_id, {}))

    def _environment(self, folder: Path) -> dict[str, str]:
        config = folder / "aws-config"
        config.write_text("[default]\ns3 =\n    addressing_style = path\n")
        return {
            "PATH": os.pathsep.join([*self.path, "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(folder),
            "TMPDIR": str(folder),
            "AWS_ENDPOINT_URL": self.endpoint,
            # The instance profile's credentials, as IMDS would give them.
            "AWS_ACCESS_KEY_ID": "ASIAINSTANCEPROFILE",
            "AWS_SECRET_ACCESS_KEY": "instance",
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(folder / "no-credentials"),
            # Where a real instance's paths are (/opt, /etc, /mnt, /var/log, systemd's folder).
            "FLEET_ROOT": str(folder / "opt" / "app"),
            "FLEET_ENV_FILE": str(folder / "etc" / "app" / "environment"),
            "FLEET_LOG_MOUNT": str(folder / "mnt" / "logs"),
            "FLEET_APP_LOG_DIR": str(folder / "var" / "log" / "app"),
            "FLEET_SYSTEMD_DIR": str(folder / "systemd"),
            "FLEET_SANDBOX_CALLS": str(folder / "calls"),
        }

    def _run(
        self, account: str, region: str, instance_id: str, script: bytes, folder: Path, record: BootRecord
    ) -> None:
        (folder / "systemd").mkdir(exist_ok=True)
        user_data = folder / "user-data"
        user_data.write_bytes(script)
        env = self._environment(folder)
        with (
            FakeImds(instance_id, region, lambda: self._tags(account, region, instance_id)) as imds,
            open(record.log, "w") as log,
        ):
            env["FLEET_IMDS"] = imds.endpoint
            try:
                done = subprocess.run(
                    ["bash", str(user_data)], env=env, stdout=log, stderr=subprocess.STDOUT, timeout=BOOT_LIMIT_SECONDS
                )
                code = done.returncode
            except subprocess.TimeoutExpired:
                log.write(f"\nthe boot took longer than {BOOT_LIMIT_SECONDS} s and was stopped\n")
                code = 124
        record.finished, record.exit_code = time.time(), code

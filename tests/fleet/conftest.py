"""The user-data sandbox: fleet/user-data.sh run for real by bash, against the emulator (S3,
SSM, Secrets Manager, EC2 tags through the AWS CLI from PyPI), a fake IMDSv2 on loopback, and
recording stand-ins for what needs a real instance (mount, puppet, systemctl). Every path the
script writes is under the test's temporary directory."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "emulator"))

from emulator.imds import FakeImds  # noqa: E402
from emulator.server import Emulator  # noqa: E402

SCRIPT = ROOT / "fleet" / "user-data.sh"
STAND_INS = Path(__file__).resolve().parent / "stand-ins"
AWS_CLI_BIN = ROOT / ".venv-fleet" / "bin"
REGION = "us-east-1"
RELEASE = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"
ARTIFACT = "s3://release-artifacts/release/Release/9f86d08.zip"
# Secrets the script must deliver to the environment file and nowhere else.
DB_PASSWORD = "canary-db-7Hq2-Zx9"
API_KEY = "canary-api-Lm4-Pw8"


@pytest.fixture(scope="session")
def emulator():
    with Emulator() as running:
        yield running


def release_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buffer.getvalue()


@dataclass
class Sandbox:
    root: Path
    emulator: Emulator
    env: dict[str, str] = field(default_factory=dict)
    instance_id: str = ""

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.emulator.endpoint,
            region_name=REGION,
            aws_access_key_id="AKIDSANDBOX",
            aws_secret_access_key="sandbox",
        )

    def tags(self) -> dict[str, str]:
        found = self.client("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": [self.instance_id]}])[
            "Tags"
        ]
        return {t["Key"]: t["Value"] for t in found}

    def calls(self) -> list[str]:
        path = Path(self.env["FLEET_SANDBOX_CALLS"])
        return path.read_text().splitlines() if path.exists() else []

    def path(self, name: str) -> Path:
        return Path(self.env[name])

    def run(self) -> subprocess.CompletedProcess:
        with FakeImds(self.instance_id, REGION, self.tags) as imds:
            env = {**self.env, "FLEET_IMDS": imds.endpoint}
            done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
            done.imds_refused = list(imds.refused)
        return done


@pytest.fixture
def sandbox(emulator: Emulator, tmp_path: Path) -> Sandbox:
    """An instance launched with a release's tags, its artifact in S3, its secrets in SSM and
    Secrets Manager: everything a healthy boot needs."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{emulator.endpoint}/_emulator/reset", method="POST", data=b"{}"))
    box = Sandbox(root=tmp_path, emulator=emulator)
    s3, ssm, secrets, ec2 = (box.client(s) for s in ("s3", "ssm", "secretsmanager", "ec2"))
    bucket, key = ARTIFACT.removeprefix("s3://").split("/", 1)
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_object(
        Bucket=bucket, Key=key, Body=release_zip({"bin/start": "#!/bin/sh\nexec sleep infinity\n", "VERSION": RELEASE})
    )
    ssm.put_parameter(Name="/web/staging/database-password", Value=DB_PASSWORD, Type="SecureString", Overwrite=True)
    ssm.put_parameter(Name="/web/staging/features/checkout-v2", Value="on", Type="String", Overwrite=True)
    try:
        secrets.delete_secret(SecretId="web/staging", ForceDeleteWithoutRecovery=True)
    except secrets.exceptions.ResourceNotFoundException:
        pass
    secrets.create_secret(Name="web/staging", SecretString=json.dumps({"API_KEY": API_KEY, 'quote"d': 'a"b'}))
    box.instance_id = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "deploy:release", "Value": RELEASE},
                    {"Key": "deploy:stage", "Value": "staging"},
                    {"Key": "deploy:artifact", "Value": ARTIFACT},
                ],
            }
        ],
    )["Instances"][0]["InstanceId"]
    aws_config = tmp_path / "aws-config"
    aws_config.write_text("[default]\ns3 =\n    addressing_style = path\n")
    box.env = {
        "PATH": f"{STAND_INS}:{AWS_CLI_BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "AWS_ENDPOINT_URL": emulator.endpoint,
        "AWS_ACCESS_KEY_ID": "AKIDSANDBOX",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_CONFIG_FILE": str(aws_config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "FLEET_APP": "web",
        "FLEET_ROOT": str(tmp_path / "opt" / "web"),
        "FLEET_ENV_FILE": str(tmp_path / "etc" / "web" / "environment"),
        "FLEET_SECRETS_PATH": "/web/staging/",
        "FLEET_SECRET_ID": "web/staging",
        "FLEET_EFS_ID": "fs-0123456789abcdef0",
        "FLEET_EFS_ACCESS_POINT": "fsap-0123456789abcdef0",
        "FLEET_LOG_MOUNT": str(tmp_path / "mnt" / "logs"),
        "FLEET_APP_LOG_DIR": str(tmp_path / "var" / "log" / "web"),
        "FLEET_SYSTEMD_DIR": str(tmp_path / "systemd"),
        "FLEET_SANDBOX_CALLS": str(tmp_path / "calls"),
    }
    (tmp_path / "systemd").mkdir()
    os.environ.pop("AWS_PROFILE", None)
    return box

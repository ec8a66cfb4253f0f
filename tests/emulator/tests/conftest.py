from __future__ import annotations

import json
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from emulator.server import Emulator


@pytest.fixture(scope="session")
def emulator() -> Emulator:
    with Emulator() as running:
        yield running


class Control:
    """The /_emulator control endpoints."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.endpoint}/_emulator{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.call("POST", path, body or {})

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def advance(self, seconds: float) -> None:
        self.post("/clock/advance", {"seconds": seconds})

    def settle(self, max_seconds: float = 7200) -> None:
        self.post("/settle", {"maxSeconds": max_seconds})

    def events(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.get("/events") if detail_type in (None, e["detail-type"])]


@pytest.fixture
def control(emulator: Emulator) -> Control:
    c = Control(emulator.endpoint)
    c.post("/reset")
    return c


@pytest.fixture
def aws(emulator: Emulator, control: Control):
    """boto3 clients against the emulator, without retries so every answer is seen."""

    def client(service: str):
        return boto3.client(
            service,
            endpoint_url=emulator.endpoint,
            region_name="us-east-1",
            aws_access_key_id="AKIDEMULATORTEST",
            aws_secret_access_key="secret",
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        )

    return client


def make_group(
    aws,
    *,
    desired: int = 4,
    hook: bool = False,
    hook_timeout: int = 300,
    default_result: str = "ABANDON",
    name: str = "web",
    tags: dict[str, str] | None = None,
    mixed: bool = False,
) -> dict[str, Any]:
    ec2, asg = aws("ec2"), aws("autoscaling")
    template = ec2.create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={
            "ImageId": "ami-12c6146b",
            "InstanceType": "t3.micro",
            "TagSpecifications": [
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in (tags or {"Name": name}).items()],
                }
            ],
        },
    )["LaunchTemplate"]
    spec = {"LaunchTemplateId": template["LaunchTemplateId"], "Version": "1"}
    kwargs: dict[str, Any] = dict(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=desired * 2,
        DesiredCapacity=desired,
        AvailabilityZones=["us-east-1a"],
    )
    if mixed:
        kwargs["MixedInstancesPolicy"] = {
            "LaunchTemplate": {"LaunchTemplateSpecification": spec, "Overrides": [{"InstanceType": "t3.small"}]}
        }
    else:
        kwargs["LaunchTemplate"] = spec
    asg.create_auto_scaling_group(**kwargs)
    if hook:
        asg.put_lifecycle_hook(
            AutoScalingGroupName=name,
            LifecycleHookName="health",
            HeartbeatTimeout=hook_timeout,
            LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
            DefaultResult=default_result,
            NotificationMetadata=json.dumps({"port": 8080}),
        )
    return {"template_id": template["LaunchTemplateId"], "name": name}


def new_version(aws, template_id: str, release: str, source: str = "1") -> int:
    out = aws("ec2").create_launch_template_version(
        LaunchTemplateId=template_id,
        SourceVersion=source,
        LaunchTemplateData={
            "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "release", "Value": release}]}]
        },
    )
    return out["LaunchTemplateVersion"]["VersionNumber"]


def instances(aws, group: str) -> list[dict[str, Any]]:
    return aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0][
        "Instances"
    ]


def instance_tags(aws, instance_id: str) -> dict[str, str]:
    reservations = aws("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return {t["Key"]: t["Value"] for t in reservations[0]["Instances"][0].get("Tags", [])}


def refresh(aws, group: str, refresh_id: str) -> dict[str, Any]:
    return aws("autoscaling").describe_instance_refreshes(AutoScalingGroupName=group, InstanceRefreshIds=[refresh_id])[
        "InstanceRefreshes"
    ][0]

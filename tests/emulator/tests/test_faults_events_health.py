"""Fault injection, event delivery and the health inputs tests can set."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3
import botocore.config
import botocore.exceptions
import pytest
from conftest import instances, make_group, new_version
from test_instance_refresh import error_of, start


def test_throttling_uses_each_protocols_error_code_for_n_calls(aws, control):
    make_group(aws, desired=1)
    control.post(
        "/faults", {"service": "autoscaling", "operation": "DescribeAutoScalingGroups", "kind": "throttle", "count": 2}
    )
    control.post("/faults", {"service": "codepipeline", "kind": "throttle", "count": 1})
    asg = aws("autoscaling")
    for _ in range(2):
        code, message, status = error_of(lambda: asg.describe_auto_scaling_groups())
        assert (code, message, status) == ("Throttling", "Rate exceeded", 400)
    assert asg.describe_auto_scaling_groups()["AutoScalingGroups"], "the third call goes through"
    code, _, _ = error_of(lambda: aws("codepipeline").get_job_details(jobId="x"))
    assert code == "ThrottlingException"
    assert [f["hits"] for f in control.get("/faults")] == [2, 1]


def test_server_errors_and_latency(aws, control):
    control.post(
        "/faults", {"service": "ec2", "operation": "DescribeInstances", "kind": "error", "status": 503, "count": 1}
    )
    with_error = error_of(lambda: aws("ec2").describe_instances())
    assert with_error[2] == 503
    control.post(
        "/faults", {"service": "ec2", "operation": "DescribeInstances", "kind": "latency", "latencyMs": 300, "count": 1}
    )
    began = time.monotonic()
    aws("ec2").describe_instances()
    assert time.monotonic() - began >= 0.3
    control.call("DELETE", "/faults")
    assert control.get("/faults") == []


def test_a_delayed_request_is_in_flight_until_it_lands_even_when_its_caller_gave_up(emulator, aws, control):
    control.post(
        "/faults", {"service": "ec2", "operation": "CreateTags", "kind": "latency", "latencyMs": 1500, "count": 1}
    )
    instance = aws("ec2").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    impatient = client_with(
        emulator, "ec2", botocore.config.Config(read_timeout=0.3, retries={"total_max_attempts": 1})
    )
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        impatient.create_tags(Resources=[instance], Tags=[{"Key": "late", "Value": "yes"}])
    assert emulator.world.in_flight == 1
    deadline = time.monotonic() + 5
    while emulator.world.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emulator.world.in_flight == 0
    tags = aws("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": [instance]}])["Tags"]
    assert {"Key": "late", "Value": "yes"} in [{"Key": t["Key"], "Value": t["Value"]} for t in tags], "it landed"


def client_with(emulator, service: str, config: botocore.config.Config):
    """A boto3 client against the emulator with `config` (retries, timeouts) of its own."""
    return boto3.client(
        service,
        endpoint_url=emulator.endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="test",
        config=config,
    )


def test_the_sdk_retries_through_injected_throttling(emulator, control):
    make = client_with(
        emulator, "autoscaling", botocore.config.Config(retries={"total_max_attempts": 3, "mode": "standard"})
    )
    control.post("/faults", {"service": "autoscaling", "kind": "throttle", "count": 2})
    assert make.describe_auto_scaling_groups()["ResponseMetadata"]["HTTPStatusCode"] == 200


class Sink(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers["Content-Length"])
        Sink.received.append({"path": self.path, "event": json.loads(self.rfile.read(length))})
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"null")

    def log_message(self, *args):
        pass


def test_events_are_delivered_to_an_invoke_endpoint_by_rule(aws, control):
    server = HTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Sink.received.clear()
    url = f"http://127.0.0.1:{server.server_port}/2015-03-31/functions/lifecycle-health/invocations"
    control.post("/rules", {"detailType": "EC2 Instance-launch Lifecycle Action", "url": url})
    group = make_group(aws, desired=1, hook=True)
    start(aws, "web", new_version(aws, group["template_id"], "r2"), MinHealthyPercentage=0)
    control.advance(2)
    deadline = time.monotonic() + 5
    while not Sink.received and time.monotonic() < deadline:
        time.sleep(0.05)
    server.shutdown()
    assert Sink.received[0]["path"] == "/2015-03-31/functions/lifecycle-health/invocations"
    assert Sink.received[0]["event"]["detail-type"] == "EC2 Instance-launch Lifecycle Action"
    assert control.get("/rules")[0]["deliveries"][0]["status"] == 200


def test_instance_status_can_be_set_and_defaults_to_ok(aws, control):
    make_group(aws, desired=2)
    first, second = [i["InstanceId"] for i in instances(aws, "web")]
    control.post("/health/instance", {"instanceId": first, "status": "impaired"})
    statuses = aws("ec2").describe_instance_status(InstanceIds=[first, second], IncludeAllInstances=True)[
        "InstanceStatuses"
    ]
    by_id = {s["InstanceId"]: s for s in statuses}
    assert by_id[first]["InstanceStatus"]["Status"] == "impaired"
    assert by_id[first]["InstanceStatus"]["Details"][0]["Status"] == "failed"
    assert by_id[second]["InstanceStatus"]["Status"] == "ok"


def test_target_health_can_be_set(aws, control):
    ec2, elb = aws("ec2"), aws("elbv2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    tg = elb.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": instance, "Port": 80}])
    control.post("/health/target", {"targetGroupArn": tg, "instanceId": instance, "state": "unhealthy"})
    (health,) = elb.describe_target_health(TargetGroupArn=tg, Targets=[{"Id": instance, "Port": 80}])[
        "TargetHealthDescriptions"
    ]
    assert health["TargetHealth"]["State"] == "unhealthy"
    assert health["TargetHealth"]["Reason"] == "Target.FailedHealthChecks"


def test_launch_template_versions_keep_their_numbers_when_some_are_deleted(aws, control):
    group = make_group(aws, desired=1)
    ec2 = aws("ec2")
    for release in ("r2", "r3", "r4"):
        new_version(aws, group["template_id"], release)
    out = ec2.delete_launch_template_versions(LaunchTemplateId=group["template_id"], Versions=["2", "1", "9"])
    assert [v["VersionNumber"] for v in out["SuccessfullyDeletedLaunchTemplateVersions"]] == [2]
    assert {v["VersionNumber"] for v in out["UnsuccessfullyDeletedLaunchTemplateVersions"]} == {1, 9}
    assert new_version(aws, group["template_id"], "r5", source="4") == 5
    listed = ec2.describe_launch_template_versions(LaunchTemplateId=group["template_id"], Versions=["4"])
    assert listed["LaunchTemplateVersions"][0]["VersionNumber"] == 4


def test_launch_template_versions_are_paginated_and_client_tokens_are_idempotent(aws, control):
    group = make_group(aws, desired=1)
    ec2 = aws("ec2")
    for i in range(20):
        new_version(aws, group["template_id"], f"r{i}")
    pages = ec2.get_paginator("describe_launch_template_versions").paginate(LaunchTemplateId=group["template_id"])
    numbers = [v["VersionNumber"] for page in pages for v in page["LaunchTemplateVersions"]]
    assert numbers == list(range(1, 22))
    again = [
        ec2.create_launch_template_version(
            LaunchTemplateId=group["template_id"], SourceVersion="1", ClientToken="job-1", LaunchTemplateData={}
        )["LaunchTemplateVersion"]["VersionNumber"]
        for _ in range(2)
    ]
    assert again == [22, 22]


def test_a_client_token_reused_for_a_different_request_is_an_idempotent_parameter_mismatch(aws, control):
    # EC2 API reference, "Ensuring idempotency": the same token with other parameters is refused.
    group = make_group(aws, desired=1)
    ec2 = aws("ec2")
    first = ec2.create_launch_template_version(
        LaunchTemplateId=group["template_id"],
        SourceVersion="1",
        ClientToken="job-2",
        LaunchTemplateData={"ImageId": "ami-11111111"},
    )
    code, message, status = error_of(
        lambda: ec2.create_launch_template_version(
            LaunchTemplateId=group["template_id"],
            SourceVersion="1",
            ClientToken="job-2",
            LaunchTemplateData={"ImageId": "ami-22222222"},
        )
    )
    assert (code, status) == ("IdempotentParameterMismatch", 400)
    assert "job-2" in message
    same = ec2.create_launch_template_version(
        LaunchTemplateId=group["template_id"],
        SourceVersion="1",
        ClientToken="job-2",
        LaunchTemplateData={"ImageId": "ami-11111111"},
    )
    assert same["LaunchTemplateVersion"]["VersionNumber"] == first["LaunchTemplateVersion"]["VersionNumber"]


def test_new_instances_can_be_unknown_to_describe_instance_status_for_their_first_seconds(aws, control):
    # EC2 eventual consistency: right after launch, InvalidInstanceID.NotFound for the new id.
    control.post("/ec2/visibility", {"delaySeconds": 10})
    group = make_group(aws, desired=1, hook=True)
    start(aws, "web", new_version(aws, group["template_id"], "r2"), MinHealthyPercentage=0)
    control.advance(2)
    (event,) = control.events("EC2 Instance-launch Lifecycle Action")
    new = event["detail"]["EC2InstanceId"]
    ec2 = aws("ec2")
    code, message, status = error_of(lambda: ec2.describe_instance_status(InstanceIds=[new], IncludeAllInstances=True))
    assert (code, status) == ("InvalidInstanceID.NotFound", 400)
    assert new in message
    listed = [s["InstanceId"] for s in ec2.describe_instance_status(IncludeAllInstances=True)["InstanceStatuses"]]
    assert new not in listed
    control.advance(10)
    (found,) = ec2.describe_instance_status(InstanceIds=[new], IncludeAllInstances=True)["InstanceStatuses"]
    assert found["InstanceId"] == new


def test_an_instance_status_can_be_set_for_a_while_then_returns_to_ok(aws, control):
    make_group(aws, desired=1)
    (instance,) = [i["InstanceId"] for i in instances(aws, "web")]
    control.post("/health/instance", {"instanceId": instance, "status": "initializing", "forSeconds": 30})

    def status() -> str:
        return aws("ec2").describe_instance_status(InstanceIds=[instance])["InstanceStatuses"][0]["InstanceStatus"][
            "Status"
        ]

    assert status() == "initializing"
    control.advance(29)
    assert status() == "initializing"
    control.advance(1)
    assert status() == "ok"


def test_a_head_object_keeps_the_objects_content_length(aws, control):
    # S3 HeadObject: "Content-Length: Size of the body in bytes" is a response header of HEAD too;
    # the AWS CLI's `s3 cp` reads it before downloading.
    s3 = aws("s3")
    s3.create_bucket(Bucket="lengths")
    s3.put_object(Bucket="lengths", Key="release.zip", Body=b"x" * 1234)
    assert s3.head_object(Bucket="lengths", Key="release.zip")["ContentLength"] == 1234
    assert s3.get_object(Bucket="lengths", Key="release.zip")["Body"].read() == b"x" * 1234

"""Every sample in events/ through `cargo lambda invoke`, against the emulator, each with its
expected outcome (the functions run under `cargo lambda watch` at TRACE, and their logs are
checked for the artifact-credential canaries). The main job, a whole release through the
deployed pipelines, is tests/e2e/release.py (scripts/local-run).

    python tests/e2e/local_run.py samples

Exit status 0 only when every sample ends as expected.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "emulator"))

import boto3  # noqa: E402
from emulator.server import Emulator  # noqa: E402

COMMIT = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"
GROUP = "web-staging"
FUNCTIONS = ("instance-refresh", "lifecycle-health", "qa-notify", "approval-gate")
RECHECK_QUEUE = "lifecycle-rechecks"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDLOCALRUN", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1"}
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:releases"
# What the template sets for qa-notify (cargo lambda watch gives every function the same variables).
QA_NOTIFY_ENV = {
    "QA_NOTIFY_TOPIC_ARN": TOPIC_ARN,
    "QA_NOTIFY_PIPELINES": "release",
    "QA_NOTIFY_ENVIRONMENT_URLS": json.dumps(
        {"staging": "https://staging.shop.example.com", "production": "https://shop.example.com"}
    ),
    # approval-gate: the staging group the samples seed, and an alarm nobody created.
    "GATE_PIPELINES": "release",
    "GATE_STAGING_GROUP": GROUP,
    "GATE_ALARMS": "web-staging-5xx",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Control:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.endpoint}/_emulator{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())


class Functions:
    """`cargo lambda watch` serving the workspace's functions on 127.0.0.1."""

    def __init__(self, endpoint: str, log_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        env = {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}
        self.env = env
        args = [
            "cargo",
            "lambda",
            "watch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            str(self.port),
            "--ignore-changes",
        ]
        for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
            args += ["--env-var", f"{key}={env[key]}"]
        # lifecycle-health sends a still-warming instance's check to this queue (samples() makes it).
        args += ["--env-var", f"HEALTH_RECHECK_QUEUE_URL={endpoint}/123456789012/{RECHECK_QUEUE}"]
        args += ["--env-var", f"RUST_LOG={os.environ.get('RUST_LOG', 'info')}"]
        # --env-var splits on commas, which a JSON value holds: these go through a file.
        self.env_file = Path(tempfile.gettempdir()) / f"cargo-lambda-watch-{self.port}.env"
        self.env_file.write_text("".join(f"{key}='{value}'\n" for key, value in QA_NOTIFY_ENV.items()))
        args += ["--env-file", str(self.env_file)]
        for key, value in (log_env or {}).items():
            args += ["--env-var", f"{key}={value}"]
        self.log = open(Path(tempfile.gettempdir()) / f"cargo-lambda-watch-{self.port}.log", "w")
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 300
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    raise SystemExit(f"cargo lambda watch did not start; see {self.log.name}") from None
                time.sleep(0.5)

    def url(self, function: str) -> str:
        return f"http://127.0.0.1:{self.port}/2015-03-31/functions/{function}/invocations"

    def invoke(self, function: str, event: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(event, f)
        try:
            return subprocess.run(
                [
                    "cargo",
                    "lambda",
                    "invoke",
                    function,
                    "--invoke-address",
                    "127.0.0.1",
                    "--invoke-port",
                    str(self.port),
                    "--data-file",
                    f.name,
                    "--output-format",
                    "json",
                ],
                cwd=ROOT,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=900,
            )
        finally:
            os.unlink(f.name)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        self.env_file.unlink(missing_ok=True)


def seed_group(endpoint: str, desired: int = 3, hook: bool = False, name: str = GROUP) -> None:
    kwargs = dict(
        endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="AKIDLOCALRUN", aws_secret_access_key="local"
    )
    ec2, asg = boto3.client("ec2", **kwargs), boto3.client("autoscaling", **kwargs)
    template = ec2.create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={
            "ImageId": "ami-12c6146b",
            "InstanceType": "t3.micro",
            "TagSpecifications": [
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": "Name", "Value": "web"}, {"Key": "team", "Value": "shop"}],
                }
            ],
        },
    )["LaunchTemplate"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=desired * 2,
        DesiredCapacity=desired,
        AvailabilityZones=["us-east-1a"],
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "1"},
    )
    if hook:
        asg.put_lifecycle_hook(
            AutoScalingGroupName=name,
            LifecycleHookName="health",
            HeartbeatTimeout=300,
            LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
            DefaultResult="ABANDON",
            NotificationMetadata=json.dumps({"maxWaitSeconds": 120}),
        )


# The samples run with the most verbose logging a user can ask for, in Lambda's JSON format:
# artifact credentials must not appear even then.
SAMPLE_LOGS = {"AWS_LAMBDA_LOG_LEVEL": "TRACE", "AWS_LAMBDA_LOG_FORMAT": "JSON"}

# How each instance-refresh sample's job must end here. continue.json names a refresh this
# emulator never started, so its answer is the "no longer listed" failure.
EXPECTED = {
    "start.json": "continuation",
    "partial-rollout.json": "continuation",
    "continue.json": "JobFailed",
    "bad-preferences.json": "ConfigurationError",
    "unquoted-variable.json": "ConfigurationError",
    "no-release.json": "ConfigurationError",
    "malformed-job.json": "JobFailed",
}

LIFECYCLE_EXPECTED = {
    "launch.json": '"alreadyClosed": true',
    "test-notification.json": "ignored",
    "malformed.json": "InvalidLifecycleEvent",
    # The instance does not exist here: each check ends, and its action is no longer open.
    "warm-pool-entry.json": '"alreadyClosed": true',
    "warm-pool-promotion.json": '"alreadyClosed": true',
    "root-volume-replacement.json": '"alreadyClosed": true',
}


def samples(functions: Functions, control: Control, endpoint: str) -> bool:
    seed_group(endpoint)
    # partial-rollout.json refreshes a group of its own, so it does not meet start.json's refresh.
    seed_group(endpoint, desired=4, name="web-canary")
    passed = failed = 0
    unlisted = {p.name for p in (ROOT / "events" / "lifecycle-health").glob("*.json")} - set(LIFECYCLE_EXPECTED)
    if unlisted:
        print(f"samples without an expectation: {sorted(unlisted)}")
        failed += 1
    for path in sorted((ROOT / "events" / "instance-refresh").glob("*.json")):
        event = json.loads(path.read_text())
        job_id = control.call("POST", "/codepipeline/jobs", {"event": event})["jobId"]
        invoked = functions.invoke("instance-refresh", event)
        record = control.call("GET", f"/codepipeline/jobs/{job_id}")
        result = record["result"]
        if result is None:
            failed += 1
            print(f"{path.name:<24} NO ANSWER  {invoked.stderr.strip()[-300:]}")
            continue
        if result["kind"] == "failure":
            outcome, text = result["failureDetails"]["type"], result["failureDetails"]["message"]
        else:
            outcome, text = result["kind"], result.get("executionDetails", {}).get("summary", "")
        expected = EXPECTED.get(path.name, "an entry in EXPECTED")
        verdict = "ok" if outcome == expected else f"EXPECTED {expected}"
        passed, failed = (passed + 1, failed) if outcome == expected else (passed, failed + 1)
        print(f"{path.name:<24} {outcome:<18} {verdict:<4} {text[:140]}")
    # lifecycle-health samples: the instance in launch.json does not exist here, so the check
    # abandons it and finds no active action: done, not an error.
    boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDLOCALRUN",
        aws_secret_access_key="local",
    ).create_queue(QueueName=RECHECK_QUEUE)
    for name, expected in LIFECYCLE_EXPECTED.items():
        event = json.loads((ROOT / "events" / "lifecycle-health" / name).read_text())
        invoked = functions.invoke("lifecycle-health", event)
        output = (invoked.stdout + invoked.stderr).strip()
        ok = expected in output
        passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
        print(f"lifecycle-health/{name:<24} {'ok' if ok else 'EXPECTED ' + expected:<4} {output[-140:]}")
    qa_passed, qa_failed = qa_notify_samples(functions, control, endpoint)
    gate_passed, gate_failed = approval_gate_samples(functions, control)
    passed, failed = passed + qa_passed + gate_passed, failed + qa_failed + gate_failed
    # The functions ran at TRACE (SAMPLE_LOGS): the runtime's raw-event line is the leak path.
    functions.log.flush()
    log = Path(functions.log.name).read_text()
    trace_lines = sum(1 for line in log.splitlines() if '"level":"TRACE"' in line)
    if "CANARY" in log:
        print("artifact credentials appeared in the function logs")
        failed += 1
    elif trace_lines == 0:
        print("no TRACE line in the function logs: the canary check proved nothing")
        failed += 1
    else:
        print(f"no artifact credentials in {trace_lines} TRACE lines of the function logs")
        passed += 1
    print(f"e2e samples: {passed} passed, {failed} failed")
    return failed == 0


def run_sample(functions: Functions, control: Control, function: str, event: dict[str, Any], expected: str):
    """Invokes `function` with a sample. A job event is registered first and judged by the kind
    of its one answer; any other event by a needle in the function's output (spaces ignored)."""
    if "CodePipeline.job" in event:
        job_id = control.call("POST", "/codepipeline/jobs", {"event": event})["jobId"]
        functions.invoke(function, event)
        result = control.call("GET", f"/codepipeline/jobs/{job_id}")["result"] or {}
        outcome = result.get("failureDetails", {}).get("type") or result.get("kind") or "NO ANSWER"
        text = result.get("failureDetails", {}).get("message") or result.get("executionDetails", {}).get("summary", "")
        return outcome == expected, text
    invoked = functions.invoke(function, event)
    output = invoked.stdout + invoked.stderr
    ok = expected.replace(" ", "") in output.replace(" ", "").replace("\n", " ")
    return ok, (invoked.stdout or invoked.stderr).strip().replace("\n", " ")


# In this order: the approval waits for ready-for-qa, is rejected before approval-rejected, and
# another execution's production job fails before deployment-failed (an execution whose approval
# was rejected ends there, and approval-rejected alone tells QA). A value is a needle in the
# function's output, or for a job the kind of its one answer.
QA_NOTIFY_EXPECTED = {
    "ready-for-qa.json": '"kind":"ready-for-qa"',
    "other-pipeline.json": '"result":"ignored"',
    "malformed.json": "missing field `execution-id`",
    "approval-rejected.json": '"kind":"approval-rejected"',
    "deployment-failed.json": '"kind":"deployment-failed"',
    "deployed.json": "success",
    "deployed-bad-parameters.json": "ConfigurationError",
}


def seed_release_pipeline(endpoint: str, control: Control) -> str:
    """The release pipeline of the qa-notify samples, its topic (with a queue), and a staging
    refresh of the samples' execution that succeeded. Answers the queue's URL."""
    execution = "3a7c1e52-6b0f-4e9a-9d1c-2f5e8b7a6c41"
    control.call(
        "POST",
        "/codepipeline/pipelines",
        {
            "name": "release",
            "stages": [
                {"name": "Source", "actions": [{"name": "Source", "kind": "source"}]},
                {"name": "Staging", "actions": [{"name": "Refresh", "kind": "lambda"}]},
                {"name": "Approval", "actions": [{"name": "QA", "kind": "approval"}]},
                {"name": "Production", "actions": [{"name": "Refresh", "kind": "lambda"}]},
            ],
        },
    )
    kwargs = dict(
        endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="AKIDLOCALRUN", aws_secret_access_key="local"
    )
    sns, sqs = boto3.client("sns", **kwargs), boto3.client("sqs", **kwargs)
    topic = sns.create_topic(Name="releases")["TopicArn"]
    queue = sqs.create_queue(QueueName="qa-inbox")["QueueUrl"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint="arn:aws:sqs:us-east-1:123456789012:qa-inbox",
        Attributes={"RawMessageDelivery": "true"},
    )
    staging = control.call(
        "POST",
        "/codepipeline/jobs",
        {
            "functionName": "instance-refresh",
            "pipelineName": "release",
            "stageName": "Staging",
            "actionName": "Refresh",
            "pipelineExecutionId": execution,
            "inputArtifacts": [
                {
                    "name": "SourceArtifact",
                    "revision": COMMIT,
                    "revisionSummary": json.dumps({"ProviderType": "GitHub", "CommitMessage": "Fix checkout totals"}),
                }
            ],
        },
    )
    boto3.client("codepipeline", **kwargs).put_job_success_result(jobId=staging["jobId"])
    control.call(
        "POST",
        "/codepipeline/approvals",
        {"pipelineName": "release", "stageName": "Approval", "actionName": "QA", "pipelineExecutionId": execution},
    )
    return queue


def qa_notify_samples(functions: Functions, control: Control, endpoint: str) -> tuple[int, int]:
    passed = failed = 0
    on_disk = {p.name for p in (ROOT / "events" / "qa-notify").glob("*.json")}
    if on_disk != set(QA_NOTIFY_EXPECTED):
        print(f"qa-notify samples and expectations differ: {sorted(on_disk ^ set(QA_NOTIFY_EXPECTED))}")
        failed += 1
    queue = seed_release_pipeline(endpoint, control)
    kwargs = dict(
        endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="AKIDLOCALRUN", aws_secret_access_key="local"
    )
    pipeline = boto3.client("codepipeline", **kwargs)
    for name, expected in QA_NOTIFY_EXPECTED.items():
        event = json.loads((ROOT / "events" / "qa-notify" / name).read_text())
        if name == "approval-rejected.json":
            state = pipeline.get_pipeline_state(name="release")
            token = next(s for s in state["stageStates"] if s["stageName"] == "Approval")["actionStates"][0][
                "latestExecution"
            ]["token"]
            pipeline.put_approval_result(
                pipelineName="release",
                stageName="Approval",
                actionName="QA",
                result={"summary": "Totals wrong for EUR baskets", "status": "Rejected"},
                token=token,
            )
        if name == "deployment-failed.json":
            job = control.call(
                "POST",
                "/codepipeline/jobs",
                {
                    "functionName": "instance-refresh",
                    "pipelineName": "release",
                    "stageName": "Production",
                    "actionName": "Refresh",
                    "pipelineExecutionId": event["detail"]["execution-id"],
                    "inputArtifacts": [
                        {
                            "name": "SourceArtifact",
                            "revision": COMMIT,
                            "revisionSummary": json.dumps(
                                {"ProviderType": "GitHub", "CommitMessage": "Fix checkout totals"}
                            ),
                        }
                    ],
                },
            )
            pipeline.put_job_failure_result(
                jobId=job["jobId"],
                failureDetails={"type": "JobFailed", "message": "instance refresh rolled back: Alarm 5xx is in ALARM"},
            )
        ok, text = run_sample(functions, control, "qa-notify", event, expected)
        passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
        print(f"qa-notify/{name:<30} {'ok' if ok else 'EXPECTED ' + expected:<4} {text[-140:]}")
    received = boto3.client("sqs", **kwargs).receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    kinds = sorted(json.loads(m["Body"])["kind"] for m in received)
    expected_kinds = ["approval-rejected", "deployed", "deployment-failed", "ready-for-qa"]
    ok = kinds == expected_kinds
    passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
    print(f"qa-notify: the subscribed queue received {kinds}" + ("" if ok else f", EXPECTED {expected_kinds}"))
    return passed, failed


# After the qa-notify samples: the release pipeline exists and its QA approval was rejected;
# a new approval of the same execution waits for approval-gate. The staging group is mid-
# refresh (start.json) and the alarm does not exist: the gate must reject, saying both.
APPROVAL_GATE_EXPECTED = {
    "approval-started.json": '"result":"rejected"',
    "approval-succeeded.json": '"result":"ignored"',
    "other-action.json": '"result":"ignored"',
    "malformed.json": "detail.state",
    "production-check.json": "JobFailed",
    "production-check-bad-zone.json": "ConfigurationError",
}


def approval_gate_samples(functions: Functions, control: Control) -> tuple[int, int]:
    passed = failed = 0
    on_disk = {p.name for p in (ROOT / "events" / "approval-gate").glob("*.json")}
    if on_disk != set(APPROVAL_GATE_EXPECTED):
        print(f"approval-gate samples and expectations differ: {sorted(on_disk ^ set(APPROVAL_GATE_EXPECTED))}")
        failed += 1
    control.call(
        "POST",
        "/codepipeline/approvals",
        {
            "pipelineName": "release",
            "stageName": "Approval",
            "actionName": "QA",
            "pipelineExecutionId": "3a7c1e52-6b0f-4e9a-9d1c-2f5e8b7a6c41",
        },
    )
    for name, expected in APPROVAL_GATE_EXPECTED.items():
        event = json.loads((ROOT / "events" / "approval-gate" / name).read_text())
        ok, text = run_sample(functions, control, "approval-gate", event, expected)
        passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
        print(f"approval-gate/{name:<32} {'ok' if ok else 'EXPECTED ' + expected:<4} {text[-160:]}")
    latest = control.call("GET", "/codepipeline/approvals")[-1]
    ok = latest["status"] == "Failed" and (latest["summary"] or "").startswith("approval-gate rejected:")
    passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
    print(f"approval-gate: the approval was answered {latest['status']}: {latest['summary']}")
    return passed, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("flow", choices=["samples"])
    parser.parse_args()
    subprocess.run(
        ["cargo", "build", "--locked", *[a for f in FUNCTIONS for a in ("-p", f)]],
        cwd=ROOT,
        check=True,
    )
    with Emulator(realtime=True) as emulator:
        print(f"emulator: {emulator.endpoint}")
        control = Control(emulator.endpoint)
        functions = Functions(emulator.endpoint, SAMPLE_LOGS)
        try:
            ok = samples(functions, control, emulator.endpoint)
        finally:
            functions.stop()
    print("local run:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

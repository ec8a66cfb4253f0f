"""The fault matrix: every AWS operation each function calls, under four faults, through the real
function binaries (debug builds) run as Lambda runs them (tests/faults/runtime_api.py) against the
emulator, at TRACE, with canary secrets in the events and in the functions' own credentials.

For each scenario a clean run first lists the operations the function calls (the emulator counts
them by access key). Then, for each operation:
  burst    2 throttling errors, which the SDK's retries absorb: the outcome is the clean run's
  outage   503 on every attempt, outlasting the retries
  latency  the answer delayed past the invocation's deadline
  refused  the service's endpoint refusing connections (one cell per service: every operation of it)
and in every cell:
  answered  the job (or approval, lifecycle action, notice) gets its answer before the deadline,
            or, where the answer itself could not be delivered, the invocation fails (so Lambda's
            retry and the on-failure destination keep the event) and a retry answers it;
  once      nothing is answered twice (the emulator counts refused second answers);
  named     a failure a person reads names the operation and the cause;
  canaries  no canary secret in any log line, answer or message.

    python tests/faults/matrix.py [--function NAME] [--kinds burst,outage,latency,refused]

Prints the table and a summary line; exit status 0 only when every check passed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "emulator"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import boto3  # noqa: E402
import local_run  # noqa: E402
from emulator.codepipeline import FAILURE_TYPES  # noqa: E402
from emulator.server import Emulator  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from runtime_api import Outcome, RuntimeApi  # noqa: E402

KINDS = ("burst", "outage", "latency", "refused")
# Each function's own access key: the emulator counts calls by it.
ACCESS_KEY = "AKIDFAULTMATRIX"
# Canaries: the functions' own credentials and the events' artifact credentials. None may appear
# in any output.
CANARIES = {
    "AWS_SECRET_ACCESS_KEY": "CANARY-own-secret-" + uuid.uuid4().hex,
    "AWS_SESSION_TOKEN": "CANARY-own-session-" + uuid.uuid4().hex,
}
ARTIFACT_CREDENTIALS = {
    "accessKeyId": "ASIACANARYMATRIX0000",
    "secretAccessKey": "CANARY-artifact-secret-" + uuid.uuid4().hex,
    "sessionToken": "CANARY-artifact-session-" + uuid.uuid4().hex,
}
SECRETS = [*CANARIES.values(), ARTIFACT_CREDENTIALS["secretAccessKey"], ARTIFACT_CREDENTIALS["sessionToken"]]
# The invocation's time: long enough for the SDK's retries; the latency column uses a shorter one.
BUDGET = 30.0
# Answers that tell a person something failed: a job's failure types, a rejected approval, an
# abandoned instance.
FAILURES = {*FAILURE_TYPES, "Failed", "ABANDON"}
# The variable that points one service's client elsewhere (the SDK's service-specific endpoint).
RECHECK_QUEUE = "lifecycle-rechecks"
# Bounds on following one check's rechecks: emulator seconds waited, deliveries.
MAX_RECHECK_SECONDS, MAX_RECHECKS = 1000, 40
ENDPOINT_VARIABLE = {
    "autoscaling": "AWS_ENDPOINT_URL_AUTO_SCALING",
    "ec2": "AWS_ENDPOINT_URL_EC2",
    "codepipeline": "AWS_ENDPOINT_URL_CODEPIPELINE",
    "elasticloadbalancing": "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2",
    "sns": "AWS_ENDPOINT_URL_SNS",
    "ssm": "AWS_ENDPOINT_URL_SSM",
    "monitoring": "AWS_ENDPOINT_URL_CLOUDWATCH",
    "sqs": "AWS_ENDPOINT_URL_SQS",
    "dynamodb": "AWS_ENDPOINT_URL_DYNAMODB",
}
# Words that name each fault's cause in a message a person reads.
CAUSE = {
    "outage": re.compile(r"ServiceUnavailable|503|server error", re.I),
    "latency": re.compile(r"timed out|timeout|did not answer", re.I),
    "refused": re.compile(r"could not be reached|connect|refused", re.I),
}


@dataclass
class Answer:
    """What a scenario's answer was: its kind (None: unanswered; the clean run's is the reference),
    the text a person reads, second answers AWS refused (a job or approval answered already), and
    second effects nothing refused (a notice published twice)."""

    kind: str | None
    text: str = ""
    refused: int = 0
    extra: int = 0


@dataclass
class Prepared:
    event: dict[str, Any]
    answer: Callable[[], Answer]


@dataclass
class Scenario:
    function: str
    name: str
    prepare: Callable[[Matrix], Prepared]
    env: dict[str, str] = field(default_factory=dict)
    # The latency column: the invocation's time (the job runner keeps 6 s of it, so the calls
    # before the delayed one have 6 s even on a slow machine), and the delay (None: 1 s past it).
    latency_budget: float = 12.0
    latency: float | None = None


@dataclass
class Cell:
    scenario: Scenario
    operation: str  # service:Operation
    kind: str
    verdict: str = ""
    checks: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> None:
        self.checks += 1
        if not ok:
            self.failures.append(what)


class Matrix:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.control = local_run.Control(emulator.endpoint)
        self.leaks = 0
        self.invocations = 0
        # Where lifecycle-health sends a still-warming instance's check (lifecycle_launch makes it).
        self.recheck_queue = f"{emulator.endpoint}/123456789012/{RECHECK_QUEUE}"
        # The function binaries run: the debug builds (the benchmark runs the release ones).
        self.binaries = ROOT / "target" / "debug"

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.emulator.endpoint,
            region_name="us-east-1",
            aws_access_key_id="AKIDSETUP",
            aws_secret_access_key="setup",
        )

    def idle(self) -> None:
        """Waits until no AWS request is being answered (a latency fault holds one)."""
        while self.emulator.world.in_flight:
            time.sleep(0.05)

    def reset(self) -> None:
        # A request a latency fault still holds must not land in the next cell's world.
        self.idle()
        self.control.call("POST", "/reset")

    def invoke(
        self, scenario: Scenario, event: dict[str, Any], budget: float, extra_env: dict[str, str] | None = None
    ) -> tuple[Outcome, str]:
        """Runs the function's binary for one invocation; answers its outcome and its log."""
        api = RuntimeApi()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_NAME": scenario.function,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_LEVEL": "TRACE",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.emulator.endpoint,
            "HEALTH_RECHECK_QUEUE_URL": self.recheck_queue,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            **CANARIES,
            **scenario.env,
            **(extra_env or {}),
        }
        with tempfile.TemporaryFile("w+") as log:
            process = subprocess.Popen(
                [str(self.binaries / scenario.function)], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                api.invoke(event, budget)
                outcome = api.wait(budget + 2)
            finally:
                process.kill()
                process.wait()
                api.close()
            log.seek(0)
            text = log.read()
        self.invocations += 1
        return outcome, text

    def rechecks(self, scenario: Scenario) -> list[tuple[Outcome, str, Any]]:
        """Delivers what the function sent to its recheck queue as the queue's event source mapping
        does: each message once its delay has passed on the emulator's clock (which moves Auto
        Scaling's timers too), in a batch of one; a message the batch reports failed stays for
        the queue to deliver again. Answers each delivery's outcome, log and message."""
        sqs, runs = self.client("sqs"), []
        for _ in range(MAX_RECHECK_SECONDS):
            if not self._queued(sqs):
                break
            messages = sqs.receive_message(QueueUrl=self.recheck_queue, MaxNumberOfMessages=1).get("Messages", [])
            if not messages:
                self.control.call("POST", "/clock/advance", {"seconds": 1})
                continue
            [message] = messages
            batch = {
                "Records": [
                    {
                        "messageId": message["MessageId"],
                        "receiptHandle": message["ReceiptHandle"],
                        "body": message["Body"],
                        "attributes": {"ApproximateReceiveCount": "1"},
                        "messageAttributes": {},
                        "eventSource": "aws:sqs",
                    }
                ]
            }
            outcome, log = self.invoke(scenario, batch, BUDGET)
            if outcome.kind == "response" and not (outcome.body or {}).get("batchItemFailures"):
                sqs.delete_message(QueueUrl=self.recheck_queue, ReceiptHandle=message["ReceiptHandle"])
            runs.append((outcome, log, json.loads(message["Body"])))
            if len(runs) >= MAX_RECHECKS:
                break
        return runs

    def _queued(self, sqs: Any) -> bool:
        attributes = sqs.get_queue_attributes(
            QueueUrl=self.recheck_queue,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesDelayed"]) > 0
        )

    def calls(self) -> dict[str, int]:
        return dict(self.emulator.world.calls.get(ACCESS_KEY, {}))

    def leaked(self, *texts: str) -> list[str]:
        found = [s for s in SECRETS if any(s in t for t in texts)]
        self.leaks += len(found)
        return found


# ---------- scenarios ----------


def job_event(sample: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    event = json.loads((ROOT / "events" / sample).read_text())
    job = event["CodePipeline.job"]
    job["id"] = str(uuid.uuid4())
    job["data"]["artifactCredentials"] = dict(ARTIFACT_CREDENTIALS)
    if parameters is not None:
        job["data"]["actionConfiguration"]["configuration"]["UserParameters"] = json.dumps(parameters)
    return event


def job_answer(matrix: Matrix, job_id: str) -> Callable[[], Answer]:
    def answer() -> Answer:
        record = matrix.control.call("GET", f"/codepipeline/jobs/{job_id}")
        result = record["result"]
        if result is None:
            return Answer(None, refused=record["rejectedAnswers"])
        if result["kind"] == "failure":
            return Answer(
                result["failureDetails"]["type"], result["failureDetails"]["message"], record["rejectedAnswers"]
            )
        return Answer(result["kind"], result.get("executionDetails", {}).get("summary", ""), record["rejectedAnswers"])

    return answer


def registered(matrix: Matrix, event: dict[str, Any]) -> Prepared:
    matrix.control.call("POST", "/codepipeline/jobs", {"event": event})
    return Prepared(event, job_answer(matrix, event["CodePipeline.job"]["id"]))


def counting_refreshes(matrix: Matrix, prepared: Prepared) -> Prepared:
    """The job's answer, and the refreshes of the group: a second one is a second effect."""
    job = prepared.answer

    def answer() -> Answer:
        found = job()
        found.extra = max(0, len(matrix.control.call("GET", "/refreshes")) - 1)
        return found

    return Prepared(prepared.event, answer)


def refresh_start(matrix: Matrix) -> Prepared:
    local_run.seed_group(matrix.emulator.endpoint, desired=2)
    return counting_refreshes(matrix, registered(matrix, job_event("instance-refresh/start.json")))


def refresh_track(matrix: Matrix) -> Prepared:
    """A continuation job for a refresh that has since succeeded: the start ran clean first."""
    start = refresh_start(matrix)
    matrix.invoke(INSTANCE_REFRESH_START, start.event, BUDGET)
    record = matrix.control.call("GET", f"/codepipeline/jobs/{start.event['CodePipeline.job']['id']}")
    token = (record["result"] or {}).get("continuationToken")
    if token is None:
        raise SystemExit(f"the clean start gave no continuation: {record}")
    matrix.control.call("POST", "/settle", {"maxSeconds": 7200})
    matrix.emulator.world.calls.clear()
    event = job_event("instance-refresh/start.json")
    event["CodePipeline.job"]["data"]["continuationToken"] = token
    return counting_refreshes(matrix, registered(matrix, event))


def start_refresh(matrix: Matrix) -> None:
    """A refresh of the seeded group to a new version of its launch template, of the release the
    samples' pipeline execution carries."""
    ec2 = matrix.client("ec2")
    template = ec2.describe_launch_templates()["LaunchTemplates"][0]["LaunchTemplateId"]
    release = {"ResourceType": "instance", "Tags": [{"Key": "deploy:release", "Value": local_run.COMMIT}]}
    version = ec2.create_launch_template_version(
        LaunchTemplateId=template, SourceVersion="1", LaunchTemplateData={"TagSpecifications": [release]}
    )
    matrix.client("autoscaling").start_instance_refresh(
        AutoScalingGroupName=local_run.GROUP,
        DesiredConfiguration={
            "LaunchTemplate": {
                "LaunchTemplateId": template,
                "Version": str(version["LaunchTemplateVersion"]["VersionNumber"]),
            }
        },
        Preferences={"MinHealthyPercentage": 0},
    )


def lifecycle_launch(matrix: Matrix) -> Prepared:
    # A refresh to version 2 launches an instance the hook holds in Pending:Wait.
    local_run.seed_group(matrix.emulator.endpoint, desired=1, hook=True)
    start_refresh(matrix)
    matrix.control.call("POST", "/clock/advance", {"seconds": 2})
    action = matrix.control.call("GET", "/lifecycle-actions")[0]
    matrix.client("ec2").create_tags(
        Resources=[action["EC2InstanceId"]], Tags=[{"Key": "bootstrap", "Value": "complete"}]
    )
    event = json.loads((ROOT / "events" / "lifecycle-health" / "launch.json").read_text())
    # The action's wait is counted from the event's time: now, as AWS would send it.
    event["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event["detail"].update(
        {
            "LifecycleActionToken": action["LifecycleActionToken"],
            "EC2InstanceId": action["EC2InstanceId"],
            "AutoScalingGroupName": local_run.GROUP,
        }
    )
    token = action["LifecycleActionToken"]
    matrix.client("sqs").create_queue(QueueName=RECHECK_QUEUE)

    def answer() -> Answer:
        found = next(a for a in matrix.control.call("GET", "/lifecycle-actions") if a["LifecycleActionToken"] == token)
        return Answer(found["Result"])

    return Prepared(event, answer)


def notices_sent_table(matrix: Matrix) -> None:
    """qa-notify's record of notices sent, as template.yaml makes it."""
    matrix.client("dynamodb").create_table(
        TableName=SENT_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "notice", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "notice", "KeyType": "HASH"}],
    )


def qa_ready(matrix: Matrix) -> Prepared:
    local_run.seed_release_pipeline(matrix.emulator.endpoint, matrix.control)
    notices_sent_table(matrix)
    event = json.loads((ROOT / "events" / "qa-notify" / "ready-for-qa.json").read_text())

    def answer() -> Answer:
        published = [m for m in matrix.control.call("GET", "/sns/published") if m["topicArn"] == local_run.TOPIC_ARN]
        # A notice is one message; a second one is an answer given twice.
        subjects = [m["subject"] for m in published]
        return Answer("published" if published else None, json.dumps(subjects), extra=max(0, len(published) - 1))

    return Prepared(event, answer)


def notices(matrix: Matrix) -> int:
    return sum(1 for m in matrix.control.call("GET", "/sns/published") if m["topicArn"] == local_run.TOPIC_ARN)


def qa_deployed(matrix: Matrix) -> Prepared:
    """The job's answer, and the notice it sends: a second one is a second effect."""
    local_run.seed_release_pipeline(matrix.emulator.endpoint, matrix.control)
    notices_sent_table(matrix)
    prepared = registered(matrix, job_event("qa-notify/deployed.json"))
    job = prepared.answer

    def answer() -> Answer:
        found = job()
        found.extra = max(0, notices(matrix) - 1)
        return found

    return Prepared(prepared.event, answer)


def gate_world(matrix: Matrix, alarm: str) -> None:
    local_run.seed_release_pipeline(matrix.emulator.endpoint, matrix.control)
    local_run.seed_group(matrix.emulator.endpoint, desired=1)
    # Staging's refresh succeeded: the gate's refresh check passes.
    start_refresh(matrix)
    matrix.control.call("POST", "/settle", {"maxSeconds": 7200})
    matrix.client("cloudwatch").put_metric_alarm(
        AlarmName=alarm,
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
    )
    matrix.client("cloudwatch").set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="quiet")


def gate_approval(matrix: Matrix) -> Prepared:
    gate_world(matrix, "web-staging-5xx")
    event = json.loads((ROOT / "events" / "approval-gate" / "approval-started.json").read_text())

    def answer() -> Answer:
        approvals = matrix.control.call("GET", "/codepipeline/approvals")
        latest = approvals[-1]
        status = None if latest["status"] == "InProgress" else latest["status"]
        return Answer(status, latest["summary"] or "", latest["rejectedAnswers"])

    return Prepared(event, answer)


def gate_production(matrix: Matrix) -> Prepared:
    gate_world(matrix, "web-production-5xx")
    parameters = {
        "pipeline": "release",
        "pipelineExecutionId": "3a7c1e52-6b0f-4e9a-9d1c-2f5e8b7a6c41",
        "alarms": ["web-production-5xx"],
    }
    return registered(matrix, job_event("approval-gate/production-check.json", parameters))


SENT_TABLE = "notices-sent"
QA_ENV = {k: v for k, v in local_run.QA_NOTIFY_ENV.items() if k.startswith("QA_")} | {
    "QA_NOTIFY_SENT_TABLE": SENT_TABLE
}
# Approving when every check passes, so the clean run answers the approval.
GATE_ENV = {k: v for k, v in local_run.QA_NOTIFY_ENV.items() if k.startswith("GATE_")} | {"GATE_AUTO_APPROVE": "true"}
INSTANCE_REFRESH_START = Scenario("instance-refresh", "start", refresh_start)
SCENARIOS = [
    INSTANCE_REFRESH_START,
    Scenario("instance-refresh", "track", refresh_track),
    # Its invocations must be long enough to wait in (18 s by default); each call is bounded at
    # 3 s (HEALTH_CALL_TIMEOUT_SECONDS), so a 5 s delay is past it.
    Scenario("lifecycle-health", "launch", lifecycle_launch, latency_budget=25.0, latency=5.0),
    Scenario("qa-notify", "ready-for-qa", qa_ready, env=QA_ENV),
    Scenario("qa-notify", "deployed", qa_deployed, env=QA_ENV),
    Scenario("approval-gate", "approval", gate_approval, env=GATE_ENV),
    Scenario("approval-gate", "production-check", gate_production, env=GATE_ENV),
]


# ---------- one cell ----------


def fault_for(kind: str, operation: str, delay: float) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The emulator fault (or the endpoint variable) that makes `kind` happen to `operation`."""
    service, name = operation.split(":", 1)
    if kind == "burst":
        return {"service": service, "operation": name, "kind": "throttle", "count": 2}, {}
    if kind == "outage":
        return {"service": service, "operation": name, "kind": "error", "status": 503}, {}
    if kind == "latency":
        return {"service": service, "operation": name, "kind": "latency", "latencyMs": int(delay * 1000)}, {}
    # A port freed at once: nothing listens there, so connections are refused.
    return None, {ENDPOINT_VARIABLE[service]: f"http://127.0.0.1:{local_run.free_port()}"}


def run_cell(matrix: Matrix, cell: Cell, clean: Answer) -> None:
    scenario = cell.scenario
    matrix.reset()
    prepared = scenario.prepare(matrix)
    budget = scenario.latency_budget if cell.kind == "latency" else BUDGET
    fault, env = fault_for(cell.kind, cell.operation, scenario.latency or budget + 1)
    if fault is not None:
        matrix.emulator.world.faults.add(fault)
    outcome, log = matrix.invoke(scenario, prepared.event, budget, env)
    matrix.emulator.world.faults.reset()
    texts = [log, json.dumps(outcome.body)]
    # A check sent to the recheck queue: the queue delivers it (AWS has recovered by then).
    handed = matrix.rechecks(scenario) if scenario.function == "lifecycle-health" else []
    if handed:
        cell.check(outcome.kind == "response", f"it sent a recheck, yet ended with {outcome.kind}")
    for delivered, next_log, payload in handed:
        failures = (delivered.body or {}).get("batchItemFailures") if delivered.kind == "response" else None
        cell.check(failures == [], f"a recheck failed: {json.dumps(delivered.body)[:240]}")
        texts += [next_log, json.dumps(payload), json.dumps(delivered.body)]
    # A request the function gave up on may still land, as it may on AWS: judge after it has.
    matrix.idle()
    first = prepared.answer()
    texts.append(first.text)
    operation = cell.operation.split(":", 1)[1]
    cell.check(outcome.kind != "timeout", f"the invocation ran past its deadline ({budget:.0f} s) and would be killed")
    cell.check(outcome.seconds <= budget, f"it ended after the deadline ({outcome.seconds:.1f} s of {budget:.0f})")
    cell.check(first.refused == 0, f"{first.refused} second answer(s) refused within one invocation")
    final = first
    if outcome.kind == "error":
        # Lambda retries a failed invocation (then the on-failure destination keeps it). An error
        # is right only when nobody could be told; the retry must answer, or find it answered.
        message = json.dumps(outcome.body)
        if first.kind is None:
            cell.check(
                operation in message or cell.kind == "refused",
                f"the invocation error does not name {operation}: {message[:240]}",
            )
        retried, retry_log = matrix.invoke(scenario, prepared.event, BUDGET)
        matrix.idle()
        final = prepared.answer()
        texts += [retry_log, final.text, json.dumps(retried.body)]
        cell.check(retried.kind == "response", f"the retry ended with {retried.kind}: {json.dumps(retried.body)[:160]}")
        cell.check(final.kind is not None, "the retry did not answer either")
        if first.kind is not None:
            cell.check((final.kind, final.text) == (first.kind, first.text), "the retry changed the answer")
        cell.verdict = f"{first.kind or 'unanswered'}, error; retry: {final.kind}"
    else:
        cell.verdict = (f"{len(handed)} recheck(s); " if handed else "") + (final.kind or "unanswered")
        cell.check(final.kind is not None, f"no answer, and the invocation ended with {outcome.kind}")
    cell.check(final.extra == 0, f"{final.extra} second effect(s): answered twice")
    if cell.kind == "burst":
        cell.check(final.kind == clean.kind, f"a burst the SDK's retries absorb changed the answer to {final.kind}")
    if final.kind in FAILURES and final.kind != clean.kind:
        # A failure a person reads names the operation (for a refusing endpoint, the service)
        # and the cause. (A retry may find the work further on than the clean run did: a
        # refresh that has since finished is a success, not a failure.)
        service = cell.operation.split(":")[0]
        named = operation in final.text or (cell.kind == "refused" and service in final.text)
        cell.check(named, f"the answer does not name {operation}: {final.text[:160]}")
        cause = CAUSE.get(cell.kind)
        cell.check(
            cause is None or bool(cause.search(final.text)), f"the answer does not name the cause: {final.text[:160]}"
        )
    leaked = matrix.leaked(*texts)
    cell.check(not leaked, f"canary leaked: {[s[:20] for s in leaked]}")


# The duplicates column: EventBridge and CodePipeline deliver at least once, and Lambda may run
# copies at once.
DUPLICATES = "3 at once"
EVERY = "(the same event)"


def run_duplicates(matrix: Matrix, cell: Cell, clean: Answer) -> None:
    """The same event to three invocations at once: the effect of one delivery."""
    scenario = cell.scenario
    matrix.reset()
    prepared = scenario.prepare(matrix)
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(lambda _: matrix.invoke(scenario, prepared.event, BUDGET), range(3)))
    if scenario.function == "lifecycle-health":
        for delivered, log, _ in matrix.rechecks(scenario):
            runs.append((delivered, log))
    matrix.idle()
    final = prepared.answer()
    for outcome, _ in runs:
        cell.check(outcome.kind == "response", f"a copy ended with {outcome.kind}: {json.dumps(outcome.body)[:160]}")
    cell.check(final.kind == clean.kind, f"answered {final.kind}, the clean run {clean.kind}")
    cell.check(final.extra == 0, f"{final.extra} second effect(s)")
    cell.verdict = f"{final.kind}, once" if not final.extra else f"{final.kind}, {final.extra + 1} times"
    leaked = matrix.leaked(final.text, *(log for _, log in runs), *(json.dumps(o.body) for o, _ in runs))
    cell.check(not leaked, f"canary leaked: {[s[:20] for s in leaked]}")


def clean_run(matrix: Matrix, scenario: Scenario) -> tuple[Answer, list[str]]:
    matrix.reset()
    prepared = scenario.prepare(matrix)
    matrix.emulator.world.calls.clear()
    outcome, log = matrix.invoke(scenario, prepared.event, BUDGET)
    answer = prepared.answer()
    if answer.kind is None:
        raise SystemExit(f"{scenario.function} {scenario.name}: the clean run gave no answer ({outcome}): {answer}")
    leaked = matrix.leaked(log, answer.text, json.dumps(outcome.body))
    if leaked:
        raise SystemExit(f"{scenario.function} {scenario.name}: canary leaked in the clean run")
    return answer, sorted(matrix.calls())


# One cell as a worker reports it: function, scenario, operation, kind, verdict, checks, failures.
CellRow = tuple[str, str, str, str, str, int, list[str]]


@dataclass
class ScenarioRun:
    lines: list[str]
    cells: list[CellRow]
    invocations: int
    leaks: int


def run_scenario(index: int, kinds: list[str], duplicates: bool) -> ScenarioRun:
    """One scenario's clean run and cells, on an emulator of its own (a worker process)."""
    scenario = SCENARIOS[index]
    lines: list[str] = []
    cells: list[Cell] = []
    with Emulator(realtime=True) as emulator:
        matrix = Matrix(emulator)
        clean, operations = clean_run(matrix, scenario)
        lines.append(f"{scenario.function} {scenario.name}: clean run {clean.kind}; calls {', '.join(operations)}")
        refused_services: set[str] = set()
        for operation in operations:
            for kind in kinds:
                service = operation.split(":")[0]
                if kind == "refused":
                    if service in refused_services:
                        continue  # the whole service refuses: one cell covers its operations
                    refused_services.add(service)
                cell = Cell(scenario, operation, kind)
                run_cell(matrix, cell, clean)
                cells.append(cell)
                mark = "ok" if not cell.failures else "FAILED: " + "; ".join(cell.failures)
                lines.append(f"  {operation:<44} {kind:<8} {cell.verdict:<40} {mark}")
        if duplicates:
            cell = Cell(scenario, EVERY, DUPLICATES)
            run_duplicates(matrix, cell, clean)
            cells.append(cell)
            mark = "ok" if not cell.failures else "FAILED: " + "; ".join(cell.failures)
            lines.append(f"  {EVERY:<44} {DUPLICATES:<8} {cell.verdict:<40} {mark}")
        return ScenarioRun(
            lines,
            [(scenario.function, scenario.name, c.operation, c.kind, c.verdict, c.checks, c.failures) for c in cells],
            matrix.invocations,
            matrix.leaks,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--function", choices=sorted({s.function for s in SCENARIOS}))
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--no-duplicates", action="store_true", help="skip the same event three times at once")
    parser.add_argument(
        "--jobs", type=int, default=len(SCENARIOS), help="scenarios run side by side (they mostly wait)"
    )
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    subprocess.run(
        ["cargo", "build", "--locked", *[a for f in local_run.FUNCTIONS for a in ("-p", f)]], cwd=ROOT, check=True
    )
    console = Console(width=200)
    started = time.monotonic()
    chosen = [i for i, s in enumerate(SCENARIOS) if not args.function or s.function == args.function]
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = list(pool.map(run_scenario, chosen, [kinds] * len(chosen), [not args.no_duplicates] * len(chosen)))
    for run in runs:
        for line in run.lines:
            console.print(line, highlight=False)
    cells = [cell for run in runs for cell in run.cells]
    invocations, leaks = sum(r.invocations for r in runs), sum(r.leaks for r in runs)
    table = Table(title="fault matrix: the answer in each cell (· : covered by the service's first operation)")
    if not args.no_duplicates:
        kinds.append(DUPLICATES)
    for column in ("function", "scenario", "operation", *kinds):
        table.add_column(column, no_wrap=column == "operation")
    rows: dict[tuple[str, str, str], dict[str, tuple[str, list[str]]]] = {}
    for function, name, operation, kind, verdict, _, failures in cells:
        rows.setdefault((function, name, operation), {})[kind] = (verdict, failures)
    for (function, name, operation), by_kind in rows.items():
        shown = []
        for kind in kinds:
            verdict, failures = by_kind.get(kind, ("·", []))
            shown.append(f"[red]FAILED {verdict}" if failures else verdict)
        table.add_row(function, name, operation, *shown)
    console.print(table)
    failed = [c for c in cells if c[6]]
    for function, name, operation, kind, _, _, failures in failed:
        console.print(f"FAILED {function} {name} {operation} {kind}: {failures}", highlight=False)
    checks = sum(c[5] for c in cells)
    failures = sum(len(c[6]) for c in cells)
    console.print(
        f"fault matrix: {len(cells)} cells tried, {checks - failures} invariant checks passed, {failures} failed, "
        f"{invocations} invocations of the real binaries, canaries leaked ({leaks}), "
        f"{time.monotonic() - started:.0f} s",
        highlight=False,
    )
    record(
        "matrix",
        {
            "cells": len(cells),
            "checksPassed": checks - failures,
            "checksFailed": failures,
            "invocations": invocations,
            "canariesLeaked": leaks,
        },
    )
    return 0 if not failed and leaks == 0 else 1


def record(name: str, figures: dict[str, Any]) -> None:
    """Keeps a run's figures for tests/faults/summary.py (target/reliability/NAME.json)."""
    directory = ROOT / "target" / "reliability"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps(figures))


if __name__ == "__main__":
    sys.exit(main())

"""A whole release on this machine, through the stack `sam deploy` puts into the emulator: a commit
pushed to a local Git repository starts the deployed pipelines, the emulator plays them, the
real function binaries answer, and the example fleet is replaced instance by instance, each new
instance booting its real user data and let in by lifecycle-health.

    scripts/local-run [SCENARIO] [--real-time] [--interactive]

Scenarios:
  release            commit -> staging -> QA told -> approval-gate checks -> QA approves ->
                     production (approval-gate again) -> QA told "deployed"   (the default)
  bad-release        a good release waits for QA on staging; the next commit's Puppet manifest
                     fails the boot, staging rolls back to the good release, QA is told why
  unhealthy-staging  staging's 5xx alarm fires after the refresh: approval-gate rejects the
                     waiting approval with its evidence, QA is told
  window-closed      ops freeze production while QA tests; the approved release waits in
                     approval-gate's production check until the freeze ends, then goes out
  dev                a commit on the dev branch refreshes dev

Exit status 0 only when the scenario ends as expected; otherwise the summary names what diverged.
Logs (functions, boots, sam deploy) go to .local-run/logs; the summary names them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "emulator"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import local_deploy  # noqa: E402
import local_run  # noqa: E402
from emulator.server import Emulator  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.live import Live  # noqa: E402
from rich.progress_bar import ProgressBar  # noqa: E402
from rich.prompt import Confirm  # noqa: E402
from rich.table import Table  # noqa: E402

WORK = ROOT / ".local-run"
STACK = local_deploy.stack_name()
RELEASE_PIPELINE, DEV_PIPELINE = f"{STACK}-release", f"{STACK}-dev"
GROUPS = {"dev": "web-dev", "staging": "web-staging", "production": "web-production"}
REPOSITORY = "local/shop"  # samconfig.toml's local RepositoryId
ALARM = "web-staging-5xx"
SCENARIOS = ("release", "bad-release", "unhealthy-staging", "window-closed", "dev")
CAPACITY = 2


@dataclass(frozen=True)
class Pace:
    """How long the emulator lets AWS's own waits take: the share of each instance warmup it
    waits, and the pause before CodePipeline re-invokes a function that asked to continue. The
    functions always run on real time."""

    warmup_share: float
    reinvoke_seconds: float


FAST = Pace(warmup_share=0.05, reinvoke_seconds=2.0)
REAL_TIME = Pace(warmup_share=1.0, reinvoke_seconds=30.0)


def git(repo: Path, *args: str) -> str:
    identity = {
        "GIT_AUTHOR_NAME": "Dana Developer",
        "GIT_AUTHOR_EMAIL": "dana@shop.local",
        "GIT_COMMITTER_NAME": "Dana Developer",
        "GIT_COMMITTER_EMAIL": "dana@shop.local",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(repo.parent),
    }
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=identity)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


APP_START = "#!/bin/sh\n# The shop's web server (stands in for the application).\nexec sleep infinity\n"
BROKEN_MANIFEST = (
    "node default {\n  # The release needs a database migration that is not in this commit.\n"
    "  fail('database migration 0042_checkout_totals is missing')\n}\n"
)


@dataclass
class Observed:
    """What the run has printed so far, so each line is printed once."""

    events: int = 0
    invocations: int = 0
    boots: set[str] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)


class LocalRelease:
    def __init__(self, scenario: str, pace: Pace, interactive: bool, console: Console) -> None:
        self.scenario, self.pace, self.interactive, self.console = scenario, pace, interactive, console
        self.started = time.time()
        self.work = WORK / scenario
        self.logs = self.work / "logs"
        self.repo = self.work / "repo"
        self.observed = Observed()
        self.diverged: list[str] = []
        self.live: Live | None = None
        self.emulator: Emulator | None = None
        self.inbox_seen: list[str] = []

    # ---------- setting up ----------

    def prepare(self) -> None:
        if self.work.exists():
            shutil.rmtree(self.work)
        self.logs.mkdir(parents=True)
        self.say(
            f"building the four functions (debug; a first build takes minutes here, see {self.logs / 'cargo-build.log'})"
        )
        done = subprocess.run(
            ["cargo", "build", "--locked", *[a for f in local_deploy.FUNCTIONS for a in ("-p", f)]],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=open(self.logs / "cargo-build.log", "w"),
        )
        if done.returncode != 0:
            raise SystemExit(f"cargo build failed: see {self.logs / 'cargo-build.log'}")

    def start_emulator(self) -> Emulator:
        emulator = Emulator(realtime=True, functions=ROOT)
        world = emulator.world
        world.lambdas.log_dir = self.logs
        world.boot.configure(
            self.work / "instances", [str(ROOT / "tests" / "fleet" / "stand-ins"), str(ROOT / ".venv-fleet" / "bin")]
        )
        world.autoscaling.pace = self.pace.warmup_share
        world.pipelines.reinvoke_seconds = self.pace.reinvoke_seconds
        self.emulator = emulator.start()
        return emulator

    def client(self, service: str) -> Any:
        assert self.emulator is not None
        return local_deploy.client(self.emulator.endpoint, service)

    def deploy(self, extra: list[str], label: str) -> None:
        assert self.emulator is not None
        self.say(f"sam deploy: {label}")
        started = time.time()
        directory = local_deploy.stage(into=self.work / "stack")
        code, output = local_deploy.sam_deploy(
            self.emulator.endpoint,
            directory,
            [f"FleetDesiredCapacity={CAPACITY}", f"GateAlarmNames={ALARM}", *extra],
            echo=False,
        )
        with open(self.logs / "sam-deploy.log", "a") as log:
            log.write(output)
        if code != 0:
            raise SystemExit(f"sam deploy failed (exit {code}): see {self.logs / 'sam-deploy.log'}")
        self.say(f"sam deploy: stack {STACK} ready in {time.time() - started:.1f} s")
        self.start_functions()

    def start_functions(self) -> None:
        """One `cargo lambda watch` per deployed function, started now rather than on the first
        event (Lambda has a cold start, never a refused connection)."""
        assert self.emulator is not None
        world = self.emulator.world
        with world.lock:
            served = [
                fn for fn in world.lambdas.find_all("123456789012", local_deploy.REGION) if world.lambdas.serves(fn)
            ]
        threads = [threading.Thread(target=world.lambdas.watch_for, args=(fn, False)) for fn in served]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def seed(self) -> None:
        """What a team has before its first release: the repository, each environment's secrets,
        staging's 5xx alarm, and a queue subscribed to the QA topic (the QA inbox)."""
        assert self.emulator is not None
        self.repo.mkdir(parents=True)
        git(self.repo, "init", "-q", "-b", "main")
        self.commit("Shop 1.0", {"bin/start": APP_START, "VERSION": "1.0\n"})
        git(self.repo, "branch", "develop")
        self.control("POST", "/codepipeline/sources", {"repositoryId": REPOSITORY, "path": str(self.repo)})
        ssm, secrets = self.client("ssm"), self.client("secretsmanager")
        for stage in GROUPS:
            ssm.put_parameter(Name=f"/web/{stage}/database-password", Value=f"local-{stage}-db", Type="SecureString")
            secrets.create_secret(Name=f"web/{stage}", SecretString=json.dumps({"API_KEY": f"local-{stage}-key"}))
        cloudwatch = self.client("cloudwatch")
        cloudwatch.put_metric_alarm(
            AlarmName=ALARM,
            Namespace="AWS/ApplicationELB",
            MetricName="HTTPCode_Target_5XX_Count",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=5,
            ComparisonOperator="GreaterThanThreshold",
        )
        cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="no 5xx in the last minute")
        topic = self.physical_id("QaTopic")
        sqs = self.client("sqs")
        self.inbox = sqs.create_queue(QueueName="qa-inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=self.inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.client("sns").subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"}
        )

    def physical_id(self, logical_id: str) -> str:
        assert self.emulator is not None
        resources = local_deploy.stack_resources(self.emulator.endpoint, STACK)
        return next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == logical_id)

    def commit(self, message: str, files: dict[str, str], branch: str = "main") -> str:
        if git(self.repo, "symbolic-ref", "--short", "HEAD") != branch:
            git(self.repo, "checkout", "-q", branch)
        for name, text in files.items():
            path = self.repo / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            if name.startswith("bin/"):
                path.chmod(0o755)
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-q", "-m", message)
        return git(self.repo, "rev-parse", "HEAD")

    def push(self, branch: str = "main") -> str:
        sha = git(self.repo, "rev-parse", branch)
        started = self.control("POST", "/codepipeline/webhook", {"repositoryId": REPOSITORY, "branch": branch})[
            "started"
        ]
        self.say(
            f'git push {branch} ({sha[:7]} "{git(self.repo, "log", "-1", "--format=%s", sha)}"): started {len(started)} execution(s)'
        )
        if len(started) != 1:
            raise SystemExit(
                f"a push to {branch} should start exactly one pipeline execution, it started {len(started)}"
            )
        return started[0]

    def control(self, method: str, path: str, body: Any = None) -> Any:
        assert self.emulator is not None
        return local_run.Control(self.emulator.endpoint).call(method, path, body)

    # ---------- watching ----------

    def say(self, text: str) -> None:
        self.console.print(f"[dim]{time.time() - self.started:6.1f}s[/dim]  {text}")

    def wait_for(self, what: str, done: Callable[[], bool], limit: float) -> bool:
        deadline = time.time() + limit
        while time.time() < deadline:
            self.report()
            if done():
                return True
            time.sleep(0.4)
        self.report()
        self.diverged.append(f"waited {limit:.0f} s for {what}")
        self.say(f"[red]gave up waiting for {what}[/red]")
        return False

    def report(self) -> None:
        """Prints what happened since the last look, and redraws the live panel."""
        assert self.emulator is not None
        world = self.emulator.world
        with world.lock:
            events = list(world.events.events[self.observed.events :])
            self.observed.events += len(events)
            actions = [
                a for a in world.autoscaling.actions if a.result is not None and a.token not in self.observed.actions
            ]
            self.observed.actions.update(a.token for a in actions)
        invocations = [i for i in world.lambdas.invocations[self.observed.invocations :] if "finished" in i]
        self.observed.invocations += len(invocations)
        for event in events:
            line = describe(event)
            if line:
                self.say(line)
        for call in invocations:
            self.say(describe_invocation(call, world.codepipeline.jobs))
        for action in actions:
            colour = "green" if action.result == "CONTINUE" else "red"
            self.say(f"lifecycle {action.group}: {action.instance_id} [{colour}]{action.result}[/{colour}]")
        for boot in world.boot.records:
            if boot.finished is not None and boot.instance_id not in self.observed.boots:
                self.observed.boots.add(boot.instance_id)
                verdict = (
                    "[green]bootstrap=complete[/green]"
                    if boot.exit_code == 0
                    else f"[red]bootstrap=failed (exit {boot.exit_code})[/red]"
                )
                self.say(
                    f"boot {boot.group}: {boot.instance_id} ran its user data in {boot.finished - boot.started:.1f} s: {verdict}"
                )
        if self.live is not None:
            self.live.update(self.panel())

    def panel(self) -> Table:
        assert self.emulator is not None
        world = self.emulator.world
        table = Table(title="now", expand=False, show_header=True, header_style="bold")
        table.add_column("pipeline / group")
        table.add_column("stage / progress")
        table.add_column("status")
        with world.lock:
            for e in world.pipelines.executions[-3:]:
                commit = e.variables.get("SourceVariables", {}).get("CommitId", "")[:7]
                stages = " → ".join(f"{s}:{st}" for s, st in e.stage_status.items())
                table.add_row(f"{e.pipeline} {commit}", stages, e.status)
            for r in world.autoscaling.refreshes[-3:]:
                current = r.rollback or r.forward
                percent = current.percent() if current else 0
                bar = ProgressBar(total=100, completed=percent, width=24)
                done = f" ({current.replaced}/{current.total} replaced)" if current else ""
                table.add_row(f"refresh {r.group}", bar, f"{r.status} {percent}%{done}")
        return table

    # ---------- what the pipelines and the fleet say ----------

    def execution(self, execution_id: str, pipeline: str = RELEASE_PIPELINE) -> dict[str, Any]:
        return self.client("codepipeline").get_pipeline_execution(
            pipelineName=pipeline, pipelineExecutionId=execution_id
        )["pipelineExecution"]

    def status(self, execution_id: str, pipeline: str = RELEASE_PIPELINE) -> str:
        return self.execution(execution_id, pipeline)["status"]

    def approval_waiting(self, execution_id: str) -> str | None:
        state = self.client("codepipeline").get_pipeline_state(name=RELEASE_PIPELINE)
        stage = next(s for s in state["stageStates"] if s["stageName"] == "Approval")
        latest = stage["actionStates"][0].get("latestExecution") or {}
        if (stage.get("latestExecution") or {}).get("pipelineExecutionId") == execution_id and latest.get(
            "status"
        ) == "InProgress":
            return latest.get("token")
        return None

    def gate_answered(self, execution_id: str) -> dict[str, Any] | None:
        """approval-gate's answer to this execution's approval STARTED event, when it has given one."""
        assert self.emulator is not None
        for call in list(self.emulator.world.lambdas.invocations):
            about = call.get("event", "")
            if (
                call["function"].endswith("approval-gate")
                and "finished" in call
                and "STARTED" in about
                and execution_id in about
            ):
                try:
                    return json.loads(call.get("response") or "{}")
                except ValueError:
                    return {"result": call.get("response")}
        return None

    def qa_approves(self, execution_id: str, token: str) -> None:
        """QA reads qa-notify's e-mail, tests staging, then answers the approval."""
        self.wait_for(
            "qa-notify's ready-for-qa message in the QA inbox", lambda: "ready-for-qa" in self.inbox_kinds(), 60
        )
        self.show_latest_email()
        approved = True
        if self.interactive:
            if self.live is not None:
                self.live.stop()  # the prompt needs the terminal to itself
            approved = Confirm.ask("You are QA: approve this release for production?", console=self.console)
            if self.live is not None:
                self.live.start()
        if not approved:
            summary, status = "Rejected by QA at the terminal", "Rejected"
        else:
            summary, status = "Checked on staging: checkout totals are right", "Approved"
        qa = local_deploy.client(self.emulator.endpoint, "codepipeline", "AKIDQAPERSON")  # type: ignore[union-attr]
        qa.put_approval_result(
            pipelineName=RELEASE_PIPELINE, stageName="Approval", actionName="QA", token=token,
            result={"status": status, "summary": summary},
        )  # fmt: skip
        self.say(f"QA: {status.lower()} ({summary})")

    def show_latest_email(self) -> None:
        assert self.emulator is not None
        published = self.emulator.world.sns.published
        if not published:
            return
        message = published[-1]
        body = message["protocolBodies"].get("email") or message["message"]
        self.console.rule(f"[bold]e-mail to QA: {message.get('subject')}")
        self.console.print(body, markup=False, highlight=False)
        self.console.rule()

    def fleet(self, stage: str) -> list[dict[str, str]]:
        asg, ec2 = self.client("autoscaling"), self.client("ec2")
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUPS[stage]])["AutoScalingGroups"][0]
        rows = []
        for instance in group["Instances"]:
            tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance["InstanceId"]]}])["Tags"]
            found = {t["Key"]: t["Value"] for t in tags}
            rows.append(
                {
                    "instance": instance["InstanceId"],
                    "state": instance["LifecycleState"],
                    "version": instance.get("LaunchTemplate", {}).get("Version", "?"),
                    "release": found.get("deploy:release", "-"),
                    "bootstrap": found.get("bootstrap", "-"),
                }
            )
        return rows

    def inbox_kinds(self) -> list[str]:
        sqs = self.client("sqs")
        kinds = []
        while True:
            got = sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
                "Messages", []
            )
            if not got or len(kinds) > 50:
                break
            for message in got:
                kinds.append(json.loads(message["Body"]).get("kind", "?"))
                sqs.delete_message(QueueUrl=self.inbox, ReceiptHandle=message["ReceiptHandle"])
        self.inbox_seen += kinds
        return self.inbox_seen

    def expect(self, what: str, ok: bool) -> None:
        self.say(f"{'[green]✓[/green]' if ok else '[red]✗[/red]'} {what}")
        if not ok:
            self.diverged.append(what)

    def expect_fleet(self, stage: str, release: str) -> None:
        rows = self.fleet(stage)
        ok = len(rows) == CAPACITY and all(
            r["release"] == release and r["bootstrap"] == "complete" and r["state"] == "InService" for r in rows
        )
        self.expect(f"{GROUPS[stage]} runs {release[:7]} on {CAPACITY} booted instances in service", ok)

    def expect_inbox(self, *kinds: str, maybe: tuple[str, ...] = ()) -> None:
        """The inbox holds `kinds`, and of `maybe` (notices a race may leave out) nothing else."""

        def holds() -> bool:
            seen = set(self.inbox_kinds())
            return set(kinds) <= seen <= set(kinds) | set(maybe)

        deadline = time.time() + 20
        while time.time() < deadline and not holds():
            self.report()
            time.sleep(0.5)
        optional = f" (and perhaps {', '.join(maybe)})" if maybe else ""
        self.expect(
            f"the QA inbox holds {', '.join(kinds)}{optional} (it holds {', '.join(self.inbox_seen) or 'nothing'})",
            holds(),
        )


def describe(event: dict[str, Any]) -> str | None:
    """One timeline line for an event the run cares about."""
    kind, d = event["detail-type"], event["detail"]
    short = lambda s: str(s).replace(f"{STACK}-", "")  # noqa: E731
    if kind == "CodePipeline Pipeline Execution State Change":
        colour = {"SUCCEEDED": "green", "FAILED": "red", "SUPERSEDED": "yellow"}.get(d["state"], "cyan")
        return (
            f"[bold]{short(d['pipeline'])}[/bold] execution {d['execution-id'][:8]} [{colour}]{d['state']}[/{colour}]"
        )
    if kind == "CodePipeline Stage Execution State Change":
        return f"{short(d['pipeline'])} {d['execution-id'][:8]}  stage [bold]{d['stage']}[/bold] {d['state']}"
    if kind == "CodePipeline Action Execution State Change":
        return f"{short(d['pipeline'])} {d['execution-id'][:8]}    {d['stage']}/{d['action']} {d['state']}"
    if kind.startswith("EC2 Auto Scaling Instance Refresh"):
        return f"refresh {d.get('AutoScalingGroupName')}: {kind.removeprefix('EC2 Auto Scaling Instance Refresh ').lower()}"
    return None


def describe_invocation(call: dict[str, Any], jobs: dict[str, Any]) -> str:
    seconds = call["finished"] - call["started"]
    response = call.get("response") or ""
    about = call.get("event", "")
    if about.startswith("CodePipeline job "):
        job = jobs.get(about.removeprefix("CodePipeline job "))
        result = (job.result if job else None) or {}
        if job is not None:
            about = f"{job.stage}/{job.action} job {job.id[:8]}"
        if result.get("kind") == "failure":
            response = json.dumps({"result": f"[red]failed[/red]: {result['failureDetails'].get('message', '')}"})
        elif result:
            summary = (result.get("executionDetails") or {}).get("summary", "")
            response = json.dumps({"result": f"{result['kind']}: {summary}"})
    try:
        answer = json.loads(response)
    except ValueError:
        answer = response
    if isinstance(answer, dict):
        outcome = (
            answer.get("result") or answer.get("outcome") or answer.get("kind") or answer.get("errorMessage") or ""
        )
    else:
        outcome = str(answer)[:80]
    failed = " [red]function error[/red]" if call.get("functionError") else ""
    return f"λ {short_name(call['function'])} ({about}) {seconds * 1000:.0f} ms → {str(outcome)[:200]}{failed}"


def short_name(function: str) -> str:
    return function.replace(f"{STACK}-", "")


# ---------- the scenarios ----------


def good_release(run: LocalRelease, message: str = "Fix checkout totals for EUR baskets") -> str:
    return run.commit(message, {"VERSION": "1.1\n", "app/checkout.txt": "totals rounded per line\n"})


def through_staging(run: LocalRelease, execution: str, limit: float) -> str | None:
    """Waits until the execution's QA approval is waiting and approval-gate has looked at it;
    answers the approval token."""
    token: list[str] = []

    def waiting() -> bool:
        found = run.approval_waiting(execution)
        if found and run.gate_answered(execution) is not None:
            token.append(found)
            return True
        return run.status(execution) != "InProgress"

    if not run.wait_for("the release to reach QA on staging", waiting, limit):
        return None
    return token[0] if token else None


def scenario_release(run: LocalRelease, limit: float) -> None:
    sha = good_release(run)
    execution = run.push()
    token = through_staging(run, execution, limit)
    run.expect(
        "approval-gate checked staging and left the approval to QA",
        (run.gate_answered(execution) or {}).get("result") == "left to QA",
    )
    if token is None:
        return
    run.expect_fleet("staging", sha)
    run.qa_approves(execution, token)
    run.wait_for("the release to finish", lambda: run.status(execution) != "InProgress", limit)
    run.expect(f"the release pipeline execution {execution[:8]} succeeded", run.status(execution) == "Succeeded")
    run.expect_fleet("production", sha)
    run.expect_inbox("deployed", "ready-for-qa")


def scenario_bad_release(run: LocalRelease, limit: float) -> None:
    good = good_release(run)
    first = run.push()
    if through_staging(run, first, limit) is None:
        return
    run.expect_fleet("staging", good)
    bad = run.commit(
        "Checkout totals v2 (needs migration 0042)",
        {"VERSION": "1.2\n", "puppet/manifests/site.pp": BROKEN_MANIFEST, "puppet/modules/.keep": ""},
    )
    second = run.push()
    run.wait_for("the bad release to fail", lambda: run.status(second) != "InProgress", limit)
    found = run.execution(second)
    run.expect(
        f"the bad release's execution failed in Staging ({found.get('statusSummary', '')[:160]})",
        found["status"] == "Failed" and "Stage Staging failed" in found.get("statusSummary", ""),
    )
    run.expect_fleet("staging", good)
    assert run.emulator is not None
    boots = [b for b in run.emulator.world.boot.records if b.release == bad]
    run.expect(
        f"every instance of {bad[:7]} failed its boot ({len(boots)} tried)",
        bool(boots) and all(b.exit_code not in (0, None) for b in boots),
    )
    run.expect_inbox("deployment-failed", "ready-for-qa")
    failed = [
        m for m in run.emulator.world.sns.published if '"deployment-failed"' in (m["protocolBodies"].get("sqs") or "")
    ]
    run.expect(
        "QA's failure notice names the stage and the rollback's reason (the launch hook abandoned the new instances)",
        bool(failed)
        and "failed in Staging" in failed[-1]["protocolBodies"]["email"]
        and "completed with ABANDON" in failed[-1]["protocolBodies"]["email"],
    )
    if failed:
        run.console.rule(f"[bold]e-mail to QA: {failed[-1]['subject']}")
        run.console.print(failed[-1]["protocolBodies"]["email"], markup=False, highlight=False)
        run.console.rule()


def scenario_unhealthy_staging(run: LocalRelease, limit: float) -> None:
    sha = good_release(run)
    execution = run.push()
    assert run.emulator is not None
    world = run.emulator.world

    def staging_refreshed() -> bool:
        with world.lock:
            return any(r.group == GROUPS["staging"] and r.status == "Successful" for r in world.autoscaling.refreshes)

    if not run.wait_for("the staging refresh", staging_refreshed, limit):
        return
    run.client("cloudwatch").set_alarm_state(
        AlarmName=ALARM,
        StateValue="ALARM",
        StateReason="Threshold Crossed: 1 datapoint [37.0] was greater than the threshold (5.0).",
    )
    run.say(f"[red]alarm {ALARM} → ALARM[/red] (37 5xx responses in a minute on staging)")
    run.wait_for("the release to stop", lambda: run.status(execution) != "InProgress", limit)
    run.expect("the release pipeline execution failed at the approval", run.status(execution) == "Failed")
    answer = run.gate_answered(execution) or {}
    run.expect(f"approval-gate rejected the approval ({answer.get('result')})", answer.get("result") == "rejected")
    state = run.client("codepipeline").get_pipeline_state(name=RELEASE_PIPELINE)
    approval = next(s for s in state["stageStates"] if s["stageName"] == "Approval")["actionStates"][0].get(
        "latestExecution", {}
    )
    run.expect(
        f"the rejection's summary gives the evidence: {approval.get('summary', '')[:160]}",
        ALARM in (approval.get("summary") or ""),
    )
    run.expect_fleet("staging", sha)
    # approval-gate and qa-notify get the approval's STARTED event at once. When the gate's
    # rejection lands before qa-notify reads the pipeline's state, the approval is no longer
    # waiting and ready-for-qa is not sent: QA hears only of the rejection. Either is right.
    run.expect_inbox("approval-rejected", maybe=("ready-for-qa",))


def scenario_window_closed(run: LocalRelease, limit: float) -> None:
    sha = good_release(run)
    execution = run.push()
    token = through_staging(run, execution, limit)
    if token is None:
        return
    freeze_ends = datetime.now(UTC) + timedelta(seconds=60)
    window = {
        "timeZone": "UTC",
        "freezes": [
            {
                "from": (freeze_ends - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                "to": freeze_ends.strftime("%Y-%m-%dT%H:%M:%S"),
                "reason": "Payments provider maintenance",
            }
        ],
    }
    run.say(f"ops freeze production until {freeze_ends:%H:%M:%S} UTC (sam deploy with a new DeploymentWindow)")
    run.deploy([f"DeploymentWindow='{json.dumps(window, separators=(',', ':'))}'"], "the production freeze")
    run.qa_approves(execution, token)
    assert run.emulator is not None
    world = run.emulator.world

    def gate_jobs() -> list[Any]:
        return [j for j in world.codepipeline.jobs.values() if j.execution_id == execution and j.action == "Gate"]

    run.wait_for("the release to finish", lambda: run.status(execution) != "InProgress", limit + 120)
    waited = [j for j in gate_jobs() if (j.result or {}).get("kind") == "continuation"]
    run.expect(f"approval-gate held production while the freeze lasted ({len(waited)} continuation(s))", bool(waited))
    refreshed = [
        j.created
        for j in world.codepipeline.jobs.values()
        if j.execution_id == execution and j.stage == "Production" and j.action == "Refresh"
    ]
    run.expect(
        "production's refresh began only after the freeze ended",
        bool(refreshed) and min(refreshed) >= freeze_ends.timestamp() - 1,
    )
    run.expect("the release pipeline execution succeeded", run.status(execution) == "Succeeded")
    run.expect_fleet("production", sha)


def scenario_dev(run: LocalRelease, limit: float) -> None:
    sha = run.commit("Try the new basket page", {"VERSION": "1.1-dev\n", "app/basket.txt": "new\n"}, branch="develop")
    execution = run.push("develop")
    run.wait_for("the dev release", lambda: run.status(execution, DEV_PIPELINE) != "InProgress", limit)
    run.expect("the dev pipeline execution succeeded", run.status(execution, DEV_PIPELINE) == "Succeeded")
    run.expect_fleet("dev", sha)
    run.expect_inbox("deployed")


RUN = {
    "release": scenario_release,
    "bad-release": scenario_bad_release,
    "unhealthy-staging": scenario_unhealthy_staging,
    "window-closed": scenario_window_closed,
    "dev": scenario_dev,
}


def summary(run: LocalRelease) -> None:
    assert run.emulator is not None
    world = run.emulator.world
    console = run.console
    console.rule("[bold]summary")
    table = Table("pipeline", "execution", "commit", "status", "stages", "seconds")
    for e in world.pipelines.executions:
        commit = e.variables.get("SourceVariables", {}).get("CommitId", "")[:7]
        stages = ", ".join(f"{s} {st}" for s, st in e.stage_status.items())
        table.add_row(
            short_name(e.pipeline), e.id[:8], commit, e.status, stages, f"{(e.updated or e.started) - e.started:.1f}"
        )
    console.print(table)
    fleet = Table("environment", "instances", "launch template version", "releases", "bootstrap")
    for stage, group in GROUPS.items():
        rows = run.fleet(stage)
        fleet.add_row(
            group,
            str(len(rows)),
            ", ".join(sorted({r["version"] for r in rows})),
            ", ".join(sorted({r["release"][:7] for r in rows})),
            ", ".join(sorted({r["bootstrap"] for r in rows})),
        )
    console.print(fleet)
    replaced = sum((r.rollback or r.forward).replaced for r in world.autoscaling.refreshes if (r.rollback or r.forward))
    boots = world.boot.records
    durations = sorted(b.finished - b.started for b in boots if b.finished)
    # The system's own calls: the functions' (each signs with its own AKIDLAMBDA… key) and the
    # instances' user data; not this driver's, sam deploy's or QA's.
    functions_calls: Counter[str] = Counter()
    for caller, counted in world.calls.items():
        if caller.startswith("AKIDLAMBDA"):
            functions_calls.update(counted)
    instance_calls = sum(world.calls.get("ASIAINSTANCEPROFILE", Counter()).values())
    console.print(
        f"refreshes: {len(world.autoscaling.refreshes)}, instances replaced: {replaced}; "
        f"boots: {len(boots)} ({sum(1 for b in boots if b.exit_code == 0)} complete), user data took "
        + (f"{durations[len(durations) // 2]:.1f} s median, {durations[-1]:.1f} s longest" if durations else "-")
    )
    lifecycle = [a for a in world.autoscaling.actions if a.result]
    console.print(
        f"lifecycle decisions: {sum(1 for a in lifecycle if a.result == 'CONTINUE')} CONTINUE, {sum(1 for a in lifecycle if a.result != 'CONTINUE')} other"
    )
    invocations = world.lambdas.invocations
    by_function = {}
    for call in invocations:
        by_function.setdefault(short_name(call["function"]), []).append(
            call.get("finished", call["started"]) - call["started"]
        )
    console.print(
        "function calls: " + ", ".join(f"{f} {len(d)} ({sum(d):.1f} s)" for f, d in sorted(by_function.items()))
    )
    top = ", ".join(f"{op} {n}" for op, n in functions_calls.most_common(8))
    console.print(
        f"AWS calls by the functions: {sum(functions_calls.values())} ({top}, ...); by the instances' user data: {instance_calls}"
    )
    console.print(f"QA inbox: {', '.join(run.inbox_seen) or 'empty'}")
    console.print(
        f"logs: {run.logs} (functions: emulator-lambda-*.log, sam deploy), boots: {run.work / 'instances'}/<instance>/boot.log"
    )
    console.print(f"wall time: {time.time() - run.started:.1f} s; this summary as JSON: {run.work / 'summary.json'}")
    record = {
        "scenario": run.scenario,
        "wallSeconds": round(time.time() - run.started, 1),
        "executions": [
            {
                **e.summary(),
                "pipelineName": short_name(e.pipeline),
                "stages": e.stage_status,
                "commit": e.variables.get("SourceVariables", {}).get("CommitId"),
            }
            for e in world.pipelines.executions
        ],
        "fleet": {stage: run.fleet(stage) for stage in GROUPS},
        "refreshes": [
            {"group": r.group, "status": r.status, "reason": r.status_reason} for r in world.autoscaling.refreshes
        ],
        "lifecycle": [{"instance": a.instance_id, "group": a.group, "result": a.result} for a in lifecycle],
        "boots": [b.describe() for b in boots],
        "approvals": [a.describe() for a in world.codepipeline.approvals],
        "jobs": [j.describe() for j in world.codepipeline.jobs.values()],
        "inbox": run.inbox_seen,
        "awsCalls": {"functions": dict(functions_calls), "instances": instance_calls},
        "diverged": run.diverged,
    }
    (run.work / "summary.json").write_text(json.dumps(record, indent=2, default=str))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?", default="release", choices=SCENARIOS)
    parser.add_argument(
        "--real-time",
        action="store_true",
        help="AWS-like pacing: full instance warmups, 30 s before a continuation is re-invoked",
    )
    parser.add_argument("--interactive", action="store_true", help="ask in the terminal whether QA approves")
    parser.add_argument("--limit", type=float, default=600, help="the longest wait for any one step, in seconds")
    args = parser.parse_args()
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    run = LocalRelease(args.scenario, REAL_TIME if args.real_time else FAST, args.interactive, console)
    console.rule(f"[bold]local run: {args.scenario}")
    run.prepare()
    emulator = run.start_emulator()
    try:
        run.say(f"emulator: {emulator.endpoint}")
        run.deploy([], "template.yaml with the example fleet")
        run.seed()
        with Live(
            run.panel(), console=console, refresh_per_second=4, transient=True, auto_refresh=console.is_terminal
        ) as live:
            run.live = live if console.is_terminal else None
            RUN[args.scenario](run, args.limit)
        run.live = None
        summary(run)
    finally:
        emulator.stop()
    if run.diverged:
        console.print(f"[red]local run {args.scenario}: FAILED[/red] — diverged: " + "; ".join(run.diverged))
        return 1
    console.print(f"[green]local run {args.scenario}: OK[/green]")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CodePipeline V2 played from the deployed declarations.

An execution starts from a push to a local Git repository standing in for the CodeConnections
source (`webhook`), or from StartPipelineExecution. It runs the stages in order and each
stage's actions by runOrder; it resolves `#{Namespace.Variable}`, `#{codepipeline.…}` and
`#{variables.…}` in action configurations; it sends Lambda Invoke actions their job (the jobs
and approvals themselves live in codepipeline.py, which validates the answers) and re-invokes
after each continuation; it waits on manual approvals; and it emits the pipeline, stage and
action state-change events in their current shape. Executions pass each other as the
pipeline's ExecutionMode says (SUPERSEDED, QUEUED or PARALLEL).

Inferred where AWS does not document it (emulator README): the delay before a continuation is
re-invoked (`reinvoke_seconds`), the texts of an unresolved variable and of a missing function,
and that an action that fails ends its stage once the other actions of its runOrder are done.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moto.codepipeline.models import codepipeline_backends
from moto.s3.models import s3_backends

from .codepipeline import EVENT_VERSION, Approval, Job
from .protocol import AwsError, iso

if TYPE_CHECKING:
    from .world import World

LAMBDA_TYPE = {"owner": "AWS", "category": "Invoke", "provider": "Lambda", "version": "1"}
FINISHED = ("Succeeded", "Failed", "Superseded", "Stopped")
VARIABLE = re.compile(r"#\{([A-Za-z0-9@\-_]+)\.([A-Za-z0-9@\-_]+)\}")


@dataclass
class Source:
    """A local Git repository standing in for a CodeConnections repository."""

    repository_id: str
    path: str

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", "-C", self.path, *args], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise AwsError("ValidationException", f"git {' '.join(args)} in {self.path}: {done.stderr.strip()}")
        return done.stdout

    def revision(self, branch: str) -> dict[str, str]:
        commit = self.git("rev-parse", f"refs/heads/{branch}").strip()
        author_date, message = self.git("log", "-1", "--format=%aI%x00%B", commit).split("\x00", 1)
        return {"commit": commit, "authorDate": author_date, "message": message.strip()}

    def archive(self, commit: str) -> bytes:
        done = subprocess.run(
            ["git", "-C", self.path, "archive", "--format=zip", commit], capture_output=True, timeout=60
        )
        if done.returncode != 0:
            raise AwsError("ValidationException", done.stderr.decode(errors="replace").strip())
        return done.stdout


@dataclass
class ActionRun:
    stage: str
    name: str
    declaration: dict[str, Any]
    id: str
    started: float
    status: str = "InProgress"  # InProgress | Succeeded | Failed | Abandoned
    updated: float = 0.0
    job: Job | None = None
    approval: Approval | None = None
    invoke_at: float | None = None
    summary: str | None = None
    error: dict[str, str] | None = None
    percent: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return (self.declaration.get("actionTypeId") or {}).get("category", "")

    def state(self) -> dict[str, Any]:
        latest: dict[str, Any] = {
            "actionExecutionId": self.id,
            "status": self.status,
            "lastStatusChange": self.updated or self.started,
        }
        if self.approval is not None:
            if self.status == "InProgress":
                latest["token"] = self.approval.token
            if self.approval.answered_by:
                latest["lastUpdatedBy"] = self.approval.answered_by
        for key, value in (("summary", self.summary), ("errorDetails", self.error), ("percentComplete", self.percent)):
            if value is not None:
                latest[key] = value
        return latest


@dataclass
class Execution:
    id: str
    pipeline: str
    account: str
    region: str
    version: int
    declaration: dict[str, Any]
    trigger: dict[str, str]
    started: float
    status: str = "InProgress"  # InProgress | Succeeded | Failed | Superseded | Stopped
    status_summary: str | None = None
    updated: float = 0.0
    stage_index: int = 0
    # Between stages: done with stage_index - 1, waiting to enter stage_index.
    waiting: bool = True
    stage_status: dict[str, str] = field(default_factory=dict)
    actions: list[ActionRun] = field(default_factory=list)
    variables: dict[str, dict[str, str]] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def stages(self) -> list[dict[str, Any]]:
        return self.declaration.get("stages", [])

    @property
    def mode(self) -> str:
        return self.declaration.get("executionMode", "SUPERSEDED")

    def current_stage(self) -> str | None:
        if self.status != "InProgress" or self.waiting or self.stage_index >= len(self.stages):
            return None
        return self.stages[self.stage_index]["name"]

    def runs_of(self, stage: str) -> list[ActionRun]:
        return [a for a in self.actions if a.stage == stage]

    def summary(self) -> dict[str, Any]:
        found = {
            "pipelineExecutionId": self.id,
            "status": self.status,
            "startTime": self.started,
            "lastUpdateTime": self.updated or self.started,
            "sourceRevisions": [
                {k: v for k, v in a.items() if k in ("actionName", "revisionId", "revisionSummary", "revisionUrl")}
                for a in self.artifacts.values()
                if a.get("actionName")
            ],
            "trigger": self.trigger,
            "executionMode": self.mode,
            "executionType": "STANDARD",
        }
        if self.status_summary:
            found["statusSummary"] = self.status_summary
        return found


Invoker = Callable[[str, str, str, bytes], None]


class Pipelines:
    def __init__(self, world: World) -> None:
        self.world = world
        self.sources: dict[str, Source] = {}
        self.executions: list[Execution] = []
        # After a continuation CodePipeline invokes the function again; AWS does not say when.
        # About half a minute with --real-time; the fast local pace shortens it.
        self.reinvoke_seconds = 30.0
        # How an Invoke action's job reaches its function; tests put a stand-in here.
        self.invoker: Invoker | None = None

    def reset(self) -> None:
        self.sources.clear()
        self.executions.clear()
        self.invoker = None

    # ---------- starting ----------

    def register_source(self, repository_id: str, path: str) -> None:
        self.sources[repository_id] = Source(repository_id, path)

    def webhook(self, account: str, region: str, repository_id: str, branch: str) -> list[str]:
        """A push to `branch`: every pipeline whose source action watches it (DetectChanges)
        starts an execution, as the CodeConnections trigger would."""
        started = []
        for name, pipeline in codepipeline_backends[account][region].pipelines.items():
            for action in self._source_actions(pipeline.pipeline):
                config = action.get("configuration") or {}
                watches = str(config.get("DetectChanges", "true")).lower() == "true"
                if watches and config.get("FullRepositoryId") == repository_id and config.get("BranchName") == branch:
                    trigger = {"triggerType": "Webhook", "triggerDetail": json.dumps({"branch": branch})}
                    started.append(self.start(account, region, name, trigger).id)
                    break
        return started

    def start(self, account: str, region: str, name: str | None, trigger: dict[str, str] | None = None) -> Execution:
        found = codepipeline_backends[account][region].pipelines.get(name or "")
        if found is None:
            raise AwsError(
                "PipelineNotFoundException", f"Account '{account}' does not have a pipeline with name '{name}'"
            )
        now = self.world.clock.now()
        declaration = json.loads(json.dumps(found.pipeline))
        execution = Execution(
            id=str(uuid.uuid4()),
            pipeline=declaration["name"],
            account=account,
            region=region,
            version=int(declaration.get("version", 1)),
            declaration=declaration,
            trigger=trigger or {"triggerType": "StartPipelineExecution", "triggerDetail": ""},
            started=now,
            updated=now,
        )
        execution.variables["codepipeline"] = {"PipelineExecutionId": execution.id}
        execution.variables["variables"] = {
            v["name"]: str(v.get("defaultValue", "")) for v in declaration.get("variables", [])
        }
        self.executions.append(execution)
        self._emit(execution, "CodePipeline Pipeline Execution State Change", "STARTED")
        self._advance(execution, now)
        return execution

    @staticmethod
    def _source_actions(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            a
            for s in pipeline.get("stages", [])
            for a in s.get("actions", [])
            if (a.get("actionTypeId") or {}).get("category") == "Source"
        ]

    # ---------- time ----------

    def tick(self) -> None:
        now = self.world.clock.now()
        for execution in list(self.executions):
            if execution.status == "InProgress":
                self._advance(execution, now)

    def _advance(self, e: Execution, now: float) -> None:
        for _ in range(len(e.stages) * 4 + 4):  # each pass moves at most one step; stop when none did
            if e.status != "InProgress" or not self._step(e, now):
                return

    def _step(self, e: Execution, now: float) -> bool:
        if e.waiting:
            if e.stage_index >= len(e.stages):
                self._finish(e, "Succeeded", now)
                return True
            return self._enter(e, now)
        stage = e.stages[e.stage_index]
        runs = e.runs_of(stage["name"])
        moved = any([self._poll(e, run, now) for run in runs if run.status == "InProgress"])
        if any(run.status == "InProgress" for run in runs):
            return moved
        failed = next((r for r in runs if r.status == "Failed"), None)
        if failed is not None:
            self._stage_done(e, stage["name"], "Failed", now)
            why = (failed.error or {}).get("message") or failed.summary or "no reason given"
            e.status_summary = f"Stage {stage['name']} failed: action {failed.name}: {why}"
            self._finish(e, "Failed", now)
            return True
        done_orders = {int(r.declaration.get("runOrder", 1)) for r in runs}
        pending = sorted({int(a.get("runOrder", 1)) for a in stage.get("actions", [])} - done_orders)
        if pending:
            for action in stage["actions"]:
                if int(action.get("runOrder", 1)) == pending[0]:
                    self._start_action(e, stage["name"], action, now)
            return True
        self._stage_done(e, stage["name"], "Succeeded", now)
        e.stage_index += 1
        e.waiting = True
        return True

    def _enter(self, e: Execution, now: float) -> bool:
        """Into the next stage, when no other execution holds it (one execution per stage, except
        in PARALLEL mode). In SUPERSEDED mode a newer execution waiting at the same stage
        replaces an older one; in QUEUED mode they enter in the order they arrived."""
        stage = e.stages[e.stage_index]["name"]
        others = [o for o in self.executions if o.pipeline == e.pipeline and o is not e and o.status == "InProgress"]
        if e.mode == "SUPERSEDED":
            for older in others:
                if older.started < e.started and older.waiting and older.stage_index == e.stage_index:
                    older.status_summary = f"Superseded by execution {e.id} at stage {stage}"
                    self._finish(older, "Superseded", now)
        if e.mode != "PARALLEL":
            if any(o.current_stage() == stage and o.stage_index == e.stage_index for o in others):
                return False
            if e.mode == "QUEUED" and any(
                o.waiting and o.stage_index == e.stage_index and o.started < e.started for o in others
            ):
                return False
        e.waiting = False
        e.stage_status[stage] = "InProgress"
        e.updated = now
        self._emit(e, "CodePipeline Stage Execution State Change", "STARTED", stage=stage)
        return True

    # ---------- actions ----------

    def _start_action(self, e: Execution, stage: str, action: dict[str, Any], now: float) -> None:
        run = ActionRun(stage, action["name"], action, str(uuid.uuid4()), now, updated=now)
        e.actions.append(run)
        try:
            config = {
                k: self._resolve(e, str(v), action["name"]) for k, v in (action.get("configuration") or {}).items()
            }
        except AwsError as err:
            self._action_failed(e, run, "JobFailed", err.message, now, emit_started=True)
            return
        kind = run.kind
        if kind == "Source":
            self._run_source(e, run, config, now)
        elif kind == "Approval":
            run.approval = self.world.codepipeline.start_approval(
                e.account,
                e.region,
                {
                    "pipelineName": e.pipeline,
                    "stageName": stage,
                    "actionName": action["name"],
                    "pipelineExecutionId": e.id,
                    "actionExecutionId": run.id,
                    "executionStarted": e.started,
                },
            )
        elif kind == "Invoke" and (action.get("actionTypeId") or {}).get("provider") == "Lambda":
            inputs = [self._input(e, a["name"]) for a in action.get("inputArtifacts", [])]
            run.job = self.world.codepipeline.create_job(
                e.account,
                e.region,
                {
                    "functionName": config.get("FunctionName", ""),
                    "pipelineName": e.pipeline,
                    "stageName": stage,
                    "actionName": action["name"],
                    "pipelineExecutionId": e.id,
                    "userParameters": config.get("UserParameters"),
                    "inputArtifacts": [a for a in inputs if a],
                    "actionExecutionId": run.id,
                    "executionStarted": e.started,
                },
            )
            run.invoke_at = now
            self._poll(e, run, now)
        else:
            self._action_failed(
                e, run, "JobFailed", f"the emulator does not run {action.get('actionTypeId')} actions", now, True
            )

    def _input(self, e: Execution, name: str) -> dict[str, Any] | None:
        artifact = e.artifacts.get(name)
        return dict(artifact, name=name) if artifact else None

    def _run_source(self, e: Execution, run: ActionRun, config: dict[str, str], now: float) -> None:
        self._emit_run(e, run, "STARTED")
        repository, branch = config.get("FullRepositoryId", ""), config.get("BranchName", "")
        source = self.sources.get(repository)
        if source is None:
            self._action_failed(
                e, run, "JobFailed", f"No local repository stands in for {repository}: register one first", now
            )
            return
        try:
            revision = source.revision(branch)
            archive = source.archive(revision["commit"])
        except AwsError as err:
            self._action_failed(e, run, "JobFailed", err.message, now)
            return
        store = (e.declaration.get("artifactStore") or {}).get("location", "")
        for output in run.declaration.get("outputArtifacts", []):
            key = f"{e.pipeline[:20]}/{output['name'][:10]}/" + "".join(
                secrets.choice(string.ascii_letters + string.digits) for _ in range(7)
            )
            s3_backends[e.account]["aws"].put_object(store, key, archive)
            e.artifacts[output["name"]] = {
                "actionName": run.name,
                "bucket": store,
                "key": key,
                "revision": revision["commit"],
                "revisionId": revision["commit"],
                "revisionSummary": json.dumps({"ProviderType": "GitHub", "CommitMessage": revision["message"]}),
                "revisionUrl": f"https://github.com/{repository}/commit/{revision['commit']}",
            }
        namespace = run.declaration.get("namespace")
        run.outputs = {
            "AuthorDate": revision["authorDate"],
            "BranchName": branch,
            "CommitId": revision["commit"],
            "CommitMessage": revision["message"],
            "ConnectionArn": config.get("ConnectionArn", ""),
            "FullRepositoryName": repository,
        }
        if namespace:
            e.variables[namespace] = dict(run.outputs)
        run.summary = revision["message"][:2048]
        self._action_succeeded(e, run, now)

    def _poll(self, e: Execution, run: ActionRun, now: float) -> bool:
        """Moves an action on from what its job or approval says; True when something changed."""
        if run.approval is not None:
            if run.approval.status == "InProgress":
                return False
            run.summary = run.approval.summary
            if run.approval.status == "Succeeded":
                run.status, run.updated = "Succeeded", now
            else:
                run.status, run.updated, run.error = "Failed", now, run.approval.error
            return True
        job = run.job
        if job is None:
            return False
        while job.next_job_id:
            # A continuation: what it said is the action's progress; the next job is sent after a pause.
            details = (job.result or {}).get("executionDetails") or {}
            run.summary = details.get("summary", run.summary)
            run.percent = details.get("percentComplete", run.percent)
            job = self.world.codepipeline.jobs[job.next_job_id]
            run.job, run.invoke_at = job, now + self.reinvoke_seconds
        if job.status == "Created":
            if run.invoke_at is not None and now >= run.invoke_at:
                run.invoke_at = None
                self._send(e, run, job)
                return True
            return False
        result = job.result or {}
        details = result.get("executionDetails") or {}
        run.summary = details.get("summary", run.summary)
        run.percent = details.get("percentComplete", run.percent)
        if job.status == "Succeeded":
            run.outputs = dict(result.get("outputVariables") or {})
            namespace = run.declaration.get("namespace")
            if namespace:
                e.variables[namespace] = dict(run.outputs)
            run.status, run.updated = "Succeeded", now
            return True
        failure = result.get("failureDetails") or {}
        run.status, run.updated = "Failed", now
        run.error = {"code": failure.get("type", "JobFailed"), "message": failure.get("message", "")}
        return True

    def _send(self, e: Execution, run: ActionRun, job: Job) -> None:
        payload = json.dumps(job.event()).encode()
        if self.invoker is not None:
            self.invoker(e.account, e.region, job.function_name, payload)
            return
        fn = self.world.lambdas.find(e.account, e.region, job.function_name)
        if fn is None or not self.world.lambdas.serves(fn):
            # Inferred text: CodePipeline fails the action when it cannot invoke the function.
            self.world.codepipeline.time_out(
                job,
                f"The Lambda function {job.function_name} could not be invoked: it does not exist or is not run here",
            )
            return
        self.world.lambdas.invoke_async(fn, payload)

    def _action_succeeded(self, e: Execution, run: ActionRun, now: float) -> None:
        run.status, run.updated = "Succeeded", now
        self._emit_run(e, run, "SUCCEEDED")

    def _action_failed(
        self, e: Execution, run: ActionRun, code: str, message: str, now: float, emit_started: bool = False
    ) -> None:
        run.status, run.updated = "Failed", now
        run.error = {"code": code, "message": message}
        for state in ("STARTED", "FAILED") if emit_started else ("FAILED",):
            self._emit_run(e, run, state)

    def _emit_run(self, e: Execution, run: ActionRun, state: str) -> None:
        """The state change of an action the engine runs itself (a source, or one that failed
        before its job or approval existed); jobs and approvals emit their own."""
        self.world.codepipeline.emit_action_event(
            e.account, e.region, e.pipeline, e.id, e.started, run.stage, run.name, run.id, state, self._type(run)
        )

    @staticmethod
    def _type(run: ActionRun) -> dict[str, str]:
        return {k: str(v) for k, v in (run.declaration.get("actionTypeId") or LAMBDA_TYPE).items()}

    def _resolve(self, e: Execution, text: str, action: str) -> str:
        def value(match: re.Match[str]) -> str:
            namespace, name = match.group(1), match.group(2)
            found = e.variables.get(namespace, {}).get(name)
            if found is None:
                # Inferred text (AWS fails the action; its exact wording is not documented).
                raise AwsError(
                    "ValidationException",
                    f"Unable to resolve variable #{{{namespace}.{name}}} in the configuration of action {action}",
                )
            return found

        return VARIABLE.sub(value, text)

    # ---------- ends ----------

    def _stage_done(self, e: Execution, stage: str, status: str, now: float) -> None:
        e.stage_status[stage] = status
        e.updated = now
        self._emit(e, "CodePipeline Stage Execution State Change", status.upper(), stage=stage)

    def _finish(self, e: Execution, status: str, now: float) -> None:
        e.status, e.updated = status, now
        stage = e.current_stage()
        for run in e.actions:
            if run.status == "InProgress":
                run.status, run.updated = "Abandoned", now
                if run.job is not None and run.job.status == "Created":
                    run.job.status = "Failed"  # an answer to an abandoned job is refused
        if status in ("Superseded", "Stopped") and stage:
            e.stage_status[stage] = status
        self._emit(e, "CodePipeline Pipeline Execution State Change", status.upper())

    def _emit(self, e: Execution, detail_type: str, state: str, stage: str | None = None) -> None:
        detail: dict[str, Any] = {
            "pipeline": e.pipeline,
            "execution-id": e.id,
            "start-time": iso(e.started),
        }
        if stage is not None:
            detail["stage"] = stage
        else:
            detail["execution-trigger"] = {
                "trigger-type": e.trigger["triggerType"],
                "trigger-detail": e.trigger["triggerDetail"],
            }
        detail.update({"state": state, "version": EVENT_VERSION, "pipeline-execution-attempt": 1.0})
        self.world.events.emit(
            detail_type,
            "aws.codepipeline",
            detail,
            account=e.account,
            region=e.region,
            now=self.world.clock.now(),
            resources=[f"arn:aws:codepipeline:{e.region}:{e.account}:{e.pipeline}"],
        )

    # ---------- API ----------

    def of(self, pipeline: str | None) -> list[Execution]:
        return [e for e in self.executions if e.pipeline == pipeline]

    def find(self, pipeline: str | None, execution_id: str | None) -> Execution | None:
        return next((e for e in self.of(pipeline) if e.id == execution_id), None)

    def list_executions(self, account: str, region: str, body: dict[str, Any]) -> dict[str, Any]:
        self.world.codepipeline.pipeline(account, region, body.get("pipelineName"))
        newest_first = sorted(self.of(body.get("pipelineName")), key=lambda e: e.started, reverse=True)
        return {"pipelineExecutionSummaries": [e.summary() for e in newest_first[: int(body.get("maxResults", 100))]]}

    def get_execution(self, e: Execution) -> dict[str, Any]:
        return {
            "pipelineExecution": {
                "pipelineName": e.pipeline,
                "pipelineVersion": e.version,
                "pipelineExecutionId": e.id,
                "status": e.status,
                **({"statusSummary": e.status_summary} if e.status_summary else {}),
                "artifactRevisions": [
                    {
                        "name": name,
                        "revisionId": a["revisionId"],
                        "revisionSummary": a["revisionSummary"],
                        "revisionUrl": a["revisionUrl"],
                        "created": e.started,
                    }
                    for name, a in e.artifacts.items()
                ],
                "variables": [{"name": k, "resolvedValue": v} for k, v in e.variables.get("variables", {}).items()],
                "trigger": e.trigger,
                "executionMode": e.mode,
                "executionType": "STANDARD",
            }
        }

    def state(self, declaration: dict[str, Any]) -> dict[str, Any]:
        """GetPipelineState: per stage, the newest execution that entered it, and per action its run."""
        name = declaration["name"]
        stages = []
        for stage in declaration.get("stages", []):
            entered = [e for e in self.of(name) if stage["name"] in e.stage_status]
            latest = max(entered, key=lambda e: e.started) if entered else None
            entry: dict[str, Any] = {"stageName": stage["name"], "actionStates": []}
            if latest is not None:
                entry["latestExecution"] = {
                    "pipelineExecutionId": latest.id,
                    "status": latest.stage_status[stage["name"]],
                }
            for action in stage.get("actions", []):
                state: dict[str, Any] = {"actionName": action["name"]}
                run = (
                    next(
                        (r for r in reversed(latest.actions) if r.stage == stage["name"] and r.name == action["name"]),
                        None,
                    )
                    if latest
                    else None
                )
                if run is not None:
                    state["latestExecution"] = run.state()
                entry["actionStates"].append(state)
            stages.append(entry)
        return {"pipelineName": name, "pipelineVersion": declaration.get("version", 1), "stageStates": stages}

"""CodePipeline jobs for Lambda Invoke actions, and manual approvals.

A test (or the local runner) creates a job and gets the exact event CodePipeline would send
to the function. The function answers with PutJobSuccessResult / PutJobFailureResult, which
are validated like AWS does and recorded. An in-progress answer (continuation token) creates
the next job, as CodePipeline does when it re-invokes the function.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from moto.codepipeline.models import codepipeline_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import iam_backends

from .protocol import AwsError, iso

if TYPE_CHECKING:
    from .world import World

FAILURE_TYPES = (
    "JobFailed",
    "ConfigurationError",
    "PermissionError",
    "RevisionOutOfSync",
    "RevisionUnavailable",
    "SystemUnavailable",
)
APPROVAL_DONE = "The approval request that you responded to is already complete or has expired."
# AWS-FACTS (Lambda Invoke action): a job with no answer for 20 minutes fails the action; each
# continuation starts a new job and so a new 20 minutes; 24 hours is the whole action's limit.
ANSWER_LIMIT_SECONDS = 20 * 60
ACTION_LIMIT_SECONDS = 24 * 60 * 60
# ActionDeclaration.timeoutInMinutes (manual approvals only, 5-86400); 7 days when absent.
DEFAULT_APPROVAL_MINUTES = 7 * 24 * 60
# AWS-FACTS: current CodePipeline events carry `version` and the attempt as floats.
EVENT_VERSION = 3.0
LAMBDA_ACTION = {"owner": "AWS", "category": "Invoke", "provider": "Lambda", "version": "1"}
MANUAL_APPROVAL = {"owner": "AWS", "category": "Approval", "provider": "Manual", "version": "1"}


PIPELINE_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def fresh_credentials() -> dict[str, str]:
    return {
        "accessKeyId": "ASIA" + uuid.uuid4().hex[:16].upper(),
        "secretAccessKey": "CANARY-" + uuid.uuid4().hex,
        "sessionToken": "CANARY-" + uuid.uuid4().hex + uuid.uuid4().hex,
    }


# botocore's model (codepipeline 2015-07-09): JobId and ApprovalToken shapes.
ID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def check_id(value: Any, member: str) -> None:
    """AWS validates an id's shape before looking anything up: ValidationException, not NotFound."""
    if not isinstance(value, str) or re.fullmatch(ID_PATTERN, value) is None:
        raise invalid(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {ID_PATTERN}"
        )


def invalid(message: str) -> AwsError:
    return AwsError("ValidationException", message)


@dataclass
class Job:
    id: str
    account: str
    region: str
    pipeline: str | None
    stage: str | None
    action: str | None
    execution_id: str
    function_name: str
    user_parameters: str | None
    input_artifacts: list[dict[str, Any]]
    continuation_token: str | None
    created: float
    first_job_id: str
    # When the action's first job was sent: continuations carry it on for the 24-hour limit.
    action_started: float = 0.0
    status: str = "Created"  # Created | Succeeded | Failed
    result: dict[str, Any] | None = None
    # Set when a pipeline execution runs the action (pipelines.py): its events carry them.
    action_execution_id: str | None = None
    execution_started: float | None = None
    next_job_id: str | None = None
    # Answers refused because the job was already answered: a function answering twice.
    rejected_answers: int = 0
    # Fresh per job, like the real temporary credentials; tests check none is ever logged.
    credentials: dict[str, str] = field(default_factory=lambda: fresh_credentials())

    def action_status(self) -> str:
        """The action's status as this job leaves it; meaningful for the newest job of an
        action (a continued job is superseded by the next one)."""
        return {"Created": "InProgress"}.get(self.status, self.status)

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "actionConfiguration": {"configuration": {"FunctionName": self.function_name}},
            "inputArtifacts": [
                {
                    "name": a["name"],
                    "revision": a.get("revision"),
                    "location": {
                        "type": "S3",
                        "s3Location": {
                            "bucketName": a.get("bucket", "codepipeline-artifacts"),
                            "objectKey": a.get("key", f"{a['name']}/artifact.zip"),
                        },
                    },
                }
                for a in self.input_artifacts
            ],
            "outputArtifacts": [],
            "artifactCredentials": self.credentials,
        }
        if self.user_parameters is not None:
            data["actionConfiguration"]["configuration"]["UserParameters"] = self.user_parameters
        if self.continuation_token is not None:
            data["continuationToken"] = self.continuation_token
        return data

    def event(self) -> dict[str, Any]:
        return {"CodePipeline.job": {"id": self.id, "accountId": self.account, "data": self.data()}}

    def describe(self) -> dict[str, Any]:
        return {
            "jobId": self.id,
            "firstJobId": self.first_job_id,
            "status": self.status,
            "result": self.result,
            "nextJobId": self.next_job_id,
            "rejectedAnswers": self.rejected_answers,
            "pipelineName": self.pipeline,
            "stageName": self.stage,
            "actionName": self.action,
            "pipelineExecutionId": self.execution_id,
        }


@dataclass
class Approval:
    pipeline: str
    stage: str
    action: str
    token: str
    execution_id: str
    account: str
    region: str
    started: float
    expires: float
    status: str = "InProgress"  # InProgress | Succeeded | Failed
    summary: str | None = None
    answered_by: str | None = None
    answered_at: float | None = None
    error: dict[str, str] | None = None
    action_execution_id: str | None = None
    execution_started: float | None = None
    # Answers refused because the approval was already answered.
    rejected_answers: int = 0

    def describe(self) -> dict[str, Any]:
        return {
            "pipelineName": self.pipeline,
            "stageName": self.stage,
            "actionName": self.action,
            "token": self.token,
            "pipelineExecutionId": self.execution_id,
            "status": self.status,
            "summary": self.summary,
            "answeredBy": self.answered_by,
            "answeredAt": iso(self.answered_at),
            "expires": iso(self.expires),
            "errorDetails": self.error,
            "rejectedAnswers": self.rejected_answers,
        }


class CodePipeline:
    def __init__(self, world: World) -> None:
        self.world = world
        self.jobs: dict[str, Job] = {}
        self.approvals: list[Approval] = []
        # Opt-in local leniency (`--accept-unknown-jobs`, the local deploy's --keep mode): a job
        # id never created here is registered when first answered, so the sample events in
        # events/ run with a plain `cargo lambda invoke`. AWS answers JobNotFoundException.
        self.accept_unknown_jobs = False

    def reset(self) -> None:
        self.jobs.clear()
        self.approvals.clear()

    # ---------- control: create a job ----------

    def create_job(self, account: str, region: str, spec: dict[str, Any]) -> Job:
        if not spec.get("functionName"):
            raise ValueError("functionName is required")
        job_id = str(uuid.uuid4())
        job = Job(
            id=job_id,
            account=account,
            region=region,
            pipeline=spec.get("pipelineName"),
            stage=spec.get("stageName"),
            action=spec.get("actionName"),
            execution_id=spec.get("pipelineExecutionId") or str(uuid.uuid4()),
            function_name=spec["functionName"],
            user_parameters=spec.get("userParameters"),
            input_artifacts=spec.get("inputArtifacts", []),
            continuation_token=spec.get("continuationToken"),
            created=self.world.clock.now(),
            first_job_id=job_id,
            action_started=self.world.clock.now(),
            action_execution_id=spec.get("actionExecutionId"),
            execution_started=spec.get("executionStarted"),
        )
        self.jobs[job.id] = job
        self.emit_action(job, "STARTED")
        return job

    def register_event(self, account: str, region: str, event: dict[str, Any]) -> Job:
        """Takes a job event written elsewhere (a sample in events/) as a job to answer."""
        raw = event.get("CodePipeline.job") or {}
        job_id = raw.get("id")
        if not job_id or job_id in self.jobs:
            raise ValueError(f"the event needs a job id not already known: {job_id!r}")
        data = raw.get("data") or {}
        config = (data.get("actionConfiguration") or {}).get("configuration") or {}
        artifacts = data.get("inputArtifacts") if isinstance(data.get("inputArtifacts"), list) else []
        job = Job(
            id=job_id,
            account=raw.get("accountId") or account,
            region=region,
            pipeline=None,
            stage=None,
            action=None,
            execution_id=str(uuid.uuid4()),
            function_name=config.get("FunctionName", "unknown"),
            user_parameters=config.get("UserParameters"),
            input_artifacts=[
                {
                    "name": a.get("name"),
                    "revision": a.get("revision"),
                    "bucket": ((a.get("location") or {}).get("s3Location") or {}).get("bucketName"),
                    "key": ((a.get("location") or {}).get("s3Location") or {}).get("objectKey"),
                }
                for a in artifacts
                if isinstance(a, dict)
            ],
            continuation_token=data.get("continuationToken"),
            created=self.world.clock.now(),
            first_job_id=job_id,
            action_started=self.world.clock.now(),
        )
        if isinstance(data.get("artifactCredentials"), dict):
            job.credentials = data["artifactCredentials"]
        self.jobs[job.id] = job
        return job

    def _registered_on_first_sight(self, job_id: str | None) -> Job | None:
        if not self.accept_unknown_jobs or not job_id or job_id in self.jobs:
            return self.jobs.get(job_id or "")
        now = self.world.clock.now()
        job = Job(
            id=job_id,
            account=DEFAULT_ACCOUNT_ID,
            region="us-east-1",
            pipeline=None,
            stage=None,
            action=None,
            execution_id=str(uuid.uuid4()),
            function_name="unknown (registered on first sight)",
            user_parameters=None,
            input_artifacts=[],
            continuation_token=None,
            created=now,
            first_job_id=job_id,
            action_started=now,
        )
        self.jobs[job_id] = job
        return job

    def _answerable(self, job_id: str | None) -> Job:
        check_id(job_id, "jobId")
        job = self._registered_on_first_sight(job_id)
        if job is None:
            # Inferred text: the error code is modelled, the message is not documented.
            raise AwsError("JobNotFoundException", f"Job with id {job_id} was not found")
        if job.status != "Created":
            job.rejected_answers += 1
            raise AwsError("InvalidJobStateException", f"Job {job_id} is already {job.status} and cannot be updated")
        return job

    # ---------- time ----------

    def tick(self) -> None:
        now = self.world.clock.now()
        for job in list(self.jobs.values()):
            if job.status != "Created":
                continue
            if now >= job.action_started + ACTION_LIMIT_SECONDS:
                # Inferred text: AWS documents the limit, not the message.
                self.time_out(job, "The action did not complete within 24 hours, CodePipeline's limit for an action.")
            elif now >= job.created + ANSWER_LIMIT_SECONDS:
                self.time_out(job, f"The action timed out: job {job.id} had no result within 20 minutes.")
        for approval in self.approvals:
            if approval.status == "InProgress" and now >= approval.expires:
                approval.status, approval.answered_at = "Failed", now
                # Inferred text and code.
                approval.error = {"code": "TimeoutError", "message": "The approval request expired without a response."}
                self.emit_approval(approval, "FAILED")

    def time_out(self, job: Job, message: str) -> None:
        job.status = "Failed"
        job.result = {"kind": "timeout", "failureDetails": {"type": "JobFailed", "message": message}}
        self.emit_action(job, "FAILED")

    # ---------- API ----------

    def put_job_success_result(self, body: dict[str, Any]) -> dict[str, Any]:
        token = body.get("continuationToken")
        details = body.get("executionDetails") or {}
        variables = body.get("outputVariables")
        if token is not None and not 1 <= len(token) <= 2048:
            raise invalid(
                "1 validation error detected: Value at 'continuationToken' failed to satisfy constraint: "
                "Member must have length less than or equal to 2048"
            )
        if token is not None and variables:
            raise invalid(
                "Output variables can only be specified when the action execution is complete "
                "(without a continuation token)"
            )
        summary = details.get("summary")
        if summary is not None and len(summary) > 2048:
            raise invalid(
                "1 validation error detected: Value at 'executionDetails.summary' failed to satisfy "
                "constraint: Member must have length less than or equal to 2048"
            )
        percent = details.get("percentComplete")
        if percent is not None and not 0 <= int(percent) <= 100:
            raise invalid(
                "1 validation error detected: Value at 'executionDetails.percentComplete' failed to satisfy "
                "constraint: Member must have value between 0 and 100"
            )
        job = self._answerable(body.get("jobId"))
        job.status = "Succeeded"
        job.result = {
            "kind": "continuation" if token is not None else "success",
            "continuationToken": token,
            "executionDetails": details,
            "outputVariables": variables or {},
        }
        if token is not None:
            # CodePipeline re-invokes with a new job: same action, the token, fresh credentials.
            nxt = replace(
                job,
                id=str(uuid.uuid4()),
                continuation_token=token,
                created=self.world.clock.now(),
                status="Created",
                result=None,
                next_job_id=None,
                credentials=fresh_credentials(),
            )
            self.jobs[nxt.id] = nxt
            job.next_job_id = nxt.id
        else:
            self.emit_action(job, "SUCCEEDED")
        return {}

    def put_job_failure_result(self, body: dict[str, Any]) -> dict[str, Any]:
        details = body.get("failureDetails") or {}
        if details.get("type") not in FAILURE_TYPES:
            raise invalid(
                f"1 validation error detected: Value '{details.get('type')}' at 'failureDetails.type' "
                f"failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(FAILURE_TYPES)}]"
            )
        message = details.get("message") or ""
        if not 1 <= len(message) <= 5000:
            raise invalid(
                "1 validation error detected: Value at 'failureDetails.message' failed to satisfy "
                "constraint: Member must have length between 1 and 5000"
            )
        job = self._answerable(body.get("jobId"))
        job.status = "Failed"
        job.result = {"kind": "failure", "failureDetails": details}
        self.emit_action(job, "FAILED")
        return {}

    def get_job_details(self, body: dict[str, Any]) -> dict[str, Any]:
        check_id(body.get("jobId"), "jobId")
        job = self._registered_on_first_sight(body.get("jobId"))
        if job is None:
            raise AwsError("JobNotFoundException", f"Job with id {body.get('jobId')} was not found")
        return {"jobDetails": {"id": job.id, "accountId": job.account, "data": job.data()}}

    # ---------- approvals ----------

    def pipeline(self, account: str, region: str, name: str | None) -> dict[str, Any]:
        backend = codepipeline_backends[account][region]
        found = backend.pipelines.get(name or "")
        if found is None:
            raise AwsError(
                "PipelineNotFoundException", f"Account '{account}' does not have a pipeline with name '{name}'"
            )
        return found.pipeline

    def create_pipeline(self, account: str, region: str, spec: dict[str, Any]) -> dict[str, Any]:
        """A pipeline from a compact spec, `{name, stages: [{name, actions: [{name, kind, timeoutInMinutes?}]}]}`
        with kind `source`, `lambda` or `approval`, and the IAM role CodePipeline needs: for tests
        that do not speak IAM."""
        iam = iam_backends[account]["global"]
        role_name = f"{spec['name']}-pipeline"
        existing = [r for r in iam.roles.values() if r.name == role_name]
        role = existing[0] if existing else iam.create_role(role_name, PIPELINE_TRUST, "/", None, "", [], None)
        types = {
            "source": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
            "lambda": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
            "approval": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
        }
        stages = []
        for stage in spec["stages"]:
            actions = []
            for action in stage["actions"]:
                declared: dict[str, Any] = {"name": action["name"], "actionTypeId": types[action["kind"]]}
                if action["kind"] == "source":
                    declared["configuration"] = {"S3Bucket": "artifacts", "S3ObjectKey": "source.zip"}
                    declared["outputArtifacts"] = [{"name": "SourceArtifact"}]
                if action["kind"] == "lambda":
                    declared["configuration"] = {"FunctionName": action.get("functionName", action["name"])}
                if "timeoutInMinutes" in action:
                    declared["timeoutInMinutes"] = action["timeoutInMinutes"]
                actions.append(declared)
            stages.append({"name": stage["name"], "actions": actions})
        pipeline = {
            "name": spec["name"],
            "roleArn": role.arn,
            "stages": stages,
            "artifactStore": {"type": "S3", "location": "artifacts"},
        }
        codepipeline_backends[account][region].create_pipeline(pipeline, [])
        return pipeline

    def start_approval(self, account: str, region: str, spec: dict[str, Any]) -> Approval:
        pipeline = self.pipeline(account, region, spec.get("pipelineName"))
        action = self._approval_action(pipeline, spec.get("stageName"), spec.get("actionName"))
        now = self.world.clock.now()
        minutes = int(action.get("timeoutInMinutes") or DEFAULT_APPROVAL_MINUTES)
        approval = Approval(
            pipeline=pipeline["name"],
            stage=spec["stageName"],
            action=spec["actionName"],
            token=str(uuid.uuid4()),
            execution_id=spec.get("pipelineExecutionId") or str(uuid.uuid4()),
            account=account,
            region=region,
            started=now,
            expires=now + minutes * 60,
            action_execution_id=spec.get("actionExecutionId"),
            execution_started=spec.get("executionStarted"),
        )
        self.approvals.append(approval)
        self.emit_approval(approval, "STARTED")
        return approval

    @staticmethod
    def _approval_action(pipeline: dict[str, Any], stage_name: str | None, action_name: str | None) -> dict[str, Any]:
        stage = next((s for s in pipeline.get("stages", []) if s.get("name") == stage_name), None)
        if stage is None:
            raise AwsError("StageNotFoundException", f"Stage {stage_name} not found in pipeline {pipeline.get('name')}")
        action = next((a for a in stage.get("actions", []) if a.get("name") == action_name), None)
        if action is None:
            raise AwsError("ActionNotFoundException", f"Action {action_name} not found in stage {stage_name}")
        return action

    def put_approval_result(
        self, account: str, region: str, body: dict[str, Any], caller: str | None
    ) -> dict[str, Any]:
        check_id(body.get("token"), "token")
        pipeline = self.pipeline(account, region, body.get("pipelineName"))
        self._approval_action(pipeline, body.get("stageName"), body.get("actionName"))
        result = body.get("result") or {}
        if result.get("status") not in ("Approved", "Rejected"):
            raise invalid(
                "1 validation error detected: Value at 'result.status' failed to satisfy constraint: "
                "Member must satisfy enum value set: [Approved, Rejected]"
            )
        if len(result.get("summary") or "") > 512:
            raise invalid(
                "1 validation error detected: Value at 'result.summary' failed to satisfy constraint: "
                "Member must have length less than or equal to 512"
            )
        matching = [
            a
            for a in self.approvals
            if a.pipeline == pipeline["name"]
            and a.stage == body.get("stageName")
            and a.action == body.get("actionName")
        ]
        approval = next((a for a in matching if a.token == body.get("token")), None)
        # botocore's model: InvalidApprovalTokenException is "The approval request already received a
        # response or has expired"; ApprovalAlreadyCompletedException "The approval action has already
        # been approved or rejected". A token that expired, or that a newer execution's approval
        # superseded, is stale: the first. Messages are inferred.
        if approval is None or approval.error is not None or approval is not matching[-1]:
            raise AwsError(
                "InvalidApprovalTokenException", f"The token for the approval request is not valid: {body.get('token')}"
            )
        if approval.status != "InProgress":
            approval.rejected_answers += 1
            raise AwsError("ApprovalAlreadyCompletedException", APPROVAL_DONE)
        now = self.world.clock.now()
        approval.status = "Succeeded" if result["status"] == "Approved" else "Failed"
        approval.summary, approval.answered_by, approval.answered_at = result.get("summary"), caller, now
        self.emit_approval(approval, "SUCCEEDED" if approval.status == "Succeeded" else "FAILED")
        return {"approvedAt": now}

    def get_pipeline_state(self, account: str, region: str, body: dict[str, Any]) -> dict[str, Any]:
        pipeline = self.pipeline(account, region, body.get("name"))
        stages = []
        for stage in pipeline.get("stages", []):
            actions, stage_execution = [], None
            for action in stage.get("actions", []):
                state: dict[str, Any] = {"actionName": action.get("name")}
                approval = next(
                    (
                        a
                        for a in reversed(self.approvals)
                        if a.pipeline == pipeline["name"]
                        and a.stage == stage.get("name")
                        and a.action == action.get("name")
                    ),
                    None,
                )
                if approval is not None:
                    latest = {
                        "actionExecutionId": approval.token[:8],
                        "status": approval.status,
                        "lastStatusChange": approval.answered_at or approval.started,
                    }
                    if approval.status == "InProgress":
                        latest["token"] = approval.token
                    if approval.summary:
                        latest["summary"] = approval.summary
                    if approval.answered_by:
                        latest["lastUpdatedBy"] = approval.answered_by
                    if approval.error:
                        latest["errorDetails"] = approval.error
                    state["latestExecution"] = latest
                    stage_execution = {"pipelineExecutionId": approval.execution_id, "status": approval.status}
                job = next(
                    (
                        j
                        for j in reversed(list(self.jobs.values()))
                        if j.pipeline == pipeline["name"]
                        and j.stage == stage.get("name")
                        and j.action == action.get("name")
                    ),
                    None,
                )
                if job is not None and approval is None:
                    status = job.action_status()
                    latest_job: dict[str, Any] = {"status": status, "lastStatusChange": job.created}
                    failure = (job.result or {}).get("failureDetails")
                    if status == "Failed" and failure:
                        # GetPipelineState: a failed action's errorDetails carry its failure message.
                        latest_job["errorDetails"] = {"code": failure.get("type"), "message": failure.get("message")}
                    summary = ((job.result or {}).get("executionDetails") or {}).get("summary")
                    if summary:
                        latest_job["summary"] = summary
                    state["latestExecution"] = latest_job
                    stage_execution = {"pipelineExecutionId": job.execution_id, "status": status}
                actions.append(state)
            entry: dict[str, Any] = {"stageName": stage.get("name"), "actionStates": actions}
            if stage_execution:
                entry["latestExecution"] = stage_execution
            stages.append(entry)
        return {"pipelineName": pipeline["name"], "pipelineVersion": pipeline.get("version", 1), "stageStates": stages}

    def get_pipeline_execution(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """An execution the emulator's jobs or approvals belong to; None leaves it to moto."""
        name, execution = body.get("pipelineName"), body.get("pipelineExecutionId")
        jobs = [j for j in self.jobs.values() if j.pipeline == name and j.execution_id == execution]
        approvals = [a for a in self.approvals if a.pipeline == name and a.execution_id == execution]
        if not jobs and not approvals:
            return None
        states = [j.action_status() for j in jobs if not j.next_job_id]
        states += [a.status for a in approvals]
        status = "Failed" if "Failed" in states else "InProgress" if "InProgress" in states else "Succeeded"
        # An execution has one revision per source artifact: the first job that names it tells it.
        revisions: dict[str, dict[str, Any]] = {}
        for artifact in (a for j in jobs for a in j.input_artifacts if a.get("revision")):
            revisions.setdefault(artifact["name"], artifact)
        return {
            "pipelineExecution": {
                "pipelineName": name,
                "pipelineVersion": 1,
                "pipelineExecutionId": execution,
                "status": status,
                "artifactRevisions": [
                    {
                        k: v
                        for k, v in {
                            "name": n,
                            "revisionId": a.get("revision"),
                            "revisionSummary": a.get("revisionSummary"),
                            "revisionUrl": a.get("revisionUrl"),
                        }.items()
                        if v is not None
                    }
                    for n, a in revisions.items()
                ],
            }
        }

    # ---------- events ----------

    def emit_action(self, job: Job, state: str) -> None:
        if job.pipeline is None:
            return
        self._emit_for(job, job.action_started, job.first_job_id, state, LAMBDA_ACTION)

    def emit_approval(self, approval: Approval, state: str) -> None:
        self._emit_for(approval, approval.started, approval.token, state, MANUAL_APPROVAL)

    def _emit_for(
        self, run: Job | Approval, started: float, first_id: str, state: str, action_type: dict[str, str]
    ) -> None:
        """A job's or an approval's state change: its execution's start (else its own) and its
        action execution id (else the id it was first known by)."""
        self.emit_action_event(
            run.account,
            run.region,
            run.pipeline,
            run.execution_id,
            run.execution_started or started,
            run.stage,
            run.action,
            run.action_execution_id or first_id,
            state,
            action_type,
        )

    def emit_action_event(
        self,
        account: str,
        region: str,
        pipeline: str,
        execution: str,
        execution_started: float,
        stage: str | None,
        action: str | None,
        action_execution_id: str,
        state: str,
        action_type: dict[str, str],
    ) -> None:
        """`CodePipeline Action Execution State Change` in its current shape (AWS-FACTS)."""
        detail = {
            "pipeline": pipeline,
            "execution-id": execution,
            "start-time": iso(execution_started),
            "stage": stage,
            "action": action,
            "action-execution-id": action_execution_id,
            "state": state,
            "region": region,
            "type": action_type,
            "version": EVENT_VERSION,
            "pipeline-execution-attempt": 1.0,
        }
        self.world.events.emit(
            "CodePipeline Action Execution State Change",
            "aws.codepipeline",
            detail,
            account=account,
            region=region,
            now=self.world.clock.now(),
            resources=[f"arn:aws:codepipeline:{region}:{account}:{pipeline}"],
        )

"""CodePipeline jobs and approvals: the event a function receives, and results validated like AWS."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from test_instance_refresh import error_of

ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def create_job(control, **extra):
    spec = {
        "functionName": "instance-refresh",
        "pipelineName": "release",
        "stageName": "Staging",
        "actionName": "Refresh",
        "userParameters": '{"stage":"staging"}',
        "inputArtifacts": [{"name": "SourceArtifact", "revision": "c0ffee", "bucket": "b", "key": "k.zip"}],
    }
    spec.update(extra)
    return control.post("/codepipeline/jobs", spec)


def test_a_job_event_has_the_shape_codepipeline_sends(control):
    created = create_job(control)
    job = created["event"]["CodePipeline.job"]
    assert job["id"] == created["jobId"] and job["accountId"] == "123456789012"
    data = job["data"]
    assert data["actionConfiguration"]["configuration"] == {
        "FunctionName": "instance-refresh",
        "UserParameters": '{"stage":"staging"}',
    }
    assert data["inputArtifacts"][0]["revision"] == "c0ffee"
    assert data["inputArtifacts"][0]["location"] == {
        "type": "S3",
        "s3Location": {"bucketName": "b", "objectKey": "k.zip"},
    }
    assert set(data["artifactCredentials"]) == {"accessKeyId", "secretAccessKey", "sessionToken"}
    assert "continuationToken" not in data


def test_success_with_output_variables_is_recorded_and_a_second_answer_is_refused(aws, control):
    job_id = create_job(control)["jobId"]
    pipeline = aws("codepipeline")
    pipeline.put_job_success_result(
        jobId=job_id, outputVariables={"RefreshId": "r-1"}, executionDetails={"summary": "done", "percentComplete": 100}
    )
    recorded = control.get(f"/codepipeline/jobs/{job_id}")
    assert recorded["status"] == "Succeeded" and recorded["result"]["outputVariables"] == {"RefreshId": "r-1"}
    code, _, status = error_of(
        lambda: pipeline.put_job_failure_result(jobId=job_id, failureDetails={"type": "JobFailed", "message": "x"})
    )
    assert (code, status) == ("InvalidJobStateException", 400)
    assert recorded["rejectedAnswers"] == 0
    assert control.get(f"/codepipeline/jobs/{job_id}")["rejectedAnswers"] == 1, "the refused second answer is counted"
    states = [e["detail"]["state"] for e in control.events("CodePipeline Action Execution State Change")]
    assert states == ["STARTED", "SUCCEEDED"]


def test_a_continuation_creates_the_next_job_carrying_the_token(aws, control):
    job_id = create_job(control)["jobId"]
    aws("codepipeline").put_job_success_result(
        jobId=job_id, continuationToken='{"refreshId":"r-1"}', executionDetails={"percentComplete": 40}
    )
    first = control.get(f"/codepipeline/jobs/{job_id}")
    assert first["result"]["kind"] == "continuation" and first["nextJobId"]
    nxt = control.get(f"/codepipeline/jobs/{first['nextJobId']}")
    assert nxt["event"]["CodePipeline.job"]["data"]["continuationToken"] == '{"refreshId":"r-1"}'
    assert nxt["firstJobId"] == job_id and nxt["status"] == "Created"


def test_result_validation_errors(aws, control):
    job_id = create_job(control)["jobId"]
    pipeline = aws("codepipeline")
    code, _, _ = error_of(lambda: pipeline.put_job_success_result(jobId="00000000-0000-0000-0000-000000000000"))
    assert code == "JobNotFoundException"
    code, message, _ = error_of(lambda: pipeline.put_job_success_result(jobId=job_id, continuationToken="t" * 2049))
    assert code == "ValidationException" and "2048" in message
    code, _, _ = error_of(
        lambda: pipeline.put_job_success_result(jobId=job_id, continuationToken="t", outputVariables={"a": "b"})
    )
    assert code == "ValidationException"
    code, _, _ = error_of(
        lambda: pipeline.put_job_failure_result(
            jobId=job_id, failureDetails={"type": "JobFailed", "message": "m" * 5001}
        )
    )
    assert code == "ValidationException"
    assert control.get(f"/codepipeline/jobs/{job_id}")["status"] == "Created", "rejected answers change nothing"


def test_get_job_details_returns_the_job_data(aws, control):
    job_id = create_job(control)["jobId"]
    details = aws("codepipeline").get_job_details(jobId=job_id)["jobDetails"]
    assert details["id"] == job_id
    assert details["data"]["actionConfiguration"]["configuration"]["FunctionName"] == "instance-refresh"


@pytest.fixture
def pipeline(aws, control):
    role = aws("iam").create_role(RoleName="pipeline", AssumeRolePolicyDocument=ROLE_POLICY)["Role"]["Arn"]
    stages = [
        {
            "name": "Source",
            "actions": [
                {
                    "name": "Source",
                    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                    "configuration": {"S3Bucket": "b", "S3ObjectKey": "k.zip"},
                    "outputArtifacts": [{"name": "SourceArtifact"}],
                }
            ],
        },
        {
            "name": "Approval",
            "actions": [
                {
                    "name": "QA",
                    "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
                },
                {
                    "name": "QuickQA",
                    "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
                    "timeoutInMinutes": 5,
                },
            ],
        },
    ]
    aws("codepipeline").create_pipeline(
        pipeline={
            "name": "release",
            "roleArn": role,
            "stages": stages,
            "artifactStore": {"type": "S3", "location": "artifacts"},
        }
    )
    return "release"


def test_an_approval_exposes_its_token_in_pipeline_state_and_takes_one_answer(aws, control, pipeline):
    started = control.post(
        "/codepipeline/approvals", {"pipelineName": pipeline, "stageName": "Approval", "actionName": "QA"}
    )
    client = aws("codepipeline")
    state = client.get_pipeline_state(name=pipeline)
    approval_stage = next(s for s in state["stageStates"] if s["stageName"] == "Approval")
    latest = approval_stage["actionStates"][0]["latestExecution"]
    assert latest["status"] == "InProgress" and latest["token"] == started["token"]
    assert approval_stage["latestExecution"]["pipelineExecutionId"] == started["pipelineExecutionId"]
    code, _, _ = error_of(
        lambda: client.put_approval_result(
            pipelineName=pipeline,
            stageName="Approval",
            actionName="QA",
            result={"summary": "x", "status": "Approved"},
            token="0b9c7e5a-1d2e-4f30-8a4b-5c6d7e8f9a0b",
        )
    )
    assert code == "InvalidApprovalTokenException", "a well-formed token this approval never had"
    answer = client.put_approval_result(
        pipelineName=pipeline,
        stageName="Approval",
        actionName="QA",
        result={"summary": "staging unhealthy", "status": "Rejected"},
        token=started["token"],
    )
    assert "approvedAt" in answer
    recorded = control.get("/codepipeline/approvals")[0]
    assert recorded["status"] == "Failed" and recorded["summary"] == "staging unhealthy"
    assert recorded["answeredBy"] == "AKIDEMULATORTEST"
    code, message, _ = error_of(
        lambda: client.put_approval_result(
            pipelineName=pipeline,
            stageName="Approval",
            actionName="QA",
            result={"summary": "x", "status": "Approved"},
            token=started["token"],
        )
    )
    assert code == "ApprovalAlreadyCompletedException"
    assert message == "The approval request that you responded to is already complete or has expired."
    states = [e["detail"]["state"] for e in control.events("CodePipeline Action Execution State Change")]
    assert states == ["STARTED", "FAILED"]


def test_unknown_pipeline_stage_and_action_are_named(aws, control, pipeline):
    client = aws("codepipeline")
    for kwargs, expected in [
        ({"pipelineName": "nope", "stageName": "Approval", "actionName": "QA"}, "PipelineNotFoundException"),
        ({"pipelineName": pipeline, "stageName": "Nope", "actionName": "QA"}, "StageNotFoundException"),
        ({"pipelineName": pipeline, "stageName": "Approval", "actionName": "Nope"}, "ActionNotFoundException"),
    ]:
        code, _, _ = error_of(
            lambda kw=kwargs: client.put_approval_result(
                result={"summary": "x", "status": "Approved"}, token="0b9c7e5a-1d2e-4f30-8a4b-5c6d7e8f9a0b", **kw
            )
        )
        assert code == expected


def test_a_sample_event_can_be_registered_as_a_job_and_answered(aws, control):
    event = {
        "CodePipeline.job": {
            "id": "a1b2c3d4-0001-4a5b-8c9d-000000000001",
            "accountId": "123456789012",
            "data": {
                "actionConfiguration": {"configuration": {"FunctionName": "f", "UserParameters": "{}"}},
                "inputArtifacts": "not-a-list",
                "artifactCredentials": {"secretAccessKey": "CANARY"},
            },
        }
    }
    assert control.post("/codepipeline/jobs", {"event": event})["jobId"] == "a1b2c3d4-0001-4a5b-8c9d-000000000001"
    aws("codepipeline").put_job_failure_result(
        jobId="a1b2c3d4-0001-4a5b-8c9d-000000000001", failureDetails={"type": "JobFailed", "message": "malformed"}
    )
    assert control.get("/codepipeline/jobs/a1b2c3d4-0001-4a5b-8c9d-000000000001")["status"] == "Failed"


def test_get_pipeline_execution_reports_the_jobs_of_an_execution(aws, control):
    job_id = create_job(control, pipelineExecutionId="exec-7")["jobId"]
    client = aws("codepipeline")
    execution = client.get_pipeline_execution(pipelineName="release", pipelineExecutionId="exec-7")["pipelineExecution"]
    assert execution["status"] == "InProgress"
    assert execution["artifactRevisions"] == [{"name": "SourceArtifact", "revisionId": "c0ffee"}]
    client.put_job_failure_result(jobId=job_id, failureDetails={"type": "JobFailed", "message": "no"})
    assert (
        client.get_pipeline_execution(pipelineName="release", pipelineExecutionId="exec-7")["pipelineExecution"][
            "status"
        ]
        == "Failed"
    )


def test_ids_and_tokens_that_do_not_match_aws_patterns_are_validation_errors(aws, control, pipeline):
    # botocore model: JobId and ApprovalToken match [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12};
    # input is validated before anything is looked up.
    client = aws("codepipeline")
    for call in (
        lambda: client.put_job_success_result(jobId="job-1"),
        lambda: client.put_job_failure_result(jobId="NOT-A-UUID", failureDetails={"type": "JobFailed", "message": "x"}),
        lambda: client.get_job_details(jobId="A1B2C3D4-0001-4A5B-8C9D-000000000001"),
        lambda: client.put_approval_result(
            pipelineName="nope",
            stageName="Approval",
            actionName="QA",
            result={"summary": "x", "status": "Approved"},
            token="t",
        ),
    ):
        code, message, status = error_of(call)
        assert (code, status) == ("ValidationException", 400)
        assert "Member must satisfy regular expression pattern" in message


def answer(client, pipeline: str, token: str, action: str = "QA", status: str = "Approved"):
    return client.put_approval_result(
        pipelineName=pipeline,
        stageName="Approval",
        actionName=action,
        result={"summary": "x", "status": status},
        token=token,
    )


def test_a_job_with_no_answer_for_20_minutes_fails_the_action(aws, control):
    # AWS-FACTS, Lambda Invoke action: no result within 20 minutes fails the action.
    job_id = create_job(control)["jobId"]
    control.advance(20 * 60 - 1)
    assert control.get(f"/codepipeline/jobs/{job_id}")["status"] == "Created"
    control.advance(1)
    timed_out = control.get(f"/codepipeline/jobs/{job_id}")
    assert timed_out["status"] == "Failed" and timed_out["result"]["kind"] == "timeout"
    assert "20 minutes" in timed_out["result"]["failureDetails"]["message"]
    code, _, _ = error_of(lambda: aws("codepipeline").put_job_success_result(jobId=job_id))
    assert code == "InvalidJobStateException", "a late answer finds the job already ended"
    states = [e["detail"]["state"] for e in control.events("CodePipeline Action Execution State Change")]
    assert states == ["STARTED", "FAILED"]


def test_continuations_restart_the_20_minutes_but_the_action_ends_after_24_hours(aws, control):
    # AWS-FACTS: each in-progress answer restarts the 20-minute timer; 24 hours is the action's limit.
    client = aws("codepipeline")
    job_id = create_job(control)["jobId"]
    answered = 0
    while control.get(f"/codepipeline/jobs/{job_id}")["status"] == "Created":
        control.advance(19 * 60)
        try:
            client.put_job_success_result(jobId=job_id, continuationToken="t")
        except Exception:
            break
        answered += 1
        job_id = control.get(f"/codepipeline/jobs/{job_id}")["nextJobId"]
    ended = control.get(f"/codepipeline/jobs/{job_id}")
    assert ended["status"] == "Failed" and "24 hours" in ended["result"]["failureDetails"]["message"]
    assert answered == 24 * 60 // 19, "every continuation within 20 minutes kept the action going until 24 h"


def test_an_approval_expires_after_its_timeout_and_its_token_is_then_refused(aws, control, pipeline):
    # ActionDeclaration.timeoutInMinutes (manual approvals, default 7 days); botocore's model:
    # InvalidApprovalTokenException "The approval request already received a response or has expired."
    default = control.post(
        "/codepipeline/approvals", {"pipelineName": pipeline, "stageName": "Approval", "actionName": "QA"}
    )
    quick = control.post(
        "/codepipeline/approvals", {"pipelineName": pipeline, "stageName": "Approval", "actionName": "QuickQA"}
    )
    assert default["expires"] == control.get("/codepipeline/approvals")[0]["expires"]
    started = control.get("/clock")["now"]
    assert _epoch(default["expires"]) == pytest.approx(started + 7 * 24 * 3600, abs=2)
    control.advance(5 * 60)
    recorded = {a["actionName"]: a for a in control.get("/codepipeline/approvals")}
    assert recorded["QuickQA"]["status"] == "Failed" and recorded["QA"]["status"] == "InProgress"
    client = aws("codepipeline")
    state = client.get_pipeline_state(name=pipeline)
    actions = {a["actionName"]: a for s in state["stageStates"] for a in s["actionStates"]}
    assert actions["QuickQA"]["latestExecution"]["status"] == "Failed"
    assert (
        "token" not in actions["QuickQA"]["latestExecution"] and actions["QuickQA"]["latestExecution"]["errorDetails"]
    )
    code, _, _ = error_of(lambda: answer(client, pipeline, quick["token"], action="QuickQA"))
    assert code == "InvalidApprovalTokenException"
    events = [
        (e["detail"]["action"], e["detail"]["state"])
        for e in control.events("CodePipeline Action Execution State Change")
    ]
    assert ("QuickQA", "FAILED") in events


def test_a_token_superseded_by_a_newer_execution_is_stale(aws, control, pipeline):
    client = aws("codepipeline")
    first = control.post(
        "/codepipeline/approvals", {"pipelineName": pipeline, "stageName": "Approval", "actionName": "QA"}
    )
    second = control.post(
        "/codepipeline/approvals", {"pipelineName": pipeline, "stageName": "Approval", "actionName": "QA"}
    )
    code, _, _ = error_of(lambda: answer(client, pipeline, first["token"]))
    assert code == "InvalidApprovalTokenException"
    assert "approvedAt" in answer(client, pipeline, second["token"])


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_an_execution_reports_its_revision_summary_and_url_and_a_failed_action_its_error(aws, control, pipeline):
    # API_ArtifactRevision: revisionSummary (for CodeConnections a JSON string with the commit
    # message) and revisionUrl; API_ActionExecution.errorDetails: a failed action's error.
    spec = {
        "name": "SourceArtifact",
        "revision": "9f86d08",
        "revisionSummary": '{"ProviderType":"GitHub","CommitMessage":"Fix totals"}',
        "revisionUrl": "https://github.com/shop/web/commit/9f86d08",
    }
    job_id = create_job(
        control,
        pipelineName=pipeline,
        stageName="Approval",
        actionName="QA",
        pipelineExecutionId="exec-8",
        inputArtifacts=[spec],
    )["jobId"]
    client = aws("codepipeline")
    revision = client.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId="exec-8")["pipelineExecution"][
        "artifactRevisions"
    ][0]
    assert revision["revisionSummary"] == spec["revisionSummary"] and revision["revisionUrl"] == spec["revisionUrl"]
    client.put_job_failure_result(
        jobId=job_id, failureDetails={"type": "JobFailed", "message": "refresh failed: alarm"}
    )
    stage = next(s for s in client.get_pipeline_state(name=pipeline)["stageStates"] if s["stageName"] == "Approval")
    latest = stage["actionStates"][0]["latestExecution"]
    assert latest["status"] == "Failed"
    assert latest["errorDetails"] == {"code": "JobFailed", "message": "refresh failed: alarm"}
    assert stage["latestExecution"] == {"pipelineExecutionId": "exec-8", "status": "Failed"}


def test_a_pipeline_from_a_compact_spec_takes_approvals_and_jobs(aws, control):
    control.post(
        "/codepipeline/pipelines",
        {
            "name": "release",
            "stages": [
                {"name": "Source", "actions": [{"name": "Source", "kind": "source"}]},
                {
                    "name": "Staging",
                    "actions": [{"name": "Refresh", "kind": "lambda", "functionName": "instance-refresh"}],
                },
                {"name": "Approval", "actions": [{"name": "QA", "kind": "approval", "timeoutInMinutes": 60}]},
            ],
        },
    )
    declared = aws("codepipeline").get_pipeline(name="release")["pipeline"]
    assert [s["name"] for s in declared["stages"]] == ["Source", "Staging", "Approval"]
    assert declared["stages"][2]["actions"][0]["timeoutInMinutes"] == 60
    approval = control.post(
        "/codepipeline/approvals", {"pipelineName": "release", "stageName": "Approval", "actionName": "QA"}
    )
    assert approval["status"] == "InProgress"

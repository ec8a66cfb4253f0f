"""CodePipeline V2 played from a pipeline's declaration: a push to a local Git repository starts
an execution, stages run in order and actions by runOrder, variables are resolved, Lambda jobs
are sent (and re-sent after a continuation), approvals wait, and every step is an event."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

STORE = "pipeline-artifacts"
REPO = "shop/web"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
SOURCE = {
    "name": "Source",
    "namespace": "SourceVariables",
    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
    "configuration": {
        "ConnectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/0000",
        "FullRepositoryId": REPO,
        "BranchName": "main",
        "DetectChanges": "true",
    },
    "outputArtifacts": [{"name": "Release"}],
    "runOrder": 1,
}


def invoke(name: str, function: str, parameters: str, run_order: int = 1, **extra) -> dict:
    return {
        "name": name,
        "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
        "configuration": {"FunctionName": function, "UserParameters": parameters},
        "runOrder": run_order,
        **extra,
    }


APPROVAL = {
    "name": "QA",
    "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
    "runOrder": 1,
}


def approval_then_production() -> list[dict]:
    return [
        {"name": "Approval", "actions": [APPROVAL]},
        {"name": "Production", "actions": [invoke("Refresh", "refresh", "{}")]},
    ]


def git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@shop",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@shop",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


def commit(repo: Path, message: str, files: dict[str, str]) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def sent(emulator):
    """The jobs CodePipeline sends, in order, instead of a running function."""
    jobs: list[dict] = []
    emulator.world.pipelines.invoker = lambda account, region, function, payload: jobs.append(
        {"function": function, **json.loads(payload)["CodePipeline.job"]}
    )
    yield jobs
    emulator.world.pipelines.invoker = None


@pytest.fixture
def repo(tmp_path: Path, control) -> Path:
    path = tmp_path / "web"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    control.post("/codepipeline/sources", {"repositoryId": REPO, "path": str(path)})
    return path


def make_pipeline(aws, stages: list[dict], mode: str = "SUPERSEDED", name: str = "release") -> None:
    role = aws("iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    aws("s3").create_bucket(Bucket=STORE)
    aws("codepipeline").create_pipeline(
        pipeline={
            "name": name,
            "roleArn": role,
            "artifactStore": {"type": "S3", "location": STORE},
            "pipelineType": "V2",
            "executionMode": mode,
            "stages": [{"name": "Source", "actions": [SOURCE]}, *stages],
        }
    )


def push(control, branch: str = "main") -> list[str]:
    return control.post("/codepipeline/webhook", {"repositoryId": REPO, "branch": branch})["started"]


def events(control, detail_type: str, **match) -> list[dict]:
    found = [e["detail"] for e in control.events(f"CodePipeline {detail_type} Execution State Change")]
    return [d for d in found if all(d.get(k) == v for k, v in match.items())]


def execution(aws, execution_id: str, pipeline: str = "release") -> dict:
    return aws("codepipeline").get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution_id)[
        "pipelineExecution"
    ]


def test_a_push_runs_the_source_and_sends_the_lambda_its_job_with_every_variable_resolved(aws, control, repo, sent):
    make_pipeline(
        aws,
        [
            {
                "name": "Staging",
                "actions": [
                    invoke(
                        "Refresh",
                        "refresh",
                        '{"c":"#{SourceVariables.CommitId}","x":"#{codepipeline.PipelineExecutionId}","m":"#{SourceVariables.CommitMessage}"}',
                        inputArtifacts=[{"name": "Release"}],
                    )
                ],
            }
        ],
    )
    sha = commit(repo, "Fix checkout totals", {"app.txt": "v2", "bin/start": "#!/bin/sh\n"})

    (execution_id,) = push(control)

    (job,) = sent
    assert job["function"] == "refresh"
    params = json.loads(job["data"]["actionConfiguration"]["configuration"]["UserParameters"])
    assert params == {"c": sha, "x": execution_id, "m": "Fix checkout totals"}
    (artifact,) = job["data"]["inputArtifacts"]
    assert artifact["name"] == "Release" and artifact["revision"] == sha
    location = artifact["location"]["s3Location"]
    assert location["bucketName"] == STORE and location["objectKey"].startswith("release/Release/")
    body = aws("s3").get_object(Bucket=STORE, Key=location["objectKey"])["Body"].read()
    assert zipfile.ZipFile(io.BytesIO(body)).read("app.txt") == b"v2", "the artifact is the commit's tree"
    assert job["data"]["artifactCredentials"]["secretAccessKey"]
    revision = execution(aws, execution_id)["artifactRevisions"][0]
    assert revision["revisionId"] == sha
    assert json.loads(revision["revisionSummary"])["CommitMessage"] == "Fix checkout totals"
    started = events(control, "Pipeline", state="STARTED")
    assert started[0]["execution-trigger"]["trigger-type"] == "Webhook"
    assert started[0]["version"] == 3.0 and isinstance(started[0]["version"], float)


def test_a_push_to_a_branch_no_pipeline_watches_starts_nothing(aws, control, repo, sent):
    make_pipeline(aws, [{"name": "Staging", "actions": [invoke("Refresh", "refresh", "{}")]}])
    commit(repo, "first", {"a": "1"})
    git(repo, "checkout", "-q", "-b", "feature")
    assert push(control, "feature") == []
    assert sent == []


def test_a_continuation_is_sent_again_after_the_pause_and_output_variables_reach_later_actions(
    aws, control, repo, sent, emulator
):
    emulator.world.pipelines.reinvoke_seconds = 10
    make_pipeline(
        aws,
        [
            {
                "name": "Production",
                "actions": [
                    invoke("Refresh", "refresh", "{}", 1, namespace="RefreshVars"),
                    invoke("Announce", "notify", '{"v":"#{RefreshVars.LaunchTemplateVersion}"}', 2),
                ],
            }
        ],
    )
    commit(repo, "one", {"a": "1"})
    push(control)
    cp = aws("codepipeline")
    cp.put_job_success_result(
        jobId=sent[0]["id"], continuationToken="look-again", executionDetails={"summary": "50%", "percentComplete": 50}
    )

    control.advance(9)
    assert len(sent) == 1, "not before the pause"
    control.advance(2)
    assert len(sent) == 2 and sent[1]["data"]["continuationToken"] == "look-again"
    assert sent[1]["id"] != sent[0]["id"], "each continuation is a new job"
    state = cp.get_pipeline_state(name="release")["stageStates"][1]
    assert state["actionStates"][0]["latestExecution"]["percentComplete"] == 50
    assert "latestExecution" not in state["actionStates"][1], "runOrder 2 waits for runOrder 1"

    cp.put_job_success_result(jobId=sent[1]["id"], outputVariables={"LaunchTemplateVersion": "7"})
    control.advance(1)
    assert [j["function"] for j in sent] == ["refresh", "refresh", "notify"]
    assert json.loads(sent[2]["data"]["actionConfiguration"]["configuration"]["UserParameters"]) == {"v": "7"}
    cp.put_job_success_result(jobId=sent[2]["id"])
    control.advance(1)
    (summary,) = cp.list_pipeline_executions(pipelineName="release")["pipelineExecutionSummaries"]
    assert summary["status"] == "Succeeded"
    assert [d["state"] for d in events(control, "Stage", stage="Production")] == ["STARTED", "SUCCEEDED"]


def test_an_approval_waits_for_its_answer_and_a_rejection_fails_the_execution(aws, control, repo, sent):
    make_pipeline(aws, approval_then_production())
    commit(repo, "one", {"a": "1"})
    (execution_id,) = push(control)
    control.advance(60)
    cp = aws("codepipeline")
    approval = cp.get_pipeline_state(name="release")["stageStates"][1]
    assert approval["latestExecution"] == {"pipelineExecutionId": execution_id, "status": "InProgress"}
    token = approval["actionStates"][0]["latestExecution"]["token"]
    assert sent == [], "production waits for the approval"
    assert [d["state"] for d in events(control, "Action", action="QA")] == ["STARTED"]

    cp.put_approval_result(
        pipelineName="release",
        stageName="Approval",
        actionName="QA",
        token=token,
        result={"status": "Rejected", "summary": "Totals wrong for EUR"},
    )
    control.advance(1)

    assert execution(aws, execution_id)["status"] == "Failed"
    assert "Approval" in execution(aws, execution_id)["statusSummary"]
    state = cp.get_pipeline_state(name="release")["stageStates"][1]
    assert state["latestExecution"]["status"] == "Failed"
    assert state["actionStates"][0]["latestExecution"]["summary"] == "Totals wrong for EUR"
    assert sent == []
    assert [d["state"] for d in events(control, "Pipeline")] == ["STARTED", "FAILED"]


def test_an_approved_release_goes_on_to_the_next_stage(aws, control, repo, sent):
    make_pipeline(aws, approval_then_production())
    commit(repo, "one", {"a": "1"})
    push(control)
    cp = aws("codepipeline")
    token = cp.get_pipeline_state(name="release")["stageStates"][1]["actionStates"][0]["latestExecution"]["token"]
    cp.put_approval_result(
        pipelineName="release",
        stageName="Approval",
        actionName="QA",
        token=token,
        result={"status": "Approved", "summary": "ok"},
    )
    control.advance(1)
    assert [j["function"] for j in sent] == ["refresh"]


def test_a_failed_job_fails_its_stage_and_the_execution_with_its_message(aws, control, repo, sent):
    make_pipeline(aws, [{"name": "Staging", "actions": [invoke("Refresh", "refresh", "{}")]}])
    commit(repo, "one", {"a": "1"})
    (execution_id,) = push(control)
    aws("codepipeline").put_job_failure_result(
        jobId=sent[0]["id"],
        failureDetails={"type": "JobFailed", "message": "instance refresh rolled back: bootstrap=failed"},
    )
    control.advance(1)

    found = execution(aws, execution_id)
    assert found["status"] == "Failed"
    assert (
        found["statusSummary"] == "Stage Staging failed: action Refresh: instance refresh rolled back: bootstrap=failed"
    )
    stage = aws("codepipeline").get_pipeline_state(name="release")["stageStates"][1]
    assert stage["latestExecution"]["status"] == "Failed"
    assert stage["actionStates"][0]["latestExecution"]["errorDetails"] == {
        "code": "JobFailed",
        "message": "instance refresh rolled back: bootstrap=failed",
    }
    failed = events(control, "Pipeline", state="FAILED")
    assert [d["execution-id"] for d in failed] == [execution_id]


def test_a_variable_nothing_produces_fails_the_action_saying_which(aws, control, repo, sent):
    make_pipeline(
        aws, [{"name": "Staging", "actions": [invoke("Refresh", "refresh", '{"c":"#{SourceVariables.Nope}"}')]}]
    )
    commit(repo, "one", {"a": "1"})
    (execution_id,) = push(control)
    assert sent == []
    assert "#{SourceVariables.Nope}" in execution(aws, execution_id)["statusSummary"]


def test_in_superseded_mode_a_newer_release_replaces_one_waiting_for_the_same_stage(aws, control, repo, sent):
    make_pipeline(
        aws,
        [
            {"name": "Staging", "actions": [invoke("Refresh", "refresh", "{}")]},
            {"name": "Approval", "actions": [APPROVAL]},
        ],
    )
    commit(repo, "one", {"a": "1"})
    (first,) = push(control)
    commit(repo, "two", {"a": "2"})
    (second,) = push(control)
    commit(repo, "three", {"a": "3"})
    (third,) = push(control)
    assert len(sent) == 1, "staging holds one execution at a time"

    assert execution(aws, second)["status"] == "Superseded", "the third, waiting at the same stage, replaced it"
    assert execution(aws, third)["status"] == "InProgress"
    aws("codepipeline").put_job_success_result(jobId=sent[0]["id"])
    control.advance(1)
    assert execution(aws, first)["status"] == "InProgress", "the first moved on to the approval"
    assert len(sent) == 2, "the third entered staging once the first left it"
    summaries = aws("codepipeline").list_pipeline_executions(pipelineName="release")["pipelineExecutionSummaries"]
    assert [s["pipelineExecutionId"] for s in summaries] == [third, second, first], "newest first"
    assert [s["sourceRevisions"][0]["revisionSummary"] for s in summaries][2].endswith('"one"}')


def test_in_queued_mode_releases_wait_their_turn(aws, control, repo, sent):
    make_pipeline(
        aws,
        [{"name": "Staging", "actions": [invoke("Refresh", "refresh", "{}", inputArtifacts=[{"name": "Release"}])]}],
        mode="QUEUED",
    )
    commit(repo, "one", {"a": "1"})
    push(control)
    two = commit(repo, "two", {"a": "2"})
    (second,) = push(control)
    commit(repo, "three", {"a": "3"})
    (third,) = push(control)
    aws("codepipeline").put_job_success_result(jobId=sent[0]["id"])
    control.advance(1)
    assert execution(aws, second)["status"] == "InProgress", "nothing is superseded"
    assert execution(aws, third)["status"] == "InProgress"
    assert len(sent) == 2 and sent[1]["data"]["inputArtifacts"][0]["revision"] == two, "the older one goes first"


def test_start_pipeline_execution_runs_the_branch_head(aws, control, repo, sent):
    make_pipeline(
        aws, [{"name": "Staging", "actions": [invoke("Refresh", "refresh", '"#{SourceVariables.CommitId}"')]}]
    )
    sha = commit(repo, "one", {"a": "1"})
    execution_id = aws("codepipeline").start_pipeline_execution(name="release")["pipelineExecutionId"]
    assert json.loads(sent[0]["data"]["actionConfiguration"]["configuration"]["UserParameters"]) == sha
    assert execution(aws, execution_id)["trigger"]["triggerType"] == "StartPipelineExecution"
    with pytest.raises(aws("codepipeline").exceptions.PipelineNotFoundException):
        aws("codepipeline").start_pipeline_execution(name="nope")


def test_an_approval_nobody_answers_expires_and_fails_the_execution(aws, control, repo, sent):
    make_pipeline(aws, [{"name": "Approval", "actions": [{**APPROVAL, "timeoutInMinutes": 5}]}])
    commit(repo, "one", {"a": "1"})
    (execution_id,) = push(control)
    control.advance(299)
    assert execution(aws, execution_id)["status"] == "InProgress"
    control.advance(2)
    assert execution(aws, execution_id)["status"] == "Failed"
    latest = aws("codepipeline").get_pipeline_state(name="release")["stageStates"][1]["actionStates"][0][
        "latestExecution"
    ]
    assert latest["status"] == "Failed" and latest["errorDetails"]["code"] == "TimeoutError"
    assert "token" not in latest, "an expired approval offers no token"

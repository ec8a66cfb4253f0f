"""The README's first command, each scenario run as a user runs it (`python tests/e2e/release.py
<scenario>`: sam deploy into the emulator, a push, the deployed pipelines played with the real
functions and the fleet booting its user data), then judged here on the final state it wrote,
independently of the scenario's own checks: instances and their releases, launch template
versions, execution statuses, approvals, job answers and the QA inbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CAPACITY = 2


def run(scenario: str) -> dict[str, Any]:
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "e2e" / "release.py"), scenario, "--limit", "300"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    # The scenario's own summary, for the CI log.
    print(done.stdout[-6000:], done.stderr[-3000:])
    assert done.returncode == 0, f"local-run {scenario} diverged: {done.stdout[-1500:]}"
    return json.loads((ROOT / ".local-run" / scenario / "summary.json").read_text())


def releases(summary: dict[str, Any], stage: str) -> set[str]:
    return {i["release"] for i in summary["fleet"][stage]}


def healthy(summary: dict[str, Any], stage: str) -> bool:
    rows = summary["fleet"][stage]
    return len(rows) == CAPACITY and all(r["state"] == "InService" and r["bootstrap"] == "complete" for r in rows)


def executions(summary: dict[str, Any], pipeline: str = "release") -> list[dict[str, Any]]:
    return [e for e in summary["executions"] if e["pipelineName"] == pipeline]


def test_release_reaches_production_after_qa_approves():
    summary = run("release")
    (execution,) = executions(summary)
    assert execution["status"] == "Succeeded"
    assert set(execution["stages"].values()) == {"Succeeded"}
    for stage in ("staging", "production"):
        assert releases(summary, stage) == {execution["commit"]} and healthy(summary, stage)
        assert {i["version"] for i in summary["fleet"][stage]} == {"2"}, "one new launch template version"
    assert releases(summary, "dev") == {"-"}, "dev is another pipeline's"
    assert {a["status"] for a in summary["approvals"]} == {"Succeeded"}
    assert sorted(summary["inbox"]) == ["deployed", "ready-for-qa"]
    assert {b["exitCode"] for b in summary["boots"]} == {0} and len(summary["boots"]) == 2 * CAPACITY
    assert {a["result"] for a in summary["lifecycle"]} == {"CONTINUE"}
    assert all(j["status"] == "Succeeded" for j in summary["jobs"]), "every job answered, none failed"


def test_bad_release_rolls_staging_back_and_tells_qa_where_it_failed():
    summary = run("bad-release")
    good, bad = sorted(executions(summary), key=lambda e: e["startTime"])
    assert bad["status"] == "Failed" and bad["stages"]["Staging"] == "Failed"
    assert good["status"] == "InProgress" and good["stages"]["Approval"] == "InProgress", (
        "the good release still waits for QA"
    )
    assert releases(summary, "staging") == {good["commit"]} and healthy(summary, "staging")
    assert {i["version"] for i in summary["fleet"]["staging"]} == {"2"}, "back on the good release's version"
    assert [r["status"] for r in summary["refreshes"]] == ["Successful", "RollbackSuccessful"]
    failed_boots = [b for b in summary["boots"] if b["release"] == bad["commit"]]
    assert failed_boots and all(b["exitCode"] == 1 for b in failed_boots)
    assert "ABANDON" in {a["result"] for a in summary["lifecycle"]}
    assert sorted(summary["inbox"]) == ["deployment-failed", "ready-for-qa"]
    assert releases(summary, "production") == {"-"}


def test_unhealthy_staging_gets_the_waiting_approval_rejected():
    summary = run("unhealthy-staging")
    (execution,) = executions(summary)
    assert execution["status"] == "Failed" and execution["stages"]["Approval"] == "Failed"
    (approval,) = summary["approvals"]
    assert approval["status"] == "Failed" and "web-staging-5xx" in approval["summary"]
    assert sorted(summary["inbox"]) == ["approval-rejected", "ready-for-qa"], "one notice of the rejection, not two"
    assert releases(summary, "production") == {"-"}, "production never changed"


def test_window_closed_holds_production_until_the_freeze_ends():
    summary = run("window-closed")
    (execution,) = executions(summary)
    assert execution["status"] == "Succeeded"
    gate = [j for j in summary["jobs"] if j["actionName"] == "Gate"]
    assert len(gate) >= 2 and gate[-1]["result"]["kind"] == "success"
    assert all(j["result"]["kind"] == "continuation" for j in gate[:-1]), "it waited by continuations"
    assert releases(summary, "production") == {execution["commit"]} and healthy(summary, "production")


def test_dev_commits_refresh_dev_only():
    summary = run("dev")
    (execution,) = executions(summary, "dev")
    assert execution["status"] == "Succeeded"
    assert releases(summary, "dev") == {execution["commit"]} and healthy(summary, "dev")
    assert releases(summary, "staging") == {"-"} and executions(summary) == []
    assert summary["inbox"] == ["deployed"]

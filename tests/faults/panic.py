"""A panic in a job function's handler still answers its job, in the build that is deployed.

    python tests/faults/panic.py --release  # the release profile `sam build` uses (the test command)
    python tests/faults/panic.py            # the debug build (seconds, once the tests are built)

Builds `shared/examples/panicking_job.rs` (the shared runner around a handler that panics:
the test-only switch; no deployed function contains it) with the chosen profile, runs it under
the Runtime API of tests/faults/runtime_api.py against the emulator, and checks: the job is
failed once with a message naming the panic, the invocation itself succeeds (the job is
answered, so Lambda must not retry it), and no canary reaches the output. With `--release`
this proves the release profile keeps `panic = "unwind"`: with "abort" the process would die
and the job wait for CodePipeline's timeout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "emulator"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import local_run  # noqa: E402
from emulator.server import Emulator  # noqa: E402
from matrix import ACCESS_KEY, CANARIES, SECRETS, job_event, record  # noqa: E402
from runtime_api import RuntimeApi  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", action="store_true", help="the deployed release profile")
    args = parser.parse_args()
    profile = ["--release"] if args.release else []
    began = time.monotonic()
    subprocess.run(
        ["cargo", "build", "--locked", *profile, "-p", "shared", "--example", "panicking_job"], cwd=ROOT, check=True
    )
    built = time.monotonic() - began
    binary = ROOT / "target" / ("release" if args.release else "debug") / "examples" / "panicking_job"
    failures: list[str] = []
    with Emulator(realtime=True) as emulator:
        control = local_run.Control(emulator.endpoint)
        event = job_event("instance-refresh/start.json")
        job_id = event["CodePipeline.job"]["id"]
        control.call("POST", "/codepipeline/jobs", {"event": event})
        api = RuntimeApi()
        env = {
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_NAME": "panicking-job",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_LEVEL": "TRACE",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": emulator.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            **CANARIES,
        }
        process = subprocess.Popen([str(binary)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            api.invoke(event, 30)
            outcome = api.wait(32)
        finally:
            process.kill()
            output = process.communicate()[0]
            api.close()
        job_record = control.call("GET", f"/codepipeline/jobs/{job_id}")
    result = job_record["result"] or {}
    message = (result.get("failureDetails") or {}).get("message", "")
    if outcome.kind != "response":
        failures.append(f"the invocation ended with {outcome.kind}: {outcome.body}")
    if result.get("kind") != "failure" or "deliberate panic" not in message:
        failures.append(f"the job was not failed naming the panic: {json.dumps(result)}")
    if job_record["rejectedAnswers"]:
        failures.append("the job was answered twice")
    if any(secret in text for secret in SECRETS for text in (output, message, json.dumps(outcome.body))):
        failures.append("a canary reached the output")
    which = "release (the deployed profile)" if args.release else "debug"
    if failures:
        print(output[-3000:])
    print(f"panic proof, {which} build ({built:.0f} s to build): job {result.get('kind')}: {message[:160]}")
    for failure in failures:
        print(f"FAILED: {failure}")
    print(f"panic proof: {'passed' if not failures else 'FAILED'}")
    record(
        "panic",
        {"build": which, "answered": not failures, "canariesLeaked": int("a canary reached the output" in failures)},
    )
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())

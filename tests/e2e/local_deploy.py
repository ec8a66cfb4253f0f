"""The real `sam deploy` of template.yaml into the emulator, with the functions it deploys served
by `cargo lambda watch` (the debug binaries; the packaged code is never run).

    python tests/e2e/local_deploy.py          # deploy, list the stack, deploy again (no changes)
    python tests/e2e/local_deploy.py --keep   # ... then keep the emulator and a watch running for
                                              # `cargo lambda invoke <function> --data-file events/...`

`sam deploy` runs unchanged with samconfig.toml's `local` environment, from a directory holding
only template.yaml, samconfig.toml and fleet/: the template's CodeUri is `.`, and without
`sam build` SAM zips that directory as each function's code (the workspace would bring its
target/, gigabytes). The emulator's VPC, subnets and AMI exist only once it runs, so they are added
to the `local` overrides here. Exit status 0 only when the stack is CREATE_COMPLETE and the second
deploy finds nothing to change.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "emulator"))

import boto3  # noqa: E402
from emulator.server import Emulator  # noqa: E402

SAM = ROOT / ".venv-template" / "bin" / "sam"
WORK = ROOT / ".local-deploy"
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDLOCALDEPLOY", "AWS_SECRET_ACCESS_KEY": "local"}
FUNCTIONS = ("instance-refresh", "lifecycle-health", "qa-notify", "approval-gate")
NO_CHANGES = "No changes to deploy"


def client(endpoint: str, service: str, key_id: str = CREDENTIALS["AWS_ACCESS_KEY_ID"]) -> Any:
    """A boto3 client against the emulator, signing as `key_id` (the emulator tells callers apart by it)."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def stage(template: Path = ROOT / "template.yaml", into: Path = WORK / "stack") -> Path:
    """The directory `sam deploy` runs in. Files keep their times (copy2), so an unchanged
    template zips to the same bytes and SAM finds its upload already there."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    shutil.copy2(template, into / "template.yaml")
    shutil.copy2(ROOT / "samconfig.toml", into / "samconfig.toml")
    shutil.copytree(ROOT / "fleet", into / "fleet", copy_function=shutil.copy2)
    return into


def sam_environment(endpoint: str) -> dict[str, str]:
    """The SAM CLI pointed at the emulator, offline: no telemetry, and its app folder says the
    weekly version check has just been done."""
    app_dir = WORK / "sam-app"
    app_dir.mkdir(parents=True, exist_ok=True)
    (app_dir / "metadata.json").write_text(json.dumps({"telemetryEnabled": False, "lastVersionCheck": time.time()}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(CREDENTIALS, AWS_ENDPOINT_URL=endpoint, SAM_CLI_TELEMETRY="0", __SAM_CLI_APP_DIR=str(app_dir))
    return env


def local_overrides() -> list[str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    return list(config["local"]["deploy"]["parameters"]["parameter_overrides"])


def fleet_overrides(endpoint: str) -> list[str]:
    """The emulator's default VPC, two of its subnets in different zones, and an image."""
    ec2 = client(endpoint, "ec2")
    vpc = next(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v.get("IsDefault"))
    subnets: dict[str, str] = {}
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]:
        subnets.setdefault(subnet["AvailabilityZone"], subnet["SubnetId"])
    image = sorted(i["ImageId"] for i in ec2.describe_images()["Images"] if len(i["ImageId"]) >= 12)[0]
    return [f"FleetVpcId={vpc}", f"FleetSubnetIds={','.join(sorted(subnets.values())[:2])}", f"FleetImageId={image}"]


def sam_deploy(
    endpoint: str, directory: Path, extra: list[str] = (), echo: bool = True, stack: str | None = None
) -> tuple[int, str]:
    """`sam deploy --config-env local` in `directory`; its output is echoed and returned."""
    command = [
        str(SAM),
        "deploy",
        "--config-env",
        "local",
        "--parameter-overrides",
        *local_overrides(),
        *fleet_overrides(endpoint),
        *extra,
    ]
    if stack:
        command += ["--stack-name", stack]
    process = subprocess.Popen(
        command,
        cwd=directory,
        env=sam_environment(endpoint),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if echo:
            print(line, end="", flush=True)
    return process.wait(), "".join(lines)


def stack_resources(endpoint: str, stack: str) -> list[dict[str, Any]]:
    """The stack's resources, and its nested stacks' under their logical id."""
    cfn = client(endpoint, "cloudformation")
    rows = []
    for resource in cfn.describe_stack_resources(StackName=stack)["StackResources"]:
        rows.append(resource)
        if resource["ResourceType"] == "AWS::CloudFormation::Stack":
            for nested in stack_resources(endpoint, resource["PhysicalResourceId"]):
                rows.append(
                    {**nested, "LogicalResourceId": f"{resource['LogicalResourceId']}/{nested['LogicalResourceId']}"}
                )
    return rows


def print_stack(endpoint: str, stack: str) -> None:
    described = client(endpoint, "cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    rows = stack_resources(endpoint, stack)
    print(f"\nstack {stack}: {described['StackStatus']}, {len(rows)} resources")
    width = max(len(r["LogicalResourceId"]) for r in rows)
    for r in rows:
        print(
            f"  {r['LogicalResourceId']:<{width}}  {r['ResourceType']:<36}  {r['ResourceStatus']:<16}  {r['PhysicalResourceId']}"
        )
    print("outputs:")
    for output in described.get("Outputs", []):
        print(f"  {output['OutputKey']} = {output['OutputValue']}")


def build_functions() -> None:
    subprocess.run(["cargo", "build", "--locked", *[a for f in FUNCTIONS for a in ("-p", f)]], cwd=ROOT, check=True)


def stack_name() -> str:
    return tomllib.loads((ROOT / "samconfig.toml").read_text())["local"]["global"]["parameters"]["stack_name"]


def keep_serving(endpoint: str, port: int) -> None:
    """A `cargo lambda watch` on cargo lambda's default address, every function with its deployed
    environment (their variable names do not overlap) and the emulator as AWS, for `cargo lambda
    invoke <function> --data-file events/...` in another terminal."""
    lam = client(endpoint, "lambda")
    env: dict[str, str] = {}
    owner: dict[str, str] = {}
    for fn in lam.list_functions()["Functions"]:
        for key, value in ((fn.get("Environment") or {}).get("Variables") or {}).items():
            if key in env and env[key] != value:
                raise SystemExit(
                    f"{key} differs between {owner[key]} and {fn['FunctionName']}: one watch cannot serve both; "
                    "invoke them through the emulator instead (aws lambda invoke)"
                )
            env[key], owner[key] = value, fn["FunctionName"]
    env.update(CREDENTIALS, AWS_ENDPOINT_URL=endpoint, AWS_REGION=REGION)
    env_file = Path(tempfile.gettempdir()) / "local-deploy-watch.env"
    env_file.write_text("".join(f"{k}={json.dumps(v)}\n" for k, v in env.items()))
    process_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # `cargo lambda invoke` calls [::1]:9000 unless told otherwise: the watch listens there (loopback only).
    command = [
        "cargo",
        "lambda",
        "watch",
        "--invoke-address",
        "::1",
        "--invoke-port",
        str(port),
        "--ignore-changes",
    ]
    watch = subprocess.Popen([*command, "--env-file", str(env_file)], cwd=ROOT, env=process_env)
    print(
        "\nThe stack, the emulator and the functions keep running (Ctrl-C stops them). In another terminal:\n\n"
        f"  export AWS_ENDPOINT_URL={endpoint} AWS_REGION={REGION} "
        f"AWS_ACCESS_KEY_ID={CREDENTIALS['AWS_ACCESS_KEY_ID']} AWS_SECRET_ACCESS_KEY={CREDENTIALS['AWS_SECRET_ACCESS_KEY']}\n"
        f"  cargo lambda invoke instance-refresh{'' if port == 9000 else f' --invoke-port {port}'} --data-file events/instance-refresh/start.json\n\n"
        "Sample jobs this emulator never created are registered when a function answers them (a local leniency).\n",
        flush=True,
    )
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    watch.terminate()
    watch.wait(timeout=10)
    env_file.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the emulator and the functions running afterwards")
    parser.add_argument("--port", type=int, default=0, help="the emulator's port (0: a free one)")
    parser.add_argument(
        "--watch-port", type=int, default=9000, help="with --keep: the port of the watch cargo lambda invoke calls"
    )
    args = parser.parse_args()
    build_functions()
    started = time.time()
    with Emulator(port=args.port, realtime=True, functions=ROOT) as emulator:
        emulator.world.codepipeline.accept_unknown_jobs = args.keep
        print(f"emulator: {emulator.endpoint}", flush=True)
        directory = stage()
        code, _ = sam_deploy(emulator.endpoint, directory)
        stack = stack_name()
        if code != 0:
            print(f"local deploy: FAILED (sam deploy exited {code})")
            return 1
        print_stack(emulator.endpoint, stack)
        print(f"\nfirst deploy: {time.time() - started:.1f} s. Deploying the same template again:", flush=True)
        code, output = sam_deploy(emulator.endpoint, directory)
        if code != 0 or NO_CHANGES not in output:
            print("local deploy: FAILED (the second deploy of the same template should find nothing to change)")
            return 1
        print("local deploy: OK", flush=True)
        if args.keep:
            keep_serving(emulator.endpoint, args.watch_port)
    return 0


if __name__ == "__main__":
    sys.exit(main())

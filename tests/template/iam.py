"""IAM = the calls made: what each function's code calls, what its crate declares, and what
template.yaml grants, each read from its source of truth.

- called: every AWS SDK operation call in the crate's `src/` (an operation of an SDK crate it
  depends on, written `.operation_name(`), each followed by the `AwsCallError::from_sdk("svc:Op",
  ...)` that names it, plus the shared crate's entry points the function uses;
- declared: `[package.metadata.aws]` of the function's Cargo.toml (`calls`, and `implied`:
  actions AWS checks of the caller inside one of those calls);
- granted: the Allow statements of the function's role in the expanded template.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from resolve import NO_VALUE

ROOT = Path(__file__).resolve().parents[2]

# Lambda's own permissions, not the code's: logs always, network interfaces inside a VPC only.
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
VPC_ACCESS = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"

# Operations whose IAM action has another name than the operation (Service Authorization Reference).
IAM_NAMES = {"invoke": "InvokeFunction"}

LABEL = re.compile(r'from_sdk\(\s*"([a-z0-9-]+):([A-Za-z0-9]+)"')


@dataclass(frozen=True)
class CallSite:
    file: str
    line: int
    operation: str  # the SDK method, e.g. describe_auto_scaling_groups
    action: str | None  # the label that names it, e.g. autoscaling:DescribeAutoScalingGroups


@dataclass
class Scan:
    sites: list[CallSite] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def actions(self) -> set[str]:
        return {s.action for s in self.sites if s.action}


def pascal(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


def iam_name(operation: str) -> str:
    """The IAM action name (after the service prefix) for the SDK method `operation`."""
    return IAM_NAMES.get(operation, pascal(operation))


@functools.cache
def cargo_metadata() -> dict:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout)


def package(name: str) -> dict:
    return next(p for p in cargo_metadata()["packages"] if p["name"] == name and p["source"] is None)


def sdk_operations(crate: str) -> set[str]:
    """The operation methods of every aws-sdk-* crate `crate` depends on (its `src/operation/*`)."""
    meta = cargo_metadata()
    deps = {d["name"] for d in package(crate)["dependencies"] if d["name"].startswith("aws-sdk-") and d["kind"] is None}
    ops: set[str] = set()
    for p in meta["packages"]:
        if p["name"] in deps:
            ops |= {d.name for d in (Path(p["manifest_path"]).parent / "src" / "operation").iterdir() if d.is_dir()}
    return ops


def scan_source(files: dict[str, str], operations: set[str]) -> Scan:
    """Every call of one of `operations` in `files` (name → text), with the label that follows it.

    SDK operations are builder methods called with no arguments (`.publish()`); a function of
    our own with the same name takes arguments and is not counted.

    A call must be followed, before the next call, by `from_sdk("svc:Op"` with Op its own
    operation: the label is what errors show and what IAM is compared with."""
    scan = Scan()
    call = (
        re.compile(r"\.\s*(" + "|".join(sorted(operations, key=len, reverse=True)) + r")\s*\(\s*\)")
        if operations
        else None
    )
    for name, text in sorted(files.items()):
        if call is None:
            break
        matches = list(call.finditer(text))
        for i, m in enumerate(matches):
            end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
            label = LABEL.search(text, m.end(), end)
            line = text.count("\n", 0, m.start()) + 1
            action = f"{label.group(1)}:{label.group(2)}" if label else None
            scan.sites.append(CallSite(name, line, m.group(1), action))
            if label is None:
                scan.problems.append(
                    f"{name}:{line}: `{m.group(1)}` is called without an AwsCallError::from_sdk label naming it"
                )
            elif label.group(2) != iam_name(m.group(1)):
                scan.problems.append(
                    f"{name}:{line}: `{m.group(1)}` is labelled {action}, not …:{iam_name(m.group(1))}"
                )
    return scan


def rust_sources(crate: str) -> dict[str, str]:
    src = Path(package(crate)["manifest_path"]).parent / "src"
    return {str(p.relative_to(ROOT)): p.read_text() for p in sorted(src.rglob("*.rs"))}


def uses(code: str, entry_point: str) -> bool:
    """Whether Rust `code` uses the shared crate's `module::item` (by path or by import)."""
    module, item = entry_point.rsplit("::", 1)
    module = module.rsplit("::", 1)[-1]
    return bool(
        re.search(rf"\b{module}::{item}\b", code) or re.search(rf"\b{module}::\{{[^}}]*\b{item}\b[^}}]*\}}", code)
    )


def entry_points() -> dict[str, set[str]]:
    aws = package("shared")["metadata"]["aws"]
    return {k: set(v) for k, v in aws["entry-points"].items()}


def called(crate: str) -> Scan:
    """What `crate` calls: its own SDK calls and the shared entry points it uses."""
    files = rust_sources(crate)
    scan = scan_source(files, sdk_operations(crate))
    code = "\n".join(files.values())
    for entry, actions in entry_points().items():
        if uses(code, entry):
            for action in sorted(actions):
                scan.sites.append(CallSite("shared", 0, entry, action))
    return scan


def declared(crate: str) -> tuple[set[str], dict[str, set[str]]]:
    aws = package(crate)["metadata"]["aws"]
    return set(aws["calls"]), {k: set(v) for k, v in aws.get("implied", {}).items()}


def function_crates(expanded: dict) -> dict[str, str]:
    """Logical id of each Lambda function → the crate its binary comes from."""
    found = {}
    for name, resource in expanded["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function":
            binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            if binary:
                found[name] = binary
    return found


@dataclass
class Grants:
    actions: dict[str, list[object]] = field(default_factory=dict)  # action → resources
    problems: list[str] = field(default_factory=list)


def attached(expanded: dict, resource_type: str, function: str) -> list[dict]:
    """The properties of each `resource_type` resource whose FunctionName refers to `function`."""
    return [
        r["Properties"]
        for r in expanded["Resources"].values()
        if r["Type"] == resource_type and r["Properties"].get("FunctionName") == {"Ref": function}
    ]


def on_failure_destinations(expanded: dict, resolver, function: str) -> list[str]:
    """The ARNs Lambda sends `function`'s failed asynchronous invocations to (with its role)."""
    configs = attached(expanded, "AWS::Lambda::EventInvokeConfig", function)
    destinations = [c.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination") for c in configs]
    return [resolver.value(d) for d in destinations if d]


# What Lambda's pollers do with the execution role on a queue mapped to the function (Lambda
# developer guide, "Using Lambda with Amazon SQS", execution role permissions): its own use, not
# the code's; without all three, CreateEventSourceMapping is refused.
SQS_POLLER = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


def mapped_queues(expanded: dict, resolver, function: str) -> list[str]:
    """The ARNs of the SQS queues an event source mapping delivers to `function`."""
    sources = [
        resolver.value(m["EventSourceArn"]) for m in attached(expanded, "AWS::Lambda::EventSourceMapping", function)
    ]
    return [s for s in sources if isinstance(s, str) and s.split(":")[2] == "sqs"]


def granted(expanded: dict, resolver, function: str) -> Grants:
    """The Allow statements of `function`'s execution role, resolved, Lambda's own permissions
    apart: its logs, its network interfaces when it is in a VPC, sending to its on-failure
    destination, polling a queue mapped to it. Anything else Lambda-ish is a problem (e.g. a VPC
    policy outside any VPC, a mapped queue Lambda may not poll)."""
    props = expanded["Resources"][function]["Properties"]
    role_ref = props["Role"]
    role_name = role_ref["Fn::GetAtt"][0] if isinstance(role_ref, dict) else role_ref
    role = resolver.value(expanded["Resources"][role_name]["Properties"])
    vpc = resolver.value(props["VpcConfig"]) if "VpcConfig" in props else NO_VALUE
    in_vpc = vpc is not NO_VALUE and bool(vpc.get("SubnetIds"))
    grants = Grants()
    for arn in role.get("ManagedPolicyArns", []):
        if arn == BASIC_EXECUTION or (arn == VPC_ACCESS and in_vpc):
            continue
        reason = "outside any VPC" if arn == VPC_ACCESS else "grant the calls inline instead"
        grants.problems.append(f"has managed policy {arn}: {reason}")
    destinations = on_failure_destinations(expanded, resolver, function)
    queues = mapped_queues(expanded, resolver, function)
    polled: dict[str, set[str]] = {q: set() for q in queues}
    for policy in role.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if statement["Effect"] != "Allow":
                continue
            if actions == ["sqs:SendMessage"] and resources and all(r in destinations for r in resources):
                continue
            if set(actions) <= SQS_POLLER and resources and all(r in queues for r in resources):
                for queue in resources:
                    polled[queue] |= set(actions)
                continue
            for action in actions:
                grants.actions.setdefault(action, []).extend(resources)
    for queue, actions in polled.items():
        if actions != SQS_POLLER:
            missing = ", ".join(sorted(SQS_POLLER - actions))
            grants.problems.append(f"Lambda cannot poll {queue}, mapped to it: grant {missing} on it")
    return grants

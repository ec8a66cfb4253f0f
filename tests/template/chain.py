"""The check chain for template.yaml, each step a real tool run offline.

1. `sam validate` (the SAM translator's own checks) and `sam validate --lint` (cfn-lint on the
   raw file): they check different things and neither sees everything.
2. The template expanded with `aws-sam-translator`, as CloudFormation would, then
   - `cfn-lint` on the expanded template (recent cfn-lint no longer expands the transform, so
     errors inside AWS::Serverless::Function pass on the raw file);
   - checkov on the expanded template (on the raw file it ignores the functions' Policies);
   - parliament on every IAM policy of the expanded template, its intrinsics resolved;
   - IAM = the calls made: each function's role grants exactly what its crate declares
     (tests/template/iam.py; test_iam.py checks the declaration against the code);
   - the release-state rule: no group of the stack can be pointed back at an older release.

`run(path)` returns every finding; an empty list means the template passed. Each finding names
its tool and, where the tool says, the resource. `python tests/template/chain.py [template]`
prints them and exits 1 when there are any.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import iam
import parliament
from resolve import Resolver
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
BIN = Path(sys.executable).parent
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
REGION = "eu-west-1"

# The managed policies SAM names by their short name in `Policies`.
MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSLambdaVPCAccessExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
}

# parliament findings that are advice, not errors, for the statements we write on purpose.
# The policies SAM writes itself (the on-failure destination's sqs:SendMessage) carry no
# Version; the ones we write do, and parliament's NO_VERSION still applies to them.
SAM_WRITTEN_POLICY_SUFFIX = "EventInvokeConfigOnFailureSQSPolicy"

# Values for the parameters that have no default, as an operator would give them.
SAMPLE_PARAMETERS = {
    "ConnectionArn": "arn:aws:codeconnections:eu-west-1:123456789012:connection/0f3b3e6e-2b1e-4d3a-9f1e-6d2f5c1a7b9d",
    "RepositoryId": "shop/web",
}
# The same with lifecycle-health in a VPC (for its HTTP check): IAM must fit both.
SAMPLE_PARAMETERS_IN_VPC = {
    **SAMPLE_PARAMETERS,
    "HealthHttpPort": "8080",
    "FunctionSubnetIds": "subnet-0a1b2c3d4e5f60718,subnet-0f1e2d3c4b5a69788",
    "FunctionSecurityGroupIds": "sg-0123456789abcdef0",
}


@dataclass(frozen=True)
class Finding:
    tool: str
    where: str
    message: str

    def __str__(self) -> str:
        message = self.message if len(self.message) <= 400 else self.message[:400] + " …"
        return f"{self.tool}: {self.where}: {message}"


class _PolicyLoader:
    def load(self) -> dict[str, str]:
        return MANAGED_POLICIES


def env() -> dict[str, str]:
    """Offline: a region, no credentials needed, no telemetry or version checks."""
    e = dict(os.environ)
    e.update(AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION, SAM_CLI_TELEMETRY="0")
    return e


def load(path: Path) -> dict:
    return load_text(path.read_text())


def load_text(text: str) -> dict:
    return yaml_parse(text)


def expand(template: dict) -> dict:
    """The template as CloudFormation sees it after the SAM transform."""
    template = json.loads(json.dumps(template))
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = "s3://bucket/function.zip"
        if resource.get("Type") == "AWS::Serverless::Application" and isinstance(
            resource["Properties"]["Location"], str
        ):
            # `sam package` uploads a nested template and puts its URL here.
            name = Path(resource["Properties"]["Location"]).name
            resource["Properties"]["Location"] = f"https://s3.{REGION}.amazonaws.com/bucket/{name}"
    function_globals = template.get("Globals", {}).get("Function", {})
    function_globals.pop("CodeUri", None)
    parameters = {"AWS::Region": REGION, "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)  # the translator reads the region from boto3
    return transform(template, parameters, _PolicyLoader(), passthrough_metadata=True)


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=env(), cwd=ROOT)


def sam_validate(path: Path) -> list[Finding]:
    found = []
    for label, extra in (("sam validate", []), ("sam validate --lint", ["--lint"])):
        done = _run([str(BIN / "sam"), "validate", "--template", str(path), *extra])
        if done.returncode != 0:
            text = (done.stderr + done.stdout).strip()
            found.append(Finding(label, path.name, text[-2000:]))
    return found


def cfn_lint(path: Path) -> list[Finding]:
    done = _run([str(BIN / "cfn-lint"), "--format", "json", "--regions", REGION, "--", str(path)])
    if done.returncode == 0:
        return []
    try:
        matches = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        return [Finding("cfn-lint", path.name, (done.stderr or done.stdout).strip()[-2000:])]
    found = []
    for m in matches:
        where = "/".join(str(p) for p in m.get("Location", {}).get("Path") or []) or path.name
        found.append(Finding("cfn-lint", where, f"{m['Rule']['Id']} {m['Message']}"))
    if not found:
        found.append(Finding("cfn-lint", path.name, (done.stderr or f"exit status {done.returncode}").strip()))
    return found


def checkov(path: Path) -> list[Finding]:
    if not CHECKOV.exists():
        return [Finding("checkov", str(CHECKOV), "not installed: run scripts/setup")]
    done = _run([str(CHECKOV), "--quiet", "--compact", "-o", "json", "--framework", "cloudformation", "-f", str(path)])
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        return [Finding("checkov", path.name, (done.stderr or done.stdout).strip()[-2000:])]
    if isinstance(report, list):
        report = report[0]
    failed = report.get("results", {}).get("failed_checks", []) if isinstance(report, dict) else []
    return [Finding("checkov", c["resource"], f"{c['check_id']} {c['check_name']}") for c in failed]


def identity_policies(expanded: dict, resolver: Resolver) -> list[tuple[str, dict]]:
    """Every inline identity policy of the expanded template, intrinsics resolved."""
    found = []
    for name, resource in expanded.get("Resources", {}).items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        for policy in resource.get("Properties", {}).get("Policies", []):
            document = resolver.value(policy["PolicyDocument"])
            found.append((f"{name}/{resolver.value(policy['PolicyName'])}", document))
    return found


def parliament_findings(expanded: dict, resolver: Resolver) -> list[Finding]:
    found = []
    for where, document in identity_policies(expanded, resolver):
        analysed = parliament.analyze_policy_string(json.dumps(document), include_community_auditors=False)
        for f in analysed.findings:
            if f.issue == "NO_VERSION" and where.endswith(SAM_WRITTEN_POLICY_SUFFIX):
                continue
            found.append(Finding("parliament", where, f"{f.issue} {json.dumps(f.detail, default=str)[:300]}"))
    return found


def iam_findings(expanded: dict, resolver: Resolver) -> list[Finding]:
    """Each function's role grants exactly the actions its crate declares (calls and implied)."""
    found = []
    for function, crate in sorted(iam.function_crates(expanded).items()):
        calls, implied = iam.declared(crate)
        want = calls | set().union(*implied.values())
        grants = iam.granted(expanded, resolver, function)
        have = set(grants.actions)
        for action in sorted(have - want):
            found.append(Finding("iam", function, f"grants {action}, which {crate} neither calls nor needs for a call"))
        for action in sorted(want - have):
            found.append(Finding("iam", function, f"does not grant {action}, which {crate} declares"))
        for problem in grants.problems:
            found.append(Finding("iam", function, problem))
    return found


def release_state_findings(expanded: dict, resolver: Resolver) -> list[Finding]:
    """No stack update may point a group at an older release: a group of this stack takes its
    launch template version from the release state instance-refresh records in SSM, and never
    lets CloudFormation refresh it."""
    found = []
    for name, resource in expanded["Resources"].items():
        if resource["Type"] != "AWS::AutoScaling::AutoScalingGroup":
            continue
        if "AutoScalingInstanceRefresh" in resource.get("UpdatePolicy", {}):
            found.append(
                Finding(
                    "release state",
                    name,
                    "UpdatePolicy AutoScalingInstanceRefresh: a stack update would refresh the group behind the pipeline",
                )
            )
        version = resolver.value(resource.get("Properties", {}).get("LaunchTemplate", {}).get("Version"))
        if not (isinstance(version, str) and re.fullmatch(r"\{\{resolve:ssm:/[^}]+/release/[^}]+\}\}", version)):
            found.append(
                Finding(
                    "release state",
                    name,
                    f"LaunchTemplate.Version is {json.dumps(version)}: use '{{{{resolve:ssm:/<stack>/release/<group>}}}}', "
                    "the version instance-refresh records, so a later deploy never points the group at an older release",
                )
            )
    return found


def nested_templates(template: dict, path: Path) -> list[Path]:
    """The local templates of `AWS::Serverless::Application`s (`sam package` uploads them)."""
    found = []
    for resource in template.get("Resources", {}).values():
        location = (
            resource.get("Properties", {}).get("Location")
            if resource.get("Type") == "AWS::Serverless::Application"
            else None
        )
        if isinstance(location, str) and not location.startswith(("https://", "s3://")):
            found.append((path.parent / location).resolve())
    return found


def fleet_findings(expanded: dict, resolver: Resolver) -> list[Finding]:
    """What checkov does not check on a launch template: every EBS volume encrypted, IMDSv2
    only with instance metadata tags on (the user data reads the release from them), no key pair."""
    found = []
    for name, resource in expanded["Resources"].items():
        if resource["Type"] != "AWS::EC2::LaunchTemplate":
            continue
        data = resource.get("Properties", {}).get("LaunchTemplateData", {})
        for mapping in data.get("BlockDeviceMappings", []):
            if "Ebs" in mapping and resolver.value(mapping["Ebs"].get("Encrypted")) is not True:
                found.append(Finding("fleet", name, f"{name}: {mapping.get('DeviceName')} is not encrypted"))
        metadata = resolver.value(data.get("MetadataOptions", {}))
        if metadata.get("HttpTokens") != "required" or metadata.get("InstanceMetadataTags") != "enabled":
            found.append(Finding("fleet", name, f"{name}: needs HttpTokens required and InstanceMetadataTags enabled"))
        if "KeyName" in data:
            found.append(Finding("fleet", name, f"{name}: has KeyName; nobody logs in to the fleet"))
    return found


def run(path: Path = TEMPLATE) -> list[Finding]:
    """Every finding on `path` and on the nested templates it deploys from this repository."""
    found = run_one(path)
    try:
        nested = nested_templates(load(path), path)
    except Exception:
        nested = []
    for child in dict.fromkeys(nested):  # once each, however many environments use it
        if not child.exists():
            found.append(Finding("nested template", str(child), "does not exist"))
            continue
        found += [Finding(f.tool, f"{child.name}: {f.where}", f.message) for f in run_one(child)]
    return found


def run_one(path: Path) -> list[Finding]:
    found = sam_validate(path)
    try:
        template = load(path)
        expanded = expand(template) if "Transform" in template else template
    except Exception as e:  # the translator's own errors name the resource
        return [*found, Finding("sam translator", path.name, str(e))]
    with tempfile.TemporaryDirectory() as tmp:
        expanded_path = Path(tmp) / "expanded.json"
        expanded_path.write_text(json.dumps(expanded, indent=1))
        found += cfn_lint(expanded_path)
        found += checkov(expanded_path)
    resolver = Resolver(expanded, SAMPLE_PARAMETERS)
    found += parliament_findings(expanded, resolver)
    for variant in (SAMPLE_PARAMETERS, SAMPLE_PARAMETERS_IN_VPC):
        found += [f for f in iam_findings(expanded, Resolver(expanded, variant)) if f not in found]
    found += release_state_findings(expanded, resolver)
    found += fleet_findings(expanded, resolver)
    return found


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else TEMPLATE
    findings = run(path)
    for f in findings:
        print(f)
    print(f"template checks: {path.name}: {len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())

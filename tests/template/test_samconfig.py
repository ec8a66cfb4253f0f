"""samconfig.toml: each environment's parameter overrides, read by SAM's own parser, name
template parameters and satisfy their constraints, except the placeholders a team must replace,
which CloudFormation must refuse as they are (a deploy never goes out with them)."""

import json
import re
import tomllib

import chain
import pytest
from samcli.cli.types import CfnParameterOverridesType

CONFIG = tomllib.loads((chain.ROOT / "samconfig.toml").read_text())
PARAMETERS = chain.load(chain.TEMPLATE)["Parameters"]
PLACEHOLDERS = {"ConnectionArn", "RepositoryId"}
ENVIRONMENTS = ["default", "prod"]
# `local` deploys into the emulator (scripts/local-deploy): its connection and repository are real values there.
LOCAL = "local"


def overrides(environment: str) -> dict[str, str]:
    raw = CONFIG[environment]["deploy"]["parameters"]["parameter_overrides"]
    return CfnParameterOverridesType().convert(raw, None, None)


def violation(name: str, value: str) -> str | None:
    """Why CloudFormation would refuse `value` for parameter `name`, if it would."""
    spec = PARAMETERS[name]
    if spec.get("Type") == "Number":
        if not re.fullmatch(r"-?\d+(\.\d+)?", value):
            return "not a number"
        if (
            "MinValue" in spec
            and float(value) < spec["MinValue"]
            or "MaxValue" in spec
            and float(value) > spec["MaxValue"]
        ):
            return "out of range"
    if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
        return "not an allowed value"
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        return f"does not match {spec['AllowedPattern']}"
    return None


@pytest.mark.parametrize("environment", [*ENVIRONMENTS, LOCAL])
def test_every_override_names_a_template_parameter_and_satisfies_it(environment):
    values = overrides(environment)
    exempt = set() if environment == LOCAL else PLACEHOLDERS
    assert set(values) <= set(PARAMETERS), set(values) - set(PARAMETERS)
    assert {name: violation(name, v) for name, v in values.items() if name not in exempt and violation(name, v)} == {}
    if "DeploymentWindow" in values:
        assert json.loads(values["DeploymentWindow"])["timeZone"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_placeholders_are_refused_until_a_team_replaces_them(environment):
    values = overrides(environment)
    for name in PLACEHOLDERS:
        assert violation(name, values[name]), f"{name}={values[name]} would deploy"


def test_an_environment_url_that_would_break_qa_notifys_json_is_refused():
    assert violation("StagingUrl", "https://staging.example.com/qa?x=1") is None
    assert violation("ProductionUrl", "") is None
    for bad in ['https://x.example.com/"', "https://x.example.com/\\", "https://x .example.com", "ftp://x"]:
        assert violation("StagingUrl", bad) and violation("DevUrl", bad), bad


def test_a_real_connection_and_repository_are_accepted():
    assert violation("ConnectionArn", chain.SAMPLE_PARAMETERS["ConnectionArn"]) is None
    assert violation("ConnectionArn", "arn:aws:codestar-connections:us-east-1:123456789012:connection/abc-123") is None
    assert violation("RepositoryId", "shop/web") is None


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_deploys_with_iam_capability_and_a_managed_bucket(environment):
    deploy = CONFIG[environment]["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM" and deploy["resolve_s3"] is True
    assert CONFIG[environment]["global"]["parameters"]["region"]
    assert CONFIG[environment]["validate"]["parameters"]["lint"] is True

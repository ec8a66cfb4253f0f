"""template.yaml passes the whole check chain, and the chain fails, naming the error, on copies
of it that each carry one known error (a check that cannot fail checks nothing)."""

from dataclasses import dataclass
from pathlib import Path

import chain
import pytest

TEXT = chain.TEMPLATE.read_text()

# A group as the fleet would declare one, for the release-state seeds (the stack has none yet).
GROUP = """
  SeededTemplate:
    Type: AWS::EC2::LaunchTemplate
    Properties:
      LaunchTemplateData:
        ImageId: ami-0123456789abcdef0
        InstanceType: t3.small
        MetadataOptions:
          HttpTokens: required
  SeededGroup:
    Type: AWS::AutoScaling::AutoScalingGroup{update_policy}
    Properties:
      MinSize: "1"
      MaxSize: "2"
      AvailabilityZones: [eu-west-1a]
      LaunchTemplate:
        LaunchTemplateId: !Ref SeededTemplate
        Version: {version}
"""


def group(update_policy: str, version: str) -> str:
    return GROUP.replace("{update_policy}", update_policy).replace("{version}", version)


RELEASE_STATE = "!Sub '{{resolve:ssm:/${AWS::StackName}/release/seeded}}'"
REFRESH_POLICY = """
    UpdatePolicy:
      AutoScalingInstanceRefresh:
        MinHealthyPercentage: 90"""


@dataclass(frozen=True)
class Seed:
    name: str
    old: str
    new: str
    tool: str  # the step that must name it
    needle: str  # in the finding's resource or message


def add_resources(block: str) -> tuple[str, str]:
    """A (old, new) edit that adds `block` at the start of Resources."""
    return "Resources:\n", "Resources:\n" + block


SEEDS = [
    Seed(
        "invalid runtime",
        "    Runtime: provided.al2023\n",
        "    Runtime: provided.al2099\n",
        "cfn-lint",
        "provided.al2099",
    ),
    Seed(
        "timeout over 900",
        "      Timeout: 300\n",
        "      Timeout: 1000\n",
        "cfn-lint",
        "LifecycleHealthFunction/Properties/Timeout",
    ),
    Seed("a Ref to nothing", "Endpoint: !Ref QaEmail", "Endpoint: !Ref QaMail", "cfn-lint", "QaMail"),
    Seed(
        "a rule targeting a missing function",
        *add_resources(
            "  StrayRule:\n    Type: AWS::Events::Rule\n    Properties:\n      EventPattern: { source: [aws.autoscaling] }\n"
            "      Targets: [{ Id: health, Arn: !GetAtt LifecycleHealthFunktion.Arn }]\n"
        ),
        "cfn-lint",
        "LifecycleHealthFunktion",
    ),
    Seed(
        "a function invoking itself by GetAtt",
        'Resource: !Sub "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-lifecycle-health"',
        "Resource: !GetAtt LifecycleHealthFunction.Arn",
        "cfn-lint",
        "Circular",
    ),
    Seed(
        "an IAM action typo",
        "- autoscaling:RecordLifecycleActionHeartbeat\n",
        "- autoscaling:RecordLifecycleActionHeartbeet\n",
        "parliament",
        "Unknown action autoscaling:RecordLifecycleActionHeartbeet",
    ),
    Seed(
        "a wildcard iam:PassRole",
        'Resource: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:role${InstanceRolePath}*"',
        'Resource: "*"',
        "parliament",
        "RESOURCE_STAR",
    ),
    Seed(
        "a grant the code never calls",
        "                  - ec2:DescribeTags\n",
        "                  - ec2:DescribeTags\n                  - ec2:TerminateInstances\n",
        "iam",
        "grants ec2:TerminateInstances",
    ),
    Seed(
        "a call the template does not grant",
        "                  - ec2:DescribeTags\n",
        "",
        "iam",
        "does not grant ec2:DescribeTags",
    ),
    Seed(
        "network interface permissions outside any VPC",
        """        - !If
          - HasFunctionVpc
          - !Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole
          - !Ref AWS::NoValue
""",
        "        - !Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole\n",
        "iam",
        "outside any VPC",
    ),
    Seed(
        "a group pinned to a version frozen in the template",
        *add_resources(group("", "!GetAtt SeededTemplate.LatestVersionNumber")),
        "release state",
        "SeededGroup",
    ),
    Seed(
        "a group CloudFormation would refresh itself",
        *add_resources(group(REFRESH_POLICY, RELEASE_STATE)),
        "release state",
        "AutoScalingInstanceRefresh",
    ),
]


def test_the_template_passes_every_check():
    findings = chain.run()
    assert findings == [], "\n".join(map(str, findings))


@pytest.mark.parametrize("seed", SEEDS, ids=[s.name for s in SEEDS])
def test_the_chain_fails_on_a_seeded_error_and_names_it(seed: Seed, tmp_path: Path):
    anchor = "\n" + seed.old if seed.old.startswith(" ") else seed.old  # whole lines, indentation included
    assert TEXT.count(anchor) == 1, f"the seed's anchor must occur once in template.yaml: {seed.old!r}"
    seeded = tmp_path / "template.yaml"
    seeded.write_text(TEXT.replace(seed.old, seed.new))
    findings = chain.run(seeded)
    named = [f for f in findings if f.tool == seed.tool and (seed.needle in f.where or seed.needle in f.message)]
    assert named, f"{seed.tool} did not name {seed.needle!r}; the chain said:\n" + "\n".join(map(str, findings))


def test_a_group_that_takes_its_version_from_the_release_state_passes(tmp_path: Path):
    old, new = add_resources(group("", RELEASE_STATE))
    expanded = chain.expand(chain.load_text(TEXT.replace(old, new)))
    resolver = chain.Resolver(expanded, chain.SAMPLE_PARAMETERS)
    assert chain.release_state_findings(expanded, resolver) == []

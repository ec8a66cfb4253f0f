"""template.yaml passes the whole check chain, and the chain fails, naming the error, on copies
of it that each carry one known error (a check that cannot fail checks nothing)."""

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import chain
import pytest

TEXT = chain.TEMPLATE.read_text()
FLEET = chain.ROOT / "fleet" / "fleet.yaml"

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
    file: str = "template.yaml"  # or fleet/fleet.yaml, the nested fleet template


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
        "      # waits inside the invocation, then continues in the queue.\n      Timeout: 60\n",
        "      # waits inside the invocation, then continues in the queue.\n      Timeout: 1000\n",
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
        "a role naming its own function by GetAtt",
        "Action: sqs:SendMessage\n                Resource: !GetAtt LifecycleRecheckQueue.Arn",
        "Action: sqs:SendMessage\n                Resource: !GetAtt LifecycleHealthFunction.Arn",
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


FLEET_SEEDS = [
    Seed(
        "SSH open to the world",
        "      SecurityGroupIngress:\n        - Description: the application, from the load balancer only\n",
        "      SecurityGroupIngress:\n        - { IpProtocol: tcp, FromPort: 22, ToPort: 22, CidrIp: 0.0.0.0/0 }\n"
        "        - Description: the application, from the load balancer only\n",
        "checkov",
        "CKV_AWS_24",
        "fleet/fleet.yaml",
    ),
    Seed(
        "IMDSv1 allowed",
        "          HttpTokens: required\n",
        "          HttpTokens: optional\n",
        "checkov",
        "CKV_AWS_79",
        "fleet/fleet.yaml",
    ),
    Seed(
        "an unencrypted root volume",
        "Ebs: { VolumeSize: 20, VolumeType: gp3, Encrypted: true, DeleteOnTermination: true }",
        "Ebs: { VolumeSize: 20, VolumeType: gp3, Encrypted: false, DeleteOnTermination: true }",
        "fleet",
        "LaunchTemplate: /dev/xvda is not encrypted",
        "fleet/fleet.yaml",
    ),
    Seed(
        "a key pair to log in with",
        "        # No KeyName: there is no key pair, and no port 22 to use one on.\n",
        "        KeyName: ops\n",
        "fleet",
        "LaunchTemplate: has KeyName",
        "fleet/fleet.yaml",
    ),
    Seed(
        "a fleet group on the template's latest version",
        '        Version: !Sub "{{resolve:ssm:${ReleaseState}}}"\n',
        "        Version: !GetAtt LaunchTemplate.LatestVersionNumber\n",
        "release state",
        "Group",
        "fleet/fleet.yaml",
    ),
    Seed(
        "an instance reading every secret",
        "                Resource: !Sub arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${ApplicationName}/${Stage}-??????\n",
        '                Resource: "*"\n',
        "parliament",
        "RESOURCE_STAR",
        "fleet/fleet.yaml",
    ),
]
SEEDS += FLEET_SEEDS


def test_the_template_passes_every_check():
    findings = chain.run()
    assert findings == [], "\n".join(map(str, findings))


@pytest.mark.parametrize("seed", SEEDS, ids=[s.name for s in SEEDS])
def test_the_chain_fails_on_a_seeded_error_and_names_it(seed: Seed, tmp_path: Path):
    (tmp_path / "fleet").mkdir()
    copies = {"template.yaml": TEXT, "fleet/fleet.yaml": FLEET.read_text()}
    text = copies[seed.file]
    anchor = "\n" + seed.old if seed.old.startswith(" ") else seed.old  # whole lines, indentation included
    assert text.count(anchor) == 1, f"the seed's anchor must occur once in {seed.file}: {seed.old!r}"
    copies[seed.file] = text.replace(seed.old, seed.new)
    for name, content in copies.items():
        (tmp_path / name).write_text(content)
    # Only the seeded file is checked: the other is the real one, checked on its own above.
    findings = chain.run_one(tmp_path / seed.file)
    named = [f for f in findings if f.tool == seed.tool and (seed.needle in f.where or seed.needle in f.message)]
    assert named, f"{seed.tool} did not name {seed.needle!r}; the chain said:\n" + "\n".join(map(str, findings))


def test_a_group_that_takes_its_version_from_the_release_state_passes(tmp_path: Path):
    old, new = add_resources(group("", RELEASE_STATE))
    expanded = chain.expand(chain.load_text(TEXT.replace(old, new)))
    resolver = chain.Resolver(expanded, chain.SAMPLE_PARAMETERS)
    assert chain.release_state_findings(expanded, resolver) == []


def test_the_launch_template_carries_the_user_data_script_as_it_is_in_the_repository():
    done = subprocess.run(
        [sys.executable, str(chain.ROOT / "scripts" / "render-user-data"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_user_data_with_its_preamble_is_valid_bash_that_shellcheck_accepts(tmp_path: Path):
    fleet = chain.load(FLEET)
    joined = fleet["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"][
        "Fn::Join"
    ]
    resolver = chain.Resolver(fleet, {"ImageId": "ami-0123456789abcdef0"})
    user_data = joined[0].join(str(resolver.value(part)) for part in joined[1])
    assert user_data.startswith("#!/bin/bash\nexport FLEET_APP=web\nexport FLEET_SECRETS_PATH=/web/")
    script = tmp_path / "user-data"
    script.write_text(user_data)
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    shellcheck = chain.ROOT / ".venv-fleet" / "bin" / "shellcheck"
    done = subprocess.run([str(shellcheck), str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    assert len(user_data.encode()) < 16 * 1024, "EC2 takes at most 16 KB of user data"

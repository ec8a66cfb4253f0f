"""Resolves CloudFormation intrinsics in an expanded template to plain values, as a deployment
with the parameters' defaults (or given values) in one account and region would, so that IAM
policies can be read as the strings AWS would see. Physical names that CloudFormation would
generate become `<LogicalId>`-based stand-ins of the right shape."""

from __future__ import annotations

import re

NO_VALUE = object()

PSEUDO = {
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "deploy",
    "AWS::URLSuffix": "amazonaws.com",
}


FIELDS = {"region": PSEUDO["AWS::Region"], "account": PSEUDO["AWS::AccountId"], "stack": PSEUDO["AWS::StackName"]}

# `Fn::GetAtt X.Arn` by resource type: {name} is the logical id, {physical} what Ref gives.
ARNS = {
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{physical}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{name}",
    "AWS::S3::Bucket": "arn:aws:s3:::{lower}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:{physical}:*",
    "AWS::Events::Rule": "arn:aws:events:{region}:{account}:rule/{stack}-{name}",
    "AWS::EFS::FileSystem": "arn:aws:elasticfilesystem:{region}:{account}:file-system/fs-{lower}",
    "AWS::EFS::AccessPoint": "arn:aws:elasticfilesystem:{region}:{account}:access-point/fsap-{lower}",
}


class Resolver:
    def __init__(self, template: dict, parameters: dict[str, str] | None = None):
        self.template = template
        self.parameters = {name: p.get("Default", "") for name, p in template.get("Parameters", {}).items()}
        self.parameters.update(parameters or {})
        self.resources = template.get("Resources", {})
        self.conditions = template.get("Conditions", {})

    # ---- values

    def value(self, node):
        """`node` with every intrinsic resolved; AWS::NoValue entries removed."""
        if isinstance(node, list):
            return [v for v in (self.value(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            handler = {
                "Ref": self._ref,
                "Fn::Sub": self._sub,
                "Fn::GetAtt": self._get_att,
                "Fn::If": self._if,
                "Fn::Join": lambda a: a[0].join(str(v) for v in self.value(a[1])),
                "Fn::Select": lambda a: self.value(a[1])[int(self.value(a[0]))],
                "Fn::Split": lambda a: self.value(a[1]).split(a[0]),
                "Fn::Equals": lambda a: self.value(a[0]) == self.value(a[1]),
                "Fn::Not": lambda a: not self.value(a[0]),
                "Fn::And": lambda a: all(self.value(v) for v in a),
                "Fn::Or": lambda a: any(self.value(v) for v in a),
                "Condition": self.condition,
            }.get(key)
            if handler:
                return handler(arg)
        out = {}
        for k, v in node.items():
            resolved = self.value(v)
            if resolved is not NO_VALUE:
                out[k] = resolved
        return out

    def condition(self, name: str) -> bool:
        return bool(self.value(self.conditions[name]))

    def _if(self, arg):
        name, then, otherwise = arg
        return self.value(then if self.condition(name) else otherwise)

    def _ref(self, name: str):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            kind = self.template["Parameters"][name].get("Type", "String")
            raw = self.parameters[name]
            if kind.startswith("CommaDelimitedList") or kind.startswith("List<"):
                return [] if raw == "" else [v.strip() for v in str(raw).split(",")]
            return str(raw)
        resource = self.resources[name]
        kind = resource["Type"]
        props = resource.get("Properties", {})
        if kind == "AWS::Lambda::Function":
            return self.value(props.get("FunctionName", name))
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{PSEUDO['AWS::Region']}:{PSEUDO['AWS::AccountId']}:{name}"
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{PSEUDO['AWS::Region']}.amazonaws.com/{PSEUDO['AWS::AccountId']}/{name}"
        if kind == "AWS::CodePipeline::Pipeline":
            return self.value(props.get("Name", name))
        if kind == "AWS::Logs::LogGroup":
            return self.value(props.get("LogGroupName", name))
        if kind == "AWS::SSM::Parameter":
            return self.value(props.get("Name", name))
        return name

    def _get_att(self, arg):
        name, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
        kind = self.resources[name]["Type"]
        if attribute == "Arn" and kind in ARNS:
            return ARNS[kind].format(name=name, lower=name.lower(), physical=self._ref(name), **FIELDS)
        if attribute == "QueueName":
            return name
        return f"{name}.{attribute}"

    def _sub(self, arg):
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        variables = {k: self.value(v) for k, v in variables.items()}

        def replace(match: re.Match) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                return str(variables[inner])
            if "." in inner:
                return str(self._get_att(inner))
            resolved = self._ref(inner)
            return ",".join(resolved) if isinstance(resolved, list) else str(resolved)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

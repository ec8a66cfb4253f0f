"""The benchmark's peer: what a user would otherwise write, a Python function with boto3 run by
AWS's own runtime interface client (awslambdaric). At init it builds the clients the Rust
function builds (module level, as Lambda's Python guidance says); each invocation makes the
Rust function's first AWS call.

    PEER_FUNCTION  which function it stands for (its clients)
    PEER_CALL      the first call, "<signing name> <Operation>", as the benchmark recorded it
"""

from __future__ import annotations

import os
from typing import Any

import boto3

# Each function's clients, by boto3 name, as its handler builds them.
CLIENTS = {
    "instance-refresh": ["autoscaling", "ec2", "ssm", "codepipeline"],
    "lifecycle-health": ["autoscaling", "ec2", "elbv2", "lambda"],
    "qa-notify": ["codepipeline", "sns", "dynamodb"],
    "approval-gate": ["autoscaling", "ec2", "elbv2", "cloudwatch", "codepipeline"],
}
# The boto3 client and the arguments of each first call the benchmark's scenarios make.
CALLS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "autoscaling DescribeInstanceRefreshes": (
        "autoscaling",
        "describe_instance_refreshes",
        {"AutoScalingGroupName": "web-staging"},
    ),
    "autoscaling DescribeAutoScalingGroups": (
        "autoscaling",
        "describe_auto_scaling_groups",
        {"AutoScalingGroupNames": ["web-staging"]},
    ),
    "autoscaling DescribeLifecycleHooks": (
        "autoscaling",
        "describe_lifecycle_hooks",
        {"AutoScalingGroupName": "web-staging"},
    ),
    "ec2 DescribeInstances": ("ec2", "describe_instances", {"InstanceIds": ["i-0123456789abcdef0"]}),
    "codepipeline GetPipelineState": ("codepipeline", "get_pipeline_state", {"name": "release"}),
    "codepipeline GetPipelineExecution": (
        "codepipeline",
        "get_pipeline_execution",
        {"pipelineName": "release", "pipelineExecutionId": "3a7c1e52-6b0f-4e9a-9d1c-2f5e8b7a6c41"},
    ),
    "dynamodb PutItem": ("dynamodb", "put_item", {"TableName": "notices-sent", "Item": {"notice": {"S": "peer"}}}),
    "dynamodb GetItem": ("dynamodb", "get_item", {"TableName": "notices-sent", "Key": {"notice": {"S": "peer"}}}),
}

clients = {name: boto3.client(name) for name in CLIENTS[os.environ["PEER_FUNCTION"]]}
service, method, arguments = CALLS[os.environ["PEER_CALL"]]


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    answer = getattr(clients[service], method)(**arguments)
    return {"status": answer["ResponseMetadata"]["HTTPStatusCode"]}

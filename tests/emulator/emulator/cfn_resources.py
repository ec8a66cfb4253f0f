"""CloudFormation handlers for the resource types our template uses that moto cannot create.

Each one creates the resource on the emulator's state machines or moto's backends (the same
objects the APIs answer from), so a deployed hook holds launches, a deployed alarm starts in
INSUFFICIENT_DATA with its history, a deployed pipeline answers GetPipeline / GetPipelineState.
moto finds handlers among the direct subclasses of CloudFormationModel, so each class here is one.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from moto.autoscaling.models import autoscaling_backends
from moto.awslambda.models import lambda_backends
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.cloudwatch import models as cw_models
from moto.cloudwatch.models import cloudwatch_backends
from moto.codepipeline.models import codepipeline_backends
from moto.core.common_models import CloudFormationModel
from moto.ec2.models import ec2_backends
from moto.efs import models as efs_models
from moto.s3.models import s3_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from moto.utilities.utils import get_partition

if TYPE_CHECKING:
    from .world import World

_world: World | None = None


def _props(cloudformation_json: dict[str, Any]) -> dict[str, Any]:
    return cloudformation_json.get("Properties") or {}


class LifecycleHookResource(CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::AutoScaling::LifecycleHook"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "LifecycleHookName"

    def __init__(self, name: str, properties: dict[str, Any], account_id: str, region: str) -> None:
        self.name, self.properties, self.account_id, self.region = name, properties, account_id, region
        self.group = properties["AutoScalingGroupName"]

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> LifecycleHookResource:
        p = _props(cloudformation_json)
        backend = autoscaling_backends[account_id][region_name]
        group = p["AutoScalingGroupName"]
        if group not in backend.autoscaling_groups:
            raise ValueError(f"AutoScalingGroup name not found - The Auto Scaling group '{group}' does not exist.")
        backend.create_lifecycle_hook(
            name=resource_name,
            as_name=group,
            transition=p["LifecycleTransition"],
            timeout=int(p.get("HeartbeatTimeout", 3600)),
            result=p.get("DefaultResult", "ABANDON"),
        )
        if "NotificationMetadata" in p and _world is not None:
            _world.autoscaling.hook_metadata[(account_id, region_name, group, resource_name)] = p[
                "NotificationMetadata"
            ]
        return cls(resource_name, p, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> LifecycleHookResource:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        autoscaling_backends[account_id][region_name].delete_lifecycle_hook(self.group, self.name)
        if _world is not None:
            _world.autoscaling.hook_metadata.pop((account_id, region_name, self.group, self.name), None)


class AlarmResource(CloudFormationModel):
    """A metric alarm through the emulator's CloudWatch, so it starts INSUFFICIENT_DATA with its history."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    def __init__(self, name: str, account_id: str, region: str) -> None:
        self.name, self.account_id, self.region = name, account_id, region

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return f"arn:{get_partition(self.region)}:cloudwatch:{self.region}:{self.account_id}:alarm:{self.name}"
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> AlarmResource:
        p = _props(cloudformation_json)
        backend = cloudwatch_backends[account_id][region_name]

        def run() -> tuple[int, dict[str, str], bytes]:
            backend.put_metric_alarm(
                name=resource_name,
                namespace=p.get("Namespace"),
                metric_name=p.get("MetricName"),
                metric_data_queries=_metric_queries(p["Metrics"]) if "Metrics" in p else None,
                comparison_operator=p["ComparisonOperator"],
                evaluation_periods=int(p["EvaluationPeriods"]),
                period=int(p["Period"]) if "Period" in p else None,
                threshold=float(p["Threshold"]),
                statistic=p.get("Statistic"),
                description=p.get("AlarmDescription"),
                dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in p.get("Dimensions", [])],
                alarm_actions=p.get("AlarmActions", []),
                ok_actions=p.get("OKActions", []),
                insufficient_data_actions=p.get("InsufficientDataActions", []),
                datapoints_to_alarm=int(p["DatapointsToAlarm"]) if "DatapointsToAlarm" in p else None,
                extended_statistic=p.get("ExtendedStatistic"),
                unit=p.get("Unit"),
                actions_enabled=str(p.get("ActionsEnabled", True)).lower() == "true",
                treat_missing_data=p.get("TreatMissingData"),
            )
            return 200, {}, b""

        if _world is not None:
            _world.cloudwatch.observe("PutMetricAlarm", {"AlarmName": resource_name}, account_id, region_name, run)
        else:
            run()
        return cls(resource_name, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> AlarmResource:
        if original_resource.name != new_resource_name:
            original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([self.name])


def _metric_queries(metrics: list[dict[str, Any]]) -> list[cw_models.MetricDataQuery]:
    queries = []
    for query in metrics:
        stat = query.get("MetricStat")
        metric_stat = None
        if stat:
            metric = stat["Metric"]
            metric_stat = cw_models.MetricStat(
                metric=cw_models.Metric(
                    metric_name=metric["MetricName"],
                    namespace=metric.get("Namespace"),
                    dimensions=[cw_models.Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])],
                ),
                period=stat.get("Period"),
                stat=stat.get("Stat"),
                unit=stat.get("Unit"),
            )
        queries.append(
            cw_models.MetricDataQuery(
                query_id=query["Id"],
                label=query.get("Label"),
                period=query.get("Period"),
                return_data=query.get("ReturnData"),
                expression=query.get("Expression"),
                metric_stat=metric_stat,
            )
        )
    return queries


def _camel(value: Any) -> Any:
    """CloudFormation's PascalCase pipeline declaration → the API's camelCase; configuration
    maps keep their keys (they are the action's own)."""
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, v in value.items():
        name = key[0].lower() + key[1:]
        out[name] = v if key == "Configuration" else _camel(v)
    return out


class PipelineResource(CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodePipeline::Pipeline"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    def __init__(self, name: str, account_id: str, region: str) -> None:
        self.name, self.account_id, self.region = name, account_id, region

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Version"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Version":
            return str(codepipeline_backends[self.account_id][self.region].pipelines[self.name].pipeline["version"])
        raise UnformattedGetAttTemplateException()

    @staticmethod
    def declaration(name: str, p: dict[str, Any]) -> dict[str, Any]:
        keys = (
            "RoleArn",
            "Stages",
            "ArtifactStore",
            "ArtifactStores",
            "PipelineType",
            "ExecutionMode",
            "Variables",
            "Triggers",
        )
        pipeline = _camel({k: v for k, v in p.items() if k in keys})
        pipeline["name"] = name
        for stage in pipeline.get("stages", []):
            for action in stage.get("actions", []):
                action.setdefault("runOrder", 1)
                if "timeoutInMinutes" in action:
                    action["timeoutInMinutes"] = int(action["timeoutInMinutes"])
                action["runOrder"] = int(action["runOrder"])
        return pipeline

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> PipelineResource:
        p = _props(cloudformation_json)
        tags = [{"key": t["Key"], "value": t["Value"]} for t in p.get("Tags", [])]
        codepipeline_backends[account_id][region_name].create_pipeline(cls.declaration(resource_name, p), tags)
        return cls(resource_name, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> PipelineResource:
        if original_resource.name != new_resource_name:
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        codepipeline_backends[account_id][region_name].update_pipeline(
            cls.declaration(new_resource_name, _props(cloudformation_json))
        )
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        codepipeline_backends[account_id][region_name].delete_pipeline(self.name)


class BucketPolicyResource(CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    @property
    def physical_resource_id(self) -> str:
        return self.bucket

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> BucketPolicyResource:
        p = _props(cloudformation_json)
        s3_backends[account_id][get_partition(region_name)].put_bucket_policy(
            p["Bucket"], json.dumps(p["PolicyDocument"]).encode()
        )
        return cls(p["Bucket"])

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> BucketPolicyResource:
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        s3_backends[account_id][get_partition(region_name)].delete_bucket_policy(self.bucket)


class QueuePolicyResource(CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    def __init__(self, queues: list[str], physical_id: str) -> None:
        self.queues, self._physical_id = queues, physical_id

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    @staticmethod
    def _names(urls: list[str]) -> list[str]:
        return [url.rstrip("/").rsplit("/", 1)[-1] for url in urls]

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> QueuePolicyResource:
        p = _props(cloudformation_json)
        backend = sqs_backends[account_id][region_name]
        for name in cls._names(p["Queues"]):
            backend.set_queue_attributes(name, {"Policy": json.dumps(p["PolicyDocument"])})
        return cls(cls._names(p["Queues"]), resource_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> QueuePolicyResource:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(
            original_resource.physical_resource_id, cloudformation_json, account_id, region_name
        )

    def delete(self, account_id: str, region_name: str) -> None:
        backend = sqs_backends[account_id][region_name]
        for name in self.queues:
            if name in backend.queues:
                backend.set_queue_attributes(name, {"Policy": ""})


class SubscriptionResource(CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    def __init__(self, arn: str) -> None:
        self.arn = arn

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> SubscriptionResource:
        p = _props(cloudformation_json)
        backend = sns_backends[account_id][p.get("Region", region_name)]
        subscription = backend.subscribe(p["TopicArn"], p["Endpoint"], p["Protocol"])
        for name in ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "DeliveryPolicy"):
            if name in p:
                value = p[name] if isinstance(p[name], str) else json.dumps(p[name])
                backend.set_subscription_attributes(
                    subscription.arn, name, str(value).lower() if name == "RawMessageDelivery" else value
                )
        return cls(subscription.arn)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> SubscriptionResource:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        region = self.arn.split(":")[3]
        sns_backends[account_id][region].unsubscribe(self.arn)


class EventInvokeConfigResource(CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::EventInvokeConfig"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    def __init__(self, function: str, physical_id: str) -> None:
        self.function, self._physical_id = function, physical_id

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> EventInvokeConfigResource:
        p = _props(cloudformation_json)
        config = {k: p[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig") if k in p}
        for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if k in config:
                config[k] = int(config[k])
        backend = lambda_backends[account_id][region_name]
        backend.get_function(p["FunctionName"]).event_invoke_config.clear()
        backend.put_function_event_invoke_config(p["FunctionName"], config)
        return cls(p["FunctionName"], f"{p['FunctionName']}:{p.get('Qualifier', '$LATEST')}")

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> EventInvokeConfigResource:
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = lambda_backends[account_id][region_name]
        try:
            backend.get_function(self.function).event_invoke_config.clear()
        except Exception:  # the function went first: nothing is left to clear
            pass


class SecurityGroupEgressResource(CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::SecurityGroupEgress"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    def __init__(self, physical_id: str, group_id: str, rule: dict[str, Any]) -> None:
        self._physical_id, self.group_id, self.rule = physical_id, group_id, rule

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    @staticmethod
    def _rule(p: dict[str, Any]) -> dict[str, Any]:
        rule: dict[str, Any] = {
            "ip_protocol": str(p["IpProtocol"]),
            "from_port": str(p.get("FromPort", -1)),
            "to_port": str(p.get("ToPort", -1)),
            "ip_ranges": [{"CidrIp": p["CidrIp"]}] if "CidrIp" in p else [],
        }
        if "DestinationSecurityGroupId" in p:
            rule["source_groups"] = [{"GroupId": p["DestinationSecurityGroupId"]}]
        if "DestinationPrefixListId" in p:
            rule["prefix_list_ids"] = [{"PrefixListId": p["DestinationPrefixListId"]}]
        return rule

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> SecurityGroupEgressResource:
        p = _props(cloudformation_json)
        rule = cls._rule(p)
        rules, _ = ec2_backends[account_id][region_name].authorize_security_group_egress(p["GroupId"], **rule)
        physical = rules[0].id if rules else resource_name
        return cls(physical, p["GroupId"], rule)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> SecurityGroupEgressResource:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = ec2_backends[account_id][region_name]
        if backend.get_security_group_by_name_or_id(self.group_id) is None:
            return  # deleting the group took its rules with it
        backend.revoke_security_group_egress(self.group_id, **self.rule)


def _efs_attributes() -> None:
    """moto's EFS models are created by CloudFormation but answer no GetAtt (the fleet's instance
    role and file-system policy read their ARNs)."""
    attributes = {
        efs_models.FileSystem: {"Arn": "file_system_arn", "FileSystemId": "file_system_id"},
        efs_models.AccessPoint: {"Arn": "access_point_arn", "AccessPointId": "access_point_id"},
    }
    for model, names in attributes.items():

        def has_cfn_attr(cls: Any, attr: str, names: dict[str, str] = names) -> bool:
            return attr in names

        def get_cfn_attribute(self: Any, attribute_name: str, names: dict[str, str] = names) -> Any:
            if attribute_name in names:
                return getattr(self, names[attribute_name])
            raise UnformattedGetAttTemplateException()

        model.has_cfn_attr = classmethod(has_cfn_attr)  # type: ignore[assignment,method-assign]
        model.get_cfn_attribute = get_cfn_attribute  # type: ignore[attr-defined]


def _sqs_queue_update() -> None:
    """moto's CloudFormation update of a queue applies only two of its properties; AWS applies
    every one that can change without replacement (all but QueueName and FifoQueue)."""
    from moto.sqs.models import Queue

    def update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        properties = dict(cloudformation_json.get("Properties") or {})
        backend = sqs_backends[account_id][region_name]
        tags = properties.pop("Tags", None)
        attributes = {
            k: json.dumps(v) if isinstance(v, dict) else str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in properties.items()
            if k not in ("QueueName", "FifoQueue")
        }
        if attributes:
            backend.set_queue_attributes(original_resource.name, attributes)
        if tags is not None:
            backend.get_queue(original_resource.name).tags = {t["Key"]: t["Value"] for t in tags}
        return backend.get_queue(original_resource.name)

    Queue.update_from_cloudformation_json = classmethod(update)  # type: ignore[method-assign,assignment]


HANDLERS = (
    LifecycleHookResource,
    AlarmResource,
    PipelineResource,
    BucketPolicyResource,
    QueuePolicyResource,
    SubscriptionResource,
    EventInvokeConfigResource,
    SecurityGroupEgressResource,
)


def install(world: World) -> None:
    global _world
    _world = world
    _efs_attributes()
    _sqs_queue_update()
    # moto caches its model list; our subclasses were defined after the first look.
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    missing = [
        h.cloudformation_type() for h in HANDLERS if parsing.get_model_map().get(h.cloudformation_type()) is not h
    ]
    if missing:
        raise RuntimeError(f"CloudFormation handlers not registered: {missing}")

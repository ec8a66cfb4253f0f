"""CloudFormation handlers for the resource types our template uses that moto cannot create.

Each one creates the resource on the emulator's state machines or moto's backends (the same
objects the APIs answer from), so a deployed hook holds launches, a deployed alarm starts in
INSUFFICIENT_DATA with its history, a deployed pipeline answers GetPipeline / GetPipelineState.
moto finds handlers among the direct subclasses of CloudFormationModel, so each class here is
one, with what they share from the _Handler mixin.
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


class _Handler:
    """What every handler shares. A handler sets TYPE, NAME_PROPERTY (the property that names the
    resource; "" when CloudFormation's generated name is only a handle), ATTRIBUTES (GetAtt name →
    Python attribute), and implements make() and delete(). An update deletes and makes again
    unless the handler overrides change()."""

    TYPE = ""
    NAME_PROPERTY = ""
    ATTRIBUTES: dict[str, str] = {}

    def __init__(self, physical_id: str, account_id: str, region: str, **state: Any) -> None:
        self._physical_id, self.account_id, self.region = physical_id, account_id, region
        self.__dict__.update(state)

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name in self.ATTRIBUTES:
            return getattr(self, self.ATTRIBUTES[attribute_name])
        raise UnformattedGetAttTemplateException()

    @classmethod
    def make(cls, name: str, p: dict[str, Any], account_id: str, region: str) -> Any:
        raise NotImplementedError

    def delete(self, account_id: str, region_name: str) -> None:
        raise NotImplementedError

    @classmethod
    def change(cls, original: Any, name: str, p: dict[str, Any], account_id: str, region: str) -> Any:
        original.delete(account_id, region)
        return cls.make(name, p, account_id, region)

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        return cls.make(resource_name, cloudformation_json.get("Properties") or {}, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        return cls.change(
            original_resource, new_resource_name, cloudformation_json.get("Properties") or {}, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        pass  # moto calls delete() on the resource itself


class LifecycleHookResource(_Handler, CloudFormationModel):
    TYPE, NAME_PROPERTY = "AWS::AutoScaling::LifecycleHook", "LifecycleHookName"

    @classmethod
    def make(cls, name: str, p: dict[str, Any], account_id: str, region: str) -> LifecycleHookResource:
        backend = autoscaling_backends[account_id][region]
        group = p["AutoScalingGroupName"]
        if group not in backend.autoscaling_groups:
            raise ValueError(f"AutoScalingGroup name not found - The Auto Scaling group '{group}' does not exist.")
        backend.create_lifecycle_hook(
            name=name,
            as_name=group,
            transition=p["LifecycleTransition"],
            timeout=int(p.get("HeartbeatTimeout", 3600)),
            result=p.get("DefaultResult", "ABANDON"),
        )
        if "NotificationMetadata" in p and _world is not None:
            _world.autoscaling.hook_metadata[(account_id, region, group, name)] = p["NotificationMetadata"]
        return cls(name, account_id, region, group=group)

    def delete(self, account_id: str, region_name: str) -> None:
        autoscaling_backends[account_id][region_name].delete_lifecycle_hook(self.group, self._physical_id)
        if _world is not None:
            _world.autoscaling.hook_metadata.pop((account_id, region_name, self.group, self._physical_id), None)


class AlarmResource(_Handler, CloudFormationModel):
    """A metric alarm (or metric-math alarm) through the emulator's CloudWatch, so it starts
    INSUFFICIENT_DATA with its history."""

    TYPE, NAME_PROPERTY, ATTRIBUTES = "AWS::CloudWatch::Alarm", "AlarmName", {"Arn": "arn"}

    @property
    def arn(self) -> str:
        return f"arn:{get_partition(self.region)}:cloudwatch:{self.region}:{self.account_id}:alarm:{self._physical_id}"

    @classmethod
    def make(cls, name: str, p: dict[str, Any], account_id: str, region: str) -> AlarmResource:
        backend = cloudwatch_backends[account_id][region]

        def run() -> tuple[int, dict[str, str], bytes]:
            backend.put_metric_alarm(
                name=name,
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
            _world.cloudwatch.observe("PutMetricAlarm", {"AlarmName": name}, account_id, region, run)
        else:
            run()
        return cls(name, account_id, region)

    @classmethod
    def change(cls, original: Any, name: str, p: dict[str, Any], account_id: str, region: str) -> AlarmResource:
        # PutMetricAlarm on the same name updates it in place (and keeps its state).
        if original.physical_resource_id != name:
            original.delete(account_id, region)
        return cls.make(name, p, account_id, region)

    def delete(self, account_id: str, region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([self._physical_id])


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


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


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


class PipelineResource(_Handler, CloudFormationModel):
    TYPE, NAME_PROPERTY, ATTRIBUTES = "AWS::CodePipeline::Pipeline", "Name", {"Version": "version"}

    @property
    def version(self) -> str:
        return str(codepipeline_backends[self.account_id][self.region].pipelines[self._physical_id].pipeline["version"])

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
                # The API's configuration is a map of strings: CloudFormation turns `DetectChanges:
                # true` into "true" (the SDKs refuse a boolean there).
                if "configuration" in action:
                    action["configuration"] = {k: _text(v) for k, v in action["configuration"].items()}
                action["runOrder"] = int(action.get("runOrder", 1))
                if "timeoutInMinutes" in action:
                    action["timeoutInMinutes"] = int(action["timeoutInMinutes"])
        return pipeline

    @classmethod
    def make(cls, name: str, p: dict[str, Any], account_id: str, region: str) -> PipelineResource:
        tags = [{"key": t["Key"], "value": t["Value"]} for t in p.get("Tags", [])]
        codepipeline_backends[account_id][region].create_pipeline(cls.declaration(name, p), tags)
        return cls(name, account_id, region)

    @classmethod
    def change(cls, original: Any, name: str, p: dict[str, Any], account_id: str, region: str) -> PipelineResource:
        if original.physical_resource_id != name:
            original.delete(account_id, region)
            return cls.make(name, p, account_id, region)
        codepipeline_backends[account_id][region].update_pipeline(cls.declaration(name, p))
        return original

    def delete(self, account_id: str, region_name: str) -> None:
        codepipeline_backends[account_id][region_name].delete_pipeline(self._physical_id)


class BucketPolicyResource(_Handler, CloudFormationModel):
    TYPE = "AWS::S3::BucketPolicy"

    @classmethod
    def make(cls, name: str, p: dict[str, Any], account_id: str, region: str) -> BucketPolicyResource:
        s3_backends[account_id][get_partition(region)].put_bucket_policy(
            p["Bucket"], json.dumps(p["PolicyDocument"]).encode()
        )
        return cls(p["Bucket"], account_id, region)

    def delete(self, account_id: str, region_name: str) -> None:
        s3_backends[account_id][get_partition(region_name)].delete_bucket_policy(self._physical_id)


class QueuePolicyResource(_Handler, CloudFormationModel):
    TYPE = "AWS::SQS::QueuePolicy"

    @classmethod
    def make(cls, name: str, p: dict[str, Any], account_id: str, region: str) -> QueuePolicyResource:
        queues = [url.rstrip("/").rsplit("/", 1)[-1] for url in p["Queues"]]
        for queue in queues:
            sqs_backends[account_id][region].set_queue_attributes(queue, {"Policy": json.dumps(p["PolicyDocument"])})
        return cls(name, account_id, region, queues=queues)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = sqs_backends[account_id][region_name]
        for queue in self.queues:
            if queue in backend.queues:
                backend.set_queue_attributes(queue, {"Policy": ""})


class SubscriptionResource(_Handler, CloudFormationModel):
    TYPE = "AWS::SNS::Subscription"
    ATTRIBUTES_SET = ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "DeliveryPolicy")

    @classmethod
    def make(cls, name: str, p: dict[str, Any], account_id: str, region: str) -> SubscriptionResource:
        backend = sns_backends[account_id][p.get("Region", region)]
        subscription = backend.subscribe(p["TopicArn"], p["Endpoint"], p["Protocol"])
        for attribute in cls.ATTRIBUTES_SET:
            if attribute in p:
                value = p[attribute] if isinstance(p[attribute], str) else json.dumps(p[attribute])
                backend.set_subscription_attributes(
                    subscription.arn, attribute, value.lower() if attribute == "RawMessageDelivery" else value
                )
        return cls(subscription.arn, account_id, region)

    def delete(self, account_id: str, region_name: str) -> None:
        sns_backends[account_id][self._physical_id.split(":")[3]].unsubscribe(self._physical_id)


class EventInvokeConfigResource(_Handler, CloudFormationModel):
    TYPE = "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def make(cls, name: str, p: dict[str, Any], account_id: str, region: str) -> EventInvokeConfigResource:
        config = {k: p[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig") if k in p}
        for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if k in config:
                config[k] = int(config[k])
        backend = lambda_backends[account_id][region]
        backend.get_function(p["FunctionName"]).event_invoke_config.clear()
        backend.put_function_event_invoke_config(p["FunctionName"], config)
        return cls(
            f"{p['FunctionName']}:{p.get('Qualifier', '$LATEST')}", account_id, region, function=p["FunctionName"]
        )

    @classmethod
    def change(
        cls, original: Any, name: str, p: dict[str, Any], account_id: str, region: str
    ) -> EventInvokeConfigResource:
        return cls.make(name, p, account_id, region)  # PutFunctionEventInvokeConfig replaces it

    def delete(self, account_id: str, region_name: str) -> None:
        try:
            lambda_backends[account_id][region_name].get_function(self.function).event_invoke_config.clear()
        except Exception:  # the function went first: nothing is left to clear
            pass


class SecurityGroupEgressResource(_Handler, CloudFormationModel):
    TYPE = "AWS::EC2::SecurityGroupEgress"

    @classmethod
    def make(cls, name: str, p: dict[str, Any], account_id: str, region: str) -> SecurityGroupEgressResource:
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
        rules, _ = ec2_backends[account_id][region].authorize_security_group_egress(p["GroupId"], **rule)
        return cls(rules[0].id if rules else name, account_id, region, group_id=p["GroupId"], rule=rule)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = ec2_backends[account_id][region_name]
        if backend.get_security_group_by_name_or_id(self.group_id) is None:
            return  # deleting the group took its rules with it
        backend.revoke_security_group_egress(self.group_id, **self.rule)


def _efs_attributes() -> None:
    """moto's EFS models are created by CloudFormation but answer no GetAtt (the fleet's instance
    role and file-system policy read their ARNs), and an access point has no Ref."""
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
    # Ref of an access point is its id (fsap-…); moto's model has no physical id, so a Ref gave
    # the object's repr (found by the fleet's user data, which exports it).
    efs_models.AccessPoint.physical_resource_id = property(lambda self: self.access_point_id)  # type: ignore[attr-defined]


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

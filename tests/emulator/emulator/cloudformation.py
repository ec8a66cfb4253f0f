"""CloudFormation as `sam deploy` meets it: the SAM transform, change sets that execute with
per-resource events and outputs, failures that roll back with a reason, nested stacks updated in
place, dynamic references, and no silently skipped resource types.

moto's engine (ResourceMap: intrinsic functions, lazy dependency resolution, its models'
create/update/delete) does the resource work; this module patches the places where it is kinder
than AWS: it leaves Transform untouched, gives a stack made by a change set no outputs, skips an
unknown type with a warning, lets a failed resource escape as an HTML 500 (the stack stays
REVIEW_IN_PROGRESS), reads an endpoint's host as a bucket name, and replaces a nested stack
(deleting its resources) on every update.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing, responses, utils
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import ChangeSet, CloudFormationBackend, Event, Stack, cloudformation_backends
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.s3.models import s3_backends
from moto.ssm.models import ssm_backends
from moto.utilities.utils import get_partition

from .cfn_changes import (
    build_resource_diff,
    change_set_diff,
    check_rules,
    has_same_parameters,
    parameter_list,
    parameter_text,
)

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:(ssm|ssm-secure|secretsmanager):([^}]+)\}\}")

# The region of the CloudFormation request being served (requests are served one at a time,
# under the world's lock): the transform needs it, and moto parses templates before it has one.
request_region: contextvars.ContextVar[str] = contextvars.ContextVar("request_region", default="us-east-1")
# The stack whose resources are being created, updated or deleted: their events go there.
_deploying: contextvars.ContextVar[Stack | None] = contextvars.ContextVar("deploying", default=None)

# (stack id, logical id) → the Metadata of the resource as the template declared it, before the
# transform (which does not pass resource Metadata through, as on AWS). lambdas.py reads the
# function's BuildProperties.Binary here.
declared_metadata: dict[tuple[str, str], dict[str, Any]] = {}


class UnsupportedResourceType(Exception):
    def __init__(self, resource_type: str) -> None:
        super().__init__(
            f"The emulator cannot create {resource_type}: it has no handler for this type "
            "(tests/emulator/emulator/cfn_resources.py), and skipping it would deploy a stack that is not the template."
        )


# ---------------------------------------------------------------- the SAM transform


class _ManagedPolicies:
    """SAM names managed policies by their short name; the translator asks for their ARNs."""

    def load(self) -> dict[str, str]:
        policies = json.loads(aws_managed_policies_data)
        return {name: f"arn:aws:iam::aws:policy{p['Path']}{name}" for name, p in policies.items()}


def apply_transform(template: dict[str, Any], region: str) -> dict[str, Any]:
    transforms = template.get("Transform")
    names = transforms if isinstance(transforms, list) else [transforms] if transforms else []
    if SAM_TRANSFORM not in names:
        return template
    unknown = [n for n in names if n != SAM_TRANSFORM]
    if unknown:
        raise ValidationError(
            message=f"Template format error: the emulator supports no transform but {SAM_TRANSFORM}: {unknown}"
        )
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.translator.transform import transform

    # transform() records metrics it never publishes and warns so when they are collected;
    # there is nowhere to publish them here, and the warning lands on the local runs' screens.
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)

    partition = get_partition(region)
    parameters = {"AWS::Region": region, "AWS::Partition": partition, "AWS::AccountId": "123456789012"}
    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region  # the translator asks boto3 for the region
    try:
        return transform(json.loads(json.dumps(template)), parameters, _ManagedPolicies())
    except InvalidDocumentException as err:
        causes = "; ".join(str(c) for c in err.causes)
        raise ValidationError(message=f"Transform {SAM_TRANSFORM} failed with: {causes}") from None
    finally:
        if previous is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous


def parse(template: str | dict[str, Any]) -> dict[str, Any]:
    raw = _original_parse_template(template) if isinstance(template, str) else template
    return apply_transform(raw, request_region.get())


def _remember_metadata(stack_id: str, template: str | dict[str, Any]) -> None:
    raw = _original_parse_template(template) if isinstance(template, str) else template
    for logical_id, resource in (raw or {}).get("Resources", {}).items():
        if isinstance(resource, dict) and isinstance(resource.get("Metadata"), dict):
            declared_metadata[(stack_id, logical_id)] = resource["Metadata"]


_original_parse_template = Stack.parse_template


def _stack_parse_template(self: Stack) -> None:
    self.template_dict = parse(self.template)
    _remember_metadata(self.stack_id, self.template)


def _change_set_parse_template(self: ChangeSet) -> None:
    self.template_dict = parse(self.template)
    _remember_metadata(self.stack.stack_id, self.template)
    _validate_types(self.template_dict)


def _validate_types(template: dict[str, Any]) -> None:
    """AWS refuses a template naming a type it does not know before anything is created."""
    unknown = sorted(
        {
            r.get("Type", "")
            for r in template.get("Resources", {}).values()
            if not re.fullmatch(r"(AWS|Alexa)::\w+::\w+(::\w+)?|Custom::[\w@-]+", str(r.get("Type", "")))
        }
    )
    if unknown:
        raise ValidationError(message=f"Template format error: Unrecognized resource types: [{', '.join(unknown)}]")


# ---------------------------------------------------------------- resources, with their events


def _event(
    stack: Stack, logical_id: str, physical_id: str | None, resource_type: str, status: str, reason: str | None = None
) -> None:
    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id=physical_id or "",
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )


def failure_reason(err: BaseException) -> str:
    message = getattr(err, "message", None) or getattr(err, "description", None) or str(err) or type(err).__name__
    return str(message)


@contextlib.contextmanager
def _resource_events(logical_id: str, resource_type: str, verb: str) -> Iterator[list[Any]]:
    stack = _deploying.get()
    made: list[Any] = []
    if stack is not None:
        _event(stack, logical_id, None, resource_type, f"{verb}_IN_PROGRESS")
    try:
        yield made
    except Exception as err:
        if stack is not None and not getattr(err, "_reported", False):
            _event(stack, logical_id, None, resource_type, f"{verb}_FAILED", failure_reason(err))
            err._reported = True  # type: ignore[attr-defined]
            stack.failed_resources.append(logical_id)  # type: ignore[attr-defined]
        raise
    if stack is not None and made and made[0] is not None:
        _event(stack, logical_id, _physical_id(made[0]), resource_type, f"{verb}_COMPLETE")


def _physical_id(resource: Any) -> str:
    try:
        return str(resource.physical_resource_id)
    except Exception:
        return ""


_original_create = parsing.parse_and_create_resource
_original_update = parsing.parse_and_update_resource
_original_class_from_type = parsing.resource_class_from_type
_original_clean_json = parsing.clean_json


def _create_resource(
    logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str
) -> Any:
    condition = resource_json.get("Condition")
    if condition and not resources_map.lazy_condition_map[condition]:
        return None
    with _resource_events(logical_id, resource_json["Type"], "CREATE") as made:
        made.append(_original_create(logical_id, resource_json, resources_map, account_id, region_name))
    return made[0]


def _update_resource(
    logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str
) -> Any:
    original = resources_map._parsed_resources.get(logical_id)
    condition = resource_json.get("Condition")
    wanted = not condition or resources_map.lazy_condition_map[condition]
    if original is None:
        # Not made before (its condition was false): made now if its condition holds.
        resources_map._parsed_resources.pop(logical_id, None)
        return _create_resource(logical_id, resource_json, resources_map, account_id, region_name) if wanted else None
    if not wanted:
        stack = _deploying.get()
        if stack is not None:
            _event(stack, logical_id, _physical_id(original), resource_json["Type"], "DELETE_IN_PROGRESS")
        resources_map._delete_resource(original, resource_json)
        if stack is not None:
            _event(stack, logical_id, _physical_id(original), resource_json["Type"], "DELETE_COMPLETE")
        return None
    resource_class = _class_from_type(resource_json["Type"])
    with _resource_events(logical_id, resource_json["Type"], "UPDATE") as made:
        if hasattr(resource_class.update_from_cloudformation_json, "__isabstractmethod__"):
            # moto has no update for this type (and would forget the resource): made again
            # with the new properties, under the same name when the template names it.
            resources_map._delete_resource(original, resources_map._resource_json_map.get(logical_id, resource_json))
            made.append(_original_create(logical_id, resource_json, resources_map, account_id, region_name))
        else:
            made.append(_original_update(logical_id, resource_json, resources_map, account_id, region_name))
    return made[0]


def _class_from_type(resource_type: str) -> Any:
    if resource_type in parsing.NULL_MODELS:
        return None
    found = _original_class_from_type(resource_type)
    if found is None:
        raise UnsupportedResourceType(resource_type)
    return found


def _clean_json(resource_json: Any, resources_map: Any) -> Any:
    cleaned = _original_clean_json(resource_json, resources_map)
    # parse_resource cleans the whole resource; intrinsic functions are resolved by then, so a
    # reference built with Fn::Sub is complete (inner calls see it half made).
    if isinstance(resource_json, dict) and "Type" in resource_json and "Properties" in resource_json:
        return _resolve_all(cleaned, resources_map._account_id, resources_map._region_name)
    return cleaned


def _resolve_all(value: Any, account_id: str, region: str) -> Any:
    if isinstance(value, str) and "{{resolve:" in value:
        return resolve_dynamic_references(value, account_id, region)
    if isinstance(value, dict):
        return {k: _resolve_all(v, account_id, region) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_all(v, account_id, region) for v in value]
    return value


def resolve_dynamic_references(value: str, account_id: str, region: str) -> str:
    """`{{resolve:ssm:name[:version]}}`, resolved when the resource is created or updated."""

    def one(match: re.Match[str]) -> str:
        service, reference = match.group(1), match.group(2)
        if service != "ssm":
            raise ValidationError(message=f"The emulator resolves only ssm dynamic references, not {service}")
        name, _, version = reference.partition(":")
        parameter = ssm_backends[account_id][region].get_parameter(name if not version else f"{name}:{version}")
        if parameter is None:
            raise ValidationError(message=f"Parameters: [ssm:{name}] cannot be found.")
        return parameter.value

    return DYNAMIC_REFERENCE.sub(one, value)


# ---------------------------------------------------------------- nested stacks, in place


def _read_template_url(template_url: str, account_id: str, partition: str) -> str:
    """A TemplateURL on a host that is not AWS's (the emulator's own endpoint, where SAM uploads
    with a path-style URL) names the bucket in its path."""
    url = urlparse(template_url)
    host = url.hostname or ""
    if host.endswith("amazonaws.com") and not host.startswith("s3"):
        bucket, key = host.split(".")[0], url.path.lstrip("/")
    else:
        bucket, key = url.path.lstrip("/").split("/", 1)
    return s3_backends[account_id][partition].get_object(bucket, key).value.decode("utf-8")  # type: ignore[union-attr]


def _update_nested_stack(
    cls: type[Stack],
    original_resource: Stack,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> Stack:
    """AWS updates a nested stack like any stack: only its changed resources change."""
    properties = cloudformation_json["Properties"]
    template = _read_template_url(properties["TemplateURL"], account_id, get_partition(region_name))
    parameters = {
        k: str(v) if not isinstance(v, list) else ",".join(map(str, v))
        for k, v in properties.get("Parameters", {}).items()
    }
    backend: CloudFormationBackend = cloudformation_backends[account_id][region_name]
    stack = original_resource
    previous = (stack.template, stack.template_dict, dict(stack.parameters))
    with deploying(stack):
        try:
            stack.status = "UPDATE_IN_PROGRESS"
            _stack_event(stack, "UPDATE_IN_PROGRESS")
            stack.template = template
            stack._parse_template()
            stack.resource_map.update(stack.template_dict, parameters)
            stack.parameters = parameters
        except Exception as err:
            _roll_back_update(stack, previous, err)
            raise
        _complete(stack, "UPDATE")
    for export in stack.exports:
        backend.exports[export.name] = export
    return stack


def _nested_stack_attribute(self: Stack, attribute_name: str) -> Any:
    """`!GetAtt Nested.Outputs.Name`: the nested stack's output."""
    if attribute_name.startswith("Outputs."):
        key = attribute_name.split(".", 1)[1]
        for output in self.output_map.values():
            if output is not None and output.key == key:
                return output.value
        raise ValidationError(message=f"Template error: stack {self.name} has no output named {key}")
    raise ValidationError(message=f"Template error: AWS::CloudFormation::Stack has no attribute {attribute_name}")


def _stack_resources(self: Stack) -> list[Any]:
    """The resources the stack made (moto's lazy map would make the rest when listed)."""
    resource_map = self.resource_map
    return [
        resource
        for logical_id, resource in resource_map._parsed_resources.items()
        if logical_id in resource_map._resource_json_map and resource is not None and not isinstance(resource, str)
    ]


def _resource_dto_init(self: Any, stack: Stack, resource: Any) -> None:
    """A resource's own status and time, from its last event (moto: the stack's status)."""
    self.stack_id, self.stack_name = stack.stack_id, stack.name
    self.logical_resource_id = getattr(resource, "logical_resource_id", None)
    self.physical_resource_id = _physical_id(resource)
    self.resource_type = getattr(resource, "cf_resource_type", None)
    self.stack_status = stack.status
    self.creation_time = stack.creation_time
    last = next((e for e in reversed(stack.events) if e.logical_resource_id == self.logical_resource_id), None)
    self.resource_status = last.resource_status if last else "CREATE_COMPLETE"
    self.timestamp = self.last_updated_timestamp = last.timestamp if last else stack.creation_time


def _list_stack_resources(self: Any) -> Any:
    from moto.core.responses import ActionResult

    stack, resources = self.cloudformation_backend.list_stack_resources(self._get_param("StackName"))
    summaries = []
    for resource in resources:
        dto = responses.StackResourceDTO(stack, resource)
        summaries.append(
            {
                "ResourceStatus": dto.resource_status,
                "LogicalResourceId": dto.logical_resource_id,
                "LastUpdatedTimestamp": dto.last_updated_timestamp,
                "PhysicalResourceId": dto.physical_resource_id,
                "ResourceType": dto.resource_type,
            }
        )
    return ActionResult({"StackResourceSummaries": summaries})


# ---------------------------------------------------------------- executing a change set


@contextlib.contextmanager
def deploying(stack: Stack) -> Iterator[None]:
    if not hasattr(stack, "failed_resources"):
        stack.failed_resources = []  # type: ignore[attr-defined]
    token = _deploying.set(stack)
    try:
        yield
    finally:
        _deploying.reset(token)


def _stack_event(stack: Stack, status: str, reason: str | None = None) -> None:
    _event(stack, stack.name, stack.stack_id, "AWS::CloudFormation::Stack", status, reason)
    stack.status_reason = reason  # type: ignore[attr-defined]


def _complete(stack: Stack, verb: str) -> None:
    stack.output_map = stack._create_output_map()
    stack.status = f"{verb}_COMPLETE"
    _stack_event(stack, f"{verb}_COMPLETE")


def _failed_list(stack: Stack, err: BaseException) -> str:
    failed = getattr(stack, "failed_resources", []) or []
    return ", ".join(failed) if failed else failure_reason(err)


def _roll_back_create(stack: Stack, err: BaseException) -> None:
    reason = f"The following resource(s) failed to create: [{_failed_list(stack, err)}]. Rollback requested by user."
    stack.status = "ROLLBACK_IN_PROGRESS"
    _stack_event(stack, "ROLLBACK_IN_PROGRESS", reason)
    _delete_all(stack)
    stack.status = "ROLLBACK_COMPLETE"
    _stack_event(stack, "ROLLBACK_COMPLETE")
    stack.status_reason = reason  # type: ignore[attr-defined]


def _roll_back_update(stack: Stack, previous: tuple[Any, dict[str, Any], dict[str, Any]], err: BaseException) -> None:
    reason = f"The following resource(s) failed to update: [{_failed_list(stack, err)}]. "
    stack.status = "UPDATE_ROLLBACK_IN_PROGRESS"
    _stack_event(stack, "UPDATE_ROLLBACK_IN_PROGRESS", reason)
    template, template_dict, parameters = previous
    stack.template, stack.template_dict = template, template_dict
    try:
        stack.resource_map.update(template_dict, parameters)
        stack.parameters = parameters
        stack.status = "UPDATE_ROLLBACK_COMPLETE"
    except Exception as again:
        stack.status = "UPDATE_ROLLBACK_FAILED"
        reason = f"{reason}Rolling back failed too: {failure_reason(again)}"
    _stack_event(stack, stack.status)
    stack.status_reason = reason  # type: ignore[attr-defined]


def _delete_all(stack: Stack) -> None:
    resource_map = stack.resource_map
    created = [
        (k, v)
        for k, v in list(resource_map._parsed_resources.items())
        if k in resource_map._resource_json_map and v is not None
    ]
    for logical_id, resource in reversed(created):
        resource_type = resource_map._resource_json_map[logical_id]["Type"]
        _event(stack, logical_id, _physical_id(resource), resource_type, "DELETE_IN_PROGRESS")
        try:
            resource_map._delete_resource(resource, resource_map._resource_json_map[logical_id])
            resource_map._parsed_resources.pop(logical_id, None)
            _event(stack, logical_id, _physical_id(resource), resource_type, "DELETE_COMPLETE")
        except Exception as err:  # the rollback goes on; the event says what stayed
            _event(stack, logical_id, _physical_id(resource), resource_type, "DELETE_FAILED", failure_reason(err))


def _execute_change_set(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> None:
    change_set = self.change_sets.get(change_set_name) or next(
        (
            cs
            for cs in self.change_sets.values()
            if cs.change_set_name == change_set_name and (not stack_name or cs.stack_name == stack_name)
        ),
        None,
    )
    if change_set is None:
        raise ValidationError(message=f"ChangeSet [{change_set_name}] does not exist")
    if change_set.execution_status != "AVAILABLE":
        raise ValidationError(
            message=f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current status of [{change_set.status}]"
        )
    stack = self.stacks[change_set.stack_id]
    creating = change_set.change_set_type == "CREATE"
    verb = "CREATE" if creating else "UPDATE"
    previous = (stack.template, getattr(stack, "template_dict", {}), dict(stack.parameters or {}))
    change_set.execution_status = "EXECUTE_IN_PROGRESS"
    with deploying(stack):
        stack.failed_resources = []  # type: ignore[attr-defined]
        stack.status = f"{verb}_IN_PROGRESS"
        _stack_event(stack, f"{verb}_IN_PROGRESS", "User Initiated")
        try:
            change_set.apply()
        except Exception as err:
            if creating:
                _roll_back_create(stack, err)
            else:
                _roll_back_update(stack, previous, err)
            change_set.execution_status = "EXECUTE_FAILED"
            return
        stack.template = change_set.template
        stack.template_dict = change_set.template_dict
        stack.parameters = change_set.parameters
        stack.description = change_set.template_dict.get("Description")
        if change_set.tags is not None:
            stack.tags = change_set.tags
        _complete(stack, verb)
    _remember_metadata(stack.stack_id, stack.template)
    for export in stack.exports:
        self.exports[export.name] = export
    change_set.execution_status = "EXECUTE_COMPLETE"


_original_create_stack = CloudFormationBackend.create_stack
_original_create_resources = Stack.create_resources


def _create_resources(self: Stack) -> None:
    with deploying(self):
        _original_create_resources(self)
    self.output_map = self._create_output_map()


def _create_stack(self: CloudFormationBackend, name: str, *args: Any, **kwargs: Any) -> Stack:
    """CreateStack, and a nested stack's creation: rolled back on failure; a nested stack's
    failure then fails its parent's resource."""
    nested = _deploying.get() is not None
    try:
        return _original_create_stack(self, name, *args, **kwargs)
    except Exception as err:
        made = [s for s in self.stacks.values() if s.name == name and s.status == "CREATE_IN_PROGRESS"]
        if not made:
            raise
        stack = made[0]
        with deploying(stack):
            _roll_back_create(stack, err)
        if nested:
            reason = getattr(stack, "status_reason", "")
            raise ValidationError(
                message=f"Embedded stack {stack.stack_id} was not successfully created: {reason}"
            ) from err
        return stack


def _create_change_set(
    self: CloudFormationBackend,
    stack_name: str,
    change_set_name: str,
    template: str,
    parameters: dict[str, Any],
    *args: Any,
    **kwargs: Any,
) -> tuple[str, str]:
    existing = [s for s in self.stacks.values() if s.name == stack_name and s.status != "DELETE_COMPLETE"]
    if existing and existing[0].status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED"):
        raise ValidationError(
            message=f"Stack:{existing[0].stack_id} is in {existing[0].status} state and can not be updated."
        )
    parameters = {k: parameter_text(v) for k, v in parameters.items()}
    check_rules(_original_parse_template(template) if isinstance(template, str) else template, parameters)
    return _original_create_change_set(self, stack_name, change_set_name, template, parameters, *args, **kwargs)


_original_create_change_set = CloudFormationBackend.create_change_set


def install() -> None:
    Stack._parse_template = _stack_parse_template  # type: ignore[method-assign]
    Stack.parse_template = staticmethod(parse)  # type: ignore[method-assign,assignment]
    ChangeSet._parse_template = _change_set_parse_template  # type: ignore[method-assign]
    Stack.get_cfn_attribute = _nested_stack_attribute  # type: ignore[attr-defined]
    Stack.update_from_cloudformation_json = classmethod(_update_nested_stack)  # type: ignore[method-assign,assignment]
    CloudFormationBackend.execute_change_set = _execute_change_set  # type: ignore[method-assign]
    CloudFormationBackend.create_stack = _create_stack  # type: ignore[method-assign]
    Stack.create_resources = _create_resources  # type: ignore[method-assign]
    CloudFormationBackend.create_change_set = _create_change_set  # type: ignore[method-assign]
    ChangeSet.diff = change_set_diff  # type: ignore[method-assign]
    parsing.ResourceMap.build_resource_diff = build_resource_diff  # type: ignore[method-assign]
    Stack.stack_resources = property(_stack_resources)  # type: ignore[method-assign,assignment]
    responses.StackResourceDTO.__init__ = _resource_dto_init  # type: ignore[method-assign]
    responses.CloudFormationResponse.list_stack_resources = _list_stack_resources  # type: ignore[method-assign]
    Stack.has_parameters = has_same_parameters  # type: ignore[method-assign]
    Stack.parameter_list = property(parameter_list)  # type: ignore[method-assign,assignment]
    parsing.parse_and_create_resource = _create_resource
    parsing.parse_and_update_resource = _update_resource
    parsing.resource_class_from_type = _class_from_type
    parsing.clean_json = _clean_json
    utils.get_stack_from_s3_url = _read_template_url
    cfn_models.get_stack_from_s3_url = _read_template_url  # type: ignore[attr-defined]
    responses.get_stack_from_s3_url = _read_template_url  # type: ignore[attr-defined]


def reset() -> None:
    declared_metadata.clear()

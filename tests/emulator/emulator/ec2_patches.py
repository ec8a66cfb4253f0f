"""Launch template behaviour moto 5.2 gets wrong or lacks, patched onto moto's own classes.

- CreateLaunchTemplateVersion ignores SourceVersion (the new version loses the AMI, instance
  type, user data...) and ClientToken. AWS copies the source version and overrides the keys
  given; a repeated ClientToken returns the version it created.
- DeleteLaunchTemplateVersions is missing; version numbers are list positions, so a deleted
  version would shift every later number. AWS never reuses or shifts version numbers.
- DescribeLaunchTemplateVersions returns at most MaxResults (default 15) without a NextToken.

A ClientToken is remembered with the request it came with: the same token with a different
request answers `IdempotentParameterMismatch`, as EC2 does (Ensuring idempotency, EC2 API
reference), rather than quietly returning the first version.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError, InvalidLaunchTemplateVersionNotFound
from moto.ec2.models.launch_templates import LaunchTemplate, LaunchTemplateVersion
from moto.ec2.responses.launch_templates import LaunchTemplates

# ClientToken → (template id, version number, the request it came with).
_client_tokens: dict[str, tuple[str, int, str]] = {}


def reset() -> None:
    _client_tokens.clear()


def _create_version(self: LaunchTemplate, data: dict[str, Any], description: str) -> LaunchTemplateVersion:
    number = max((v.number for v in self.versions), default=0) + 1
    version = LaunchTemplateVersion(self, number, data, description)
    self.versions.append(version)
    return version


def _get_version(self: LaunchTemplate, num: Any) -> LaunchTemplateVersion:
    if str(num).lower() == "$latest":
        return self.versions[-1]
    if str(num).lower() == "$default":
        return self.default_version()
    for version in self.versions:
        if str(version.number) == str(num):
            return version
    raise InvalidLaunchTemplateVersionNotFound(template_id=self.id, version=num)


def _default_version(self: LaunchTemplate) -> LaunchTemplateVersion:
    return _get_version(self, self.default_version_number)


def _template(response: LaunchTemplates) -> LaunchTemplate:
    template_id = response._get_param("LaunchTemplateId")
    if template_id:
        return response.ec2_backend.get_launch_template(template_id)
    return response.ec2_backend.get_launch_template_by_name(response._get_param("LaunchTemplateName"))


def _version_result(
    response: LaunchTemplates, template: LaunchTemplate, version: LaunchTemplateVersion
) -> dict[str, Any]:
    return {
        "CreateTime": version.create_time,
        "CreatedBy": f"arn:{response.partition}:iam::{response.current_account}:root",
        "DefaultVersion": template.is_default(version),
        "LaunchTemplateData": version.data,
        "LaunchTemplateId": template.id,
        "LaunchTemplateName": template.name,
        "VersionDescription": version.description,
        "VersionNumber": version.number,
    }


def create_launch_template_version(self: LaunchTemplates) -> ActionResult:
    template = _template(self)
    token = self._get_param("ClientToken")
    self.error_on_dryrun()
    data = self._get_param("LaunchTemplateData", {})
    source = self._get_param("SourceVersion")
    request = json.dumps(
        {"template": template.id, "data": data, "source": source, "description": self._get_param("VersionDescription")},
        sort_keys=True,
        default=str,
    )
    if token and token in _client_tokens:
        template_id, number, first_request = _client_tokens[token]
        if first_request != request:
            raise EC2ClientError(
                "IdempotentParameterMismatch", f"The client token {token} was used for a different request."
            )
        version = template.get_version(number)
        return ActionResult({"LaunchTemplateVersion": _version_result(self, template, version)})
    if source:
        merged = copy.deepcopy(template.get_version(source).data)
        merged.update(data)
        data = merged
    version = template.create_version(data, self._get_param("VersionDescription"))
    if token:
        _client_tokens[token] = (template.id, version.number, request)
    return ActionResult({"LaunchTemplateVersion": _version_result(self, template, version)})


def delete_launch_template_versions(self: LaunchTemplates) -> ActionResult:
    template = _template(self)
    self.error_on_dryrun()
    deleted, failed = [], []
    for raw in self._get_param("LaunchTemplateVersions", []) or self._get_param("Versions", []):
        entry = {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name}
        match = [v for v in template.versions if str(v.number) == str(raw)]
        if not match:
            failed.append(
                {
                    **entry,
                    "VersionNumber": int(raw) if str(raw).isdigit() else 0,
                    "ResponseError": {
                        "Code": "launchTemplateVersionDoesNotExist",
                        "Message": f"The specified launch template version, {raw}, does not exist.",
                    },
                }
            )
        elif template.is_default(match[0]):
            # Inferred code: AWS documents that the default version cannot be deleted.
            failed.append(
                {
                    **entry,
                    "VersionNumber": match[0].number,
                    "ResponseError": {
                        "Code": "unexpectedError",
                        "Message": "Cannot delete the default version of a launch template.",
                    },
                }
            )
        else:
            template.versions.remove(match[0])
            deleted.append({**entry, "VersionNumber": match[0].number})
    return ActionResult(
        {
            "SuccessfullyDeletedLaunchTemplateVersions": deleted,
            "UnsuccessfullyDeletedLaunchTemplateVersions": failed,
        }
    )


def describe_launch_template_versions(self: LaunchTemplates) -> ActionResult:
    versions = self._get_param("Versions", [])
    template_id = self._get_param("LaunchTemplateId")
    name = self._get_param("LaunchTemplateName")
    if versions or not (template_id or name) or self._get_param("MinVersion") or self._get_param("MaxVersion"):
        return _original_describe(self)
    template = _template(self)
    self.error_on_dryrun()
    max_results = self._get_int_param("MaxResults", 15)
    start = int(self._get_param("NextToken") or 0)
    page = template.versions[start : start + max_results]
    result: dict[str, Any] = {"LaunchTemplateVersions": [_version_result(self, template, v) for v in page]}
    if start + max_results < len(template.versions):
        result["NextToken"] = str(start + max_results)
    return ActionResult(result)


_original_describe = LaunchTemplates.describe_launch_template_versions


def install() -> None:
    LaunchTemplate.create_version = _create_version
    LaunchTemplate.get_version = _get_version
    LaunchTemplate.default_version = _default_version
    LaunchTemplates.create_launch_template_version = create_launch_template_version
    LaunchTemplates.delete_launch_template_versions = delete_launch_template_versions
    LaunchTemplates.describe_launch_template_versions = describe_launch_template_versions

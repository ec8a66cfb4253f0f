"""Bucket policies with their conditions.

moto evaluates a bucket policy's statements without their Condition blocks, so the statement
every hardened bucket carries ("Deny s3:* when aws:SecureTransport is false") denies every
request, and `sam deploy` cannot upload to its own managed bucket. Here a statement applies only
when its conditions hold for the request's context, as IAM evaluates them: the emulator is
served over plain HTTP on the loopback, but stands for endpoints the SDKs reach over TLS, so
`aws:SecureTransport` is "true"; a key the context does not hold makes the condition false, except
under a negated operator or `...IfExists`, where it is true (IAM's rule for missing keys).
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.s3.models import FakeBucket

REQUEST_CONTEXT = {"aws:securetransport": "true"}


def _values(raw: Any) -> list[str]:
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in (raw if isinstance(raw, list) else [raw])]


def condition_holds(operator: str, key: str, expected: Any, context: dict[str, str] = REQUEST_CONTEXT) -> bool:
    base = operator.removesuffix("IfExists")
    actual = context.get(key.lower())
    if actual is None:
        return operator.endswith("IfExists") or "Not" in base or base == "Null" and _values(expected) == ["true"]
    wanted = _values(expected)
    if base == "Null":
        return wanted == ["false"]
    if base == "Bool":
        return actual.lower() in [w.lower() for w in wanted]
    if base in ("StringEquals", "ArnEquals"):
        return actual in wanted
    if base in ("StringNotEquals", "ArnNotEquals"):
        return actual not in wanted
    if base in ("StringLike", "ArnLike"):
        return any(fnmatch.fnmatchcase(actual, w) for w in wanted)
    if base in ("StringNotLike", "ArnNotLike"):
        return not any(fnmatch.fnmatchcase(actual, w) for w in wanted)
    return False  # an operator this context cannot satisfy


def statement_applies(statement: dict[str, Any]) -> bool:
    return all(
        condition_holds(operator, key, expected)
        for operator, pairs in (statement.get("Condition") or {}).items()
        for key, expected in pairs.items()
    )


def _get_permission(self: FakeBucket, action: str, resource: str) -> Any:
    if self.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(self.policy.decode())
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    kept = [{k: v for k, v in s.items() if k != "Condition"} for s in statements if statement_applies(s)]
    return IAMPolicy(json.dumps({**document, "Statement": kept})).is_action_permitted(action, resource)


def install() -> None:
    FakeBucket.get_permission = _get_permission  # type: ignore[method-assign]

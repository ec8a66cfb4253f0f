"""Wire formats: awsQuery (Auto Scaling, SNS, EC2) and awsJson1.1 (CodePipeline)."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

AUTOSCALING_NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"


class AwsError(Exception):
    """An error AWS would answer with: HTTP status, code, message."""

    def __init__(self, code: str, message: str, status: int = 400, sender: bool = True):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.sender = sender


def validation(message: str) -> AwsError:
    return AwsError("ValidationError", message)


# ---- request parsing ----


def signing_scope(headers: dict[str, str]) -> tuple[str | None, str | None]:
    """(service, region) from a SigV4 Authorization header."""
    auth = headers.get("authorization", "")
    match = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request", auth)
    if not match:
        return None, None
    return match.group(2), match.group(1)


def query_params(body: bytes, query_string: str = "") -> dict[str, str]:
    params = dict(parse_qsl(query_string, keep_blank_values=True))
    params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def nested(params: dict[str, str]) -> dict[str, Any]:
    """Turns awsQuery keys (``A.B.member.2.C``) into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in params.items():
        parts = key.split(".")
        node: Any = root
        i = 0
        while i < len(parts):
            part = parts[i]
            last = i == len(parts) - 1
            if part == "member" and isinstance(node, list):
                i += 1  # the index that follows addresses the list itself
                continue
            nxt_is_member = i + 1 < len(parts) and parts[i + 1] == "member"
            if isinstance(node, list):
                index = int(part) - 1
                while len(node) <= index:
                    node.append({})
                if last:
                    node[index] = value
                else:
                    node = node[index]
                i += 1
                continue
            if last:
                node[part] = value
            elif nxt_is_member:
                node = node.setdefault(part, [])
            else:
                node = node.setdefault(part, {})
            i += 1
    return root


# ---- responses ----


def request_id() -> str:
    return str(uuid.uuid4())


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _xml(value: Any) -> str:
    if isinstance(value, dict):
        return "".join(f"<{k}>{_xml(v)}</{k}>" for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return "".join(f"<member>{_xml(v)}</member>" for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def query_response(action: str, result: dict[str, Any] | None) -> tuple[int, dict[str, str], bytes]:
    inner = f"<{action}Result>{_xml(result)}</{action}Result>" if result is not None else ""
    body = (
        f'<{action}Response xmlns="{AUTOSCALING_NS}">{inner}'
        f"<ResponseMetadata><RequestId>{request_id()}</RequestId></ResponseMetadata></{action}Response>"
    )
    return 200, {"Content-Type": "text/xml"}, body.encode()


def query_error(err: AwsError, namespace: str = AUTOSCALING_NS) -> tuple[int, dict[str, str], bytes]:
    kind = "Sender" if err.sender else "Receiver"
    body = (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>{kind}</Type><Code>{escape(err.code)}</Code>'
        f"<Message>{escape(err.message)}</Message></Error><RequestId>{request_id()}</RequestId></ErrorResponse>"
    )
    return err.status, {"Content-Type": "text/xml"}, body.encode()


def ec2_error(err: AwsError) -> tuple[int, dict[str, str], bytes]:
    body = (
        f"<Response><Errors><Error><Code>{escape(err.code)}</Code><Message>{escape(err.message)}</Message>"
        f"</Error></Errors><RequestID>{request_id()}</RequestID></Response>"
    )
    return err.status, {"Content-Type": "text/xml"}, body.encode()


def json_response(payload: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return (
        200,
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id()},
        json.dumps(payload).encode(),
    )


def json_error(err: AwsError) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"__type": err.code, "message": err.message}).encode()
    return err.status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id()}, body

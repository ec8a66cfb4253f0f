"""CloudWatch over Smithy RPC v2 CBOR, in front of moto 5.2.5 (which answers such requests 404).

`aws-sdk-cloudwatch` >= 1.100 speaks only RPC v2 CBOR (AWS-FACTS "CloudWatch", line 55):
`POST /service/GraniteServiceVersion20100801/operation/<Operation>` with `smithy-protocol: rpc-v2-cbor`,
`Content-Type: application/cbor`, `Accept: application/cbor`, `x-amzn-query-mode: true` and a CBOR body.

The wire format is the Smithy spec's (smithy-lang/smithy, docs/source-2.0/additional-specs/protocols/
smithy-rpc-v2-cbor.rst, "Smithy RPC v2 CBOR protocol"):
- a request is claimed by its path `{prefix?}/service/{serviceName}/operation/{operationName}` (only the last
  four segments count; the service may also be named by its absolute shape ID with `#` as `.`);
- each shape maps to one CBOR type: blob → byte string, boolean → simple, integer/long → major type 0/1,
  float/double → major type 7 float, string → text, list → array, map and structure → map, timestamp →
  tag 1 (epoch seconds, integer or float); null members are omitted;
- a response is 200 with `Smithy-Protocol: rpc-v2-cbor` and `Content-Type: application/cbor`; an operation
  whose output is Unit has no body and no Content-Type;
- an error is a CBOR map with `__type`, the error's absolute shape ID, plus the error structure's members
  (`message`); its status is the shape's httpError, else 400 for client errors and 500 for server errors.
  CloudWatch carries `awsQueryCompatible` (botocore metadata), so the awsQuery code is also sent as
  `x-amzn-query-error: <Code>;Sender|Receiver` (Smithy protocol test QueryCompatibleRpcV2CborCustomCodeError);
  clients (botocore, smithy-rs `parse_aws_query_compatible_error`, AWS SDK for JS) take the code from it.

Every type comes from botocore's CloudWatch model. A CBOR request is turned into the awsJson 1.0 request moto
serves (timestamps as epoch seconds, blobs as base64), and moto's JSON answer back into CBOR by walking the
output shape; so every operation moto implements works. What moto does not do as AWS is done here, for the
CBOR and the awsJson (boto3) front alike:
- DescribeAlarms: moto applies one filter of AlarmNames / AlarmNamePrefix / StateValue / ActionPrefix and ignores
  the rest, returns composite alarms unasked, and has no MaxRecords/NextToken. Here all filters combine
  (API_DescribeAlarms), AlarmTypes defaults to metric alarms only, alarms come sorted by name, and pages are
  MaxRecords long (1–100, default 50) with a NextToken.
- DescribeAlarmHistory: not in moto; recorded here on PutMetricAlarm (ConfigurationUpdate) and SetAlarmState
  (StateUpdate), whatever protocol set them.
- SetAlarmState and PutMetricAlarm stamp StateUpdatedTimestamp / AlarmConfigurationUpdatedTimestamp with the
  emulator's clock (moto: the wall clock), so a test that moved the clock sees the time it moved to.
- SetAlarmState validates StateValue before looking the alarm up, as AWS validates input first (moto looks up
  first and answers ResourceNotFound for a bad state of a missing alarm).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import io
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import botocore.session
import cbor2
from botocore.model import OperationModel, OperationNotFoundError, ServiceModel, Shape
from moto.cloudwatch.models import cloudwatch_backends

from .protocol import AwsError, request_id

if TYPE_CHECKING:
    from .world import World

Response = tuple[int, dict[str, str], bytes]
MotoCall = Callable[[dict[str, Any]], Response]

# The service shape's name (botocore `targetPrefix`), as in the RPC v2 path and the awsJson X-Amz-Target.
SERVICE_NAME = "GraniteServiceVersion20100801"
# The Smithy namespace of CloudWatch's shapes, e.g. `com.amazonaws.cloudwatch#ResourceNotFound`.
NAMESPACE = "com.amazonaws.cloudwatch"
SIGNING_NAME = "monitoring"
CBOR = "application/cbor"
JSON_10 = "application/x-amz-json-1.0"
ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
DEFAULT_MAX_RECORDS = 50
MAX_RECORDS = 100
MAX_ALARM_NAMES = 100
# Operations answered here for the awsJson front too (the rest go to moto unchanged).
OWN_OPERATIONS = ("DescribeAlarms", "DescribeAlarmHistory", "SetAlarmState", "PutMetricAlarm", "PutCompositeAlarm")
_RULE_ALARM = re.compile(r"""\b(?:ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*["']?([^"')]+?)["']?\s*\)""")


@functools.cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("cloudwatch")


def rpc_operation(path: str, method: str = "POST") -> str | None:
    """The operation of an RPC v2 CBOR request to CloudWatch, from its path, or None."""
    parts = path.rstrip("/").split("/")
    if method != "POST" or len(parts) < 5 or parts[-4] != "service" or parts[-2] != "operation":
        return None
    if parts[-3] not in (SERVICE_NAME, f"{NAMESPACE}.{SERVICE_NAME}"):
        return None
    return parts[-1]


def operation_model(operation: str) -> OperationModel:
    try:
        return service_model().operation_model(operation)
    except OperationNotFoundError:
        # Inferred: the awsJson answer of AWS's front end for an operation it does not know.
        raise AwsError("UnknownOperationException", f"Unknown operation {operation}", 400) from None


# ---------- values: CBOR ⇄ the awsJson document moto reads and writes ----------


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    if isinstance(value, cbor2.CBORTag):
        return float(value.value)
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return float(value)


def to_json(value: Any, shape: Shape | None) -> Any:
    """A decoded CBOR value as awsJson carries it: timestamps as epoch seconds, blobs as base64."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        return {k: to_json(v, members[k]) for k, v in value.items() if k in members and v is not None}
    if kind == "list":
        return [to_json(v, shape.member) for v in value]
    if kind == "map":
        return {str(k): to_json(v, shape.value) for k, v in value.items() if v is not None}
    if kind == "timestamp":
        return _epoch(value)
    if kind == "blob":
        return base64.b64encode(value if isinstance(value, bytes) else str(value).encode()).decode()
    return value


def to_cbor(value: Any, shape: Shape) -> Any:
    """A JSON-shaped value as RPC v2 CBOR types it (see the module docstring): None members dropped."""
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        return {k: to_cbor(v, members[k]) for k, v in value.items() if k in members and v is not None}
    if kind == "list":
        return [to_cbor(v, shape.member) for v in value if v is not None]
    if kind == "map":
        return {str(k): to_cbor(v, shape.value) for k, v in value.items() if v is not None}
    if kind == "timestamp":
        # Tag 1 around a float: smithy-rs reads the tagged value with `f64()` (aws-smithy-cbor decode.rs),
        # which refuses an integer.
        return cbor2.CBORTag(1, float(_epoch(value)))
    if kind in ("float", "double"):
        return float(value)  # a CBOR float even when whole (smithy-rs reads doubles with `f64()` too)
    if kind in ("integer", "long", "short", "byte"):
        return int(value)
    if kind == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if kind == "blob":
        if isinstance(value, bytes):
            return value
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return str(value).encode()
    return str(value)


def decode_request(body: bytes, op: OperationModel) -> dict[str, Any]:
    if not body:
        return {}
    try:
        value = cbor2.loads(body)
    except Exception as exc:  # cbor2 raises several kinds
        raise AwsError("SerializationException", f"The request body is not valid CBOR: {exc}", 400) from None
    if not isinstance(value, dict):
        raise AwsError("SerializationException", "The request body is not a CBOR map", 400)
    return to_json(value, op.input_shape) if op.input_shape is not None else {}


# ---------- answers ----------


def error_shape(code: str, operation: str | None) -> Shape | None:
    """The modeled error with this awsQuery code: the operation's own first, then the service's."""
    model = service_model()
    candidates: list[Shape] = []
    if operation:
        try:
            candidates = list(model.operation_model(operation).error_shapes)
        except OperationNotFoundError:
            pass
    for shape in candidates:
        if (shape.metadata.get("error") or {}).get("code", shape.name) == code:
            return shape
    for shape in model.error_shapes:
        if shape.name == code:
            return shape
    for shape in model.error_shapes:
        if (shape.metadata.get("error") or {}).get("code") == code:
            return shape
    return None


def error_document(err: AwsError, operation: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The error body (`__type` and the message member) and the awsQueryCompatible header."""
    shape = error_shape(err.code, operation)
    # Inferred for codes CloudWatch does not model (Throttling, InternalFailure, ...): the same namespace.
    document: dict[str, Any] = {"__type": f"{NAMESPACE}#{shape.name if shape else err.code}"}
    members = shape.members if shape else {}
    document["Message" if "Message" in members and "message" not in members else "message"] = err.message
    headers = {
        "x-amzn-query-error": f"{err.code};{'Sender' if err.sender else 'Receiver'}",
        "x-amzn-RequestId": request_id(),
    }
    return document, headers


def cbor_error(err: AwsError, operation: str | None = None) -> Response:
    document, headers = error_document(err, operation)
    body = cbor2.dumps(document)
    headers.update({"smithy-protocol": "rpc-v2-cbor", "Content-Type": CBOR, "Content-Length": str(len(body))})
    return err.status, headers, body


def json_error(err: AwsError, operation: str | None = None) -> Response:
    document, headers = error_document(err, operation)
    headers["Content-Type"] = JSON_10
    return err.status, headers, json.dumps(document).encode()


def cbor_response(op: OperationModel, result: dict[str, Any] | None) -> Response:
    headers = {"smithy-protocol": "rpc-v2-cbor", "x-amzn-RequestId": request_id()}
    if op.output_shape is None:
        headers["Content-Length"] = "0"
        return 200, headers, b""  # Unit output: no body, no Content-Type
    body = cbor2.dumps(to_cbor(result or {}, op.output_shape))
    headers.update({"Content-Type": CBOR, "Content-Length": str(len(body))})
    return 200, headers, body


def json_response(result: dict[str, Any] | None) -> Response:
    return 200, {"Content-Type": JSON_10, "x-amzn-RequestId": request_id()}, json.dumps(result or {}).encode()


def moto_error(operation: str, status: int, headers: dict[str, str], payload: bytes) -> AwsError:
    """moto's awsJson error (or its HTML 500 for what it lacks) as an AwsError."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        body = json.loads(payload)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return AwsError("InternalFailure", f"moto 5.2.5 cannot answer {operation} (HTTP {status})", 500, sender=False)
    code = str(body.get("__type", "InternalFailure")).rsplit("#", 1)[-1]
    sender = status < 500
    query = lowered.get("x-amzn-query-error", "")
    if ";" in query:
        code, kind = query.split(";", 1)
        sender = kind != "Receiver"
    return AwsError(code, str(body.get("message") or body.get("Message") or ""), status, sender=sender)


def _clock_datetime(now: float) -> dt.datetime:
    # moto keeps naive UTC datetimes (moto.core.utils.utcnow).
    return dt.datetime.fromtimestamp(now, dt.UTC).replace(tzinfo=None)


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": name}).encode()).decode()


def _after(token: str | None) -> Any:
    if not token:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        # Inferred text; the code is the one DescribeAlarms models.
        raise AwsError("InvalidNextToken", "The NextToken is invalid.") from None


def _page(
    items: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any], params: dict[str, Any]
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `items` (sorted by `key`) after NextToken, MaxRecords long, and the next token."""
    max_records = params.get("MaxRecords", DEFAULT_MAX_RECORDS)
    if not isinstance(max_records, int) or not 1 <= max_records <= MAX_RECORDS:
        raise AwsError(
            "ValidationError",
            f"1 validation error detected: Value '{max_records}' at 'maxRecords' failed to satisfy constraint: "
            f"Member must have value between 1 and {MAX_RECORDS}",
        )
    after = _after(params.get("NextToken"))
    if isinstance(after, list):
        after = tuple(after)
    if after is not None:
        try:
            items = [i for i in items if key(i) > after]
        except TypeError:
            raise AwsError("InvalidNextToken", "The NextToken is invalid.") from None
    page, rest = items[:max_records], items[max_records:]
    return page, (_token(key(page[-1])) if rest else None)


class CloudWatch:
    """CloudWatch behaviour moto lacks, behind the CBOR and awsJson fronts."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.history: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def reset(self) -> None:
        self.history.clear()

    # ---- fronts ----

    def answer_cbor(
        self, operation: str, body: bytes, account: str, region: str, environ: dict[str, Any], call_moto: MotoCall
    ) -> Response:
        try:
            op = operation_model(operation)
            params = decode_request(body, op)
            result = self.call(operation, params, account, region, environ, call_moto)
        except AwsError as err:
            return cbor_error(err, operation)
        return cbor_response(op, result)

    def answer_json(
        self,
        operation: str,
        params: dict[str, Any],
        account: str,
        region: str,
        environ: dict[str, Any],
        call_moto: MotoCall,
    ) -> Response:
        try:
            return json_response(self.call(operation, params, account, region, environ, call_moto))
        except AwsError as err:
            return json_error(err, operation)

    # ---- operations ----

    def call(
        self,
        operation: str,
        params: dict[str, Any],
        account: str,
        region: str,
        environ: dict[str, Any],
        call_moto: MotoCall,
    ) -> dict[str, Any] | None:
        def moto(op: str, body: dict[str, Any]) -> dict[str, Any]:
            status, headers, payload = call_moto(self.json_environ(environ, op, body, region))
            if status != 200:
                raise moto_error(op, status, headers, payload)
            return json.loads(payload) if payload.strip() else {}

        if operation == "DescribeAlarms":
            return self.describe_alarms(params, moto)
        if operation == "DescribeAlarmHistory":
            return self.describe_alarm_history(params, account, region)
        if operation == "SetAlarmState" and params.get("StateValue") not in ALARM_STATES:
            # The enum is checked before the alarm is looked up (moto: the other way round).
            raise AwsError(
                "ValidationError",
                "1 validation error detected: "
                f"Value '{params.get('StateValue')}' at 'stateValue' failed to satisfy constraint: "
                "Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]",
            )
        result: dict[str, Any] = {}

        def run() -> Response:
            nonlocal result
            result = moto(operation, params)
            return 200, {}, b""

        self.observe(operation, params, account, region, run)
        return result

    def observe(
        self, operation: str, params: dict[str, Any], account: str, region: str, run: Callable[[], Response]
    ) -> Response:
        """Runs a moto call; after a successful PutMetricAlarm or SetAlarmState, stamps the alarm with the
        emulator's clock and records its history. Used by every front (CBOR, awsJson, awsQuery)."""
        if operation not in ("PutMetricAlarm", "PutCompositeAlarm", "SetAlarmState"):
            return run()
        backend = cloudwatch_backends[account][region]
        name = params.get("AlarmName")
        before = backend.alarms.get(name)
        old = (before.state_value, before.state_reason) if before is not None else None
        response = run()
        alarm = backend.alarms.get(name)
        if response[0] != 200 or alarm is None:
            return response
        now = self.world.clock.now()
        stamp = _clock_datetime(now)
        alarm_type = "CompositeAlarm" if alarm.rule is not None else "MetricAlarm"
        record = {"AlarmName": name, "AlarmType": alarm_type, "Timestamp": now}
        if operation == "SetAlarmState":
            alarm.state_updated_timestamp = stamp
            old_state, old_reason = old or ("INSUFFICIENT_DATA", "")
            new_state: dict[str, Any] = {"stateValue": alarm.state_value, "stateReason": alarm.state_reason}
            if alarm.state_reason_data:
                try:
                    new_state["stateReasonData"] = json.loads(alarm.state_reason_data)
                except ValueError:
                    pass
            record.update(
                HistoryItemType="StateUpdate",
                HistorySummary=f"Alarm updated from {old_state} to {alarm.state_value}",
                HistoryData=json.dumps(
                    {
                        "version": "1.0",
                        "oldState": {"stateValue": old_state, "stateReason": old_reason},
                        "newState": new_state,
                    }
                ),
            )
        else:
            alarm.configuration_updated_timestamp = stamp
            if before is None:
                # API_PutMetricAlarm: "When this operation creates an alarm, the alarm state is immediately set
                # to INSUFFICIENT_DATA" (moto: OK). Nothing evaluates metrics here, so it stays so until set.
                alarm.state_value = "INSUFFICIENT_DATA"
                alarm.state_updated_timestamp = stamp
            elif alarm is not before:
                # "When you update an existing alarm, its state is left unchanged" (moto makes a new alarm in OK).
                for kept in ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp", "history"):
                    setattr(alarm, kept, getattr(before, kept))
            verb = "created" if before is None else "updated"
            record.update(
                HistoryItemType="ConfigurationUpdate",
                HistorySummary=f'Alarm "{name}" {verb}',
                HistoryData=json.dumps({"type": "Create" if before is None else "Update", "version": "1.0"}),
            )
        self.history.setdefault((account, region), []).append(record)
        return response

    def describe_alarms(self, params: dict[str, Any], moto: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        names = params.get("AlarmNames") or []
        prefix = params.get("AlarmNamePrefix")
        if len(names) > MAX_ALARM_NAMES:
            raise AwsError(
                "ValidationError",
                "1 validation error detected: Value at 'alarmNames' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_ALARM_NAMES}",
            )
        if names and prefix:
            # API_DescribeAlarms: "If this parameter is specified, you cannot specify AlarmNames." (code inferred)
            raise AwsError(
                "InvalidParameterCombination", "AlarmNamePrefix and AlarmNames cannot be specified together."
            )
        everything = moto("DescribeAlarms", {})
        metric = [dict(a, _type="MetricAlarm") for a in everything.get("MetricAlarms") or []]
        composite = [dict(a, _type="CompositeAlarm") for a in everything.get("CompositeAlarms") or []]
        alarms = sorted(metric + composite, key=lambda a: a["AlarmName"])
        by_name = {a["AlarmName"]: a for a in alarms}
        types = params.get("AlarmTypes") or ["MetricAlarm"]
        children = params.get("ChildrenOfAlarmName")
        parents = params.get("ParentsOfAlarmName")
        state = params.get("StateValue")
        action = params.get("ActionPrefix")

        def wanted(a: dict[str, Any]) -> bool:
            if a["_type"] not in types:
                return False
            if names and a["AlarmName"] not in names:
                return False
            if prefix and not a["AlarmName"].startswith(prefix):
                return False
            if state and a.get("StateValue") != state:
                return False
            if action and not any(str(x).startswith(action) for x in a.get("AlarmActions") or []):
                return False
            if children is not None:
                parent = by_name.get(children)
                rule = (parent or {}).get("AlarmRule") or ""
                if a["AlarmName"] not in _RULE_ALARM.findall(rule):
                    return False
            if parents is not None and (
                a["_type"] != "CompositeAlarm" or parents not in _RULE_ALARM.findall(a.get("AlarmRule") or "")
            ):
                return False
            return True

        page, token = _page([a for a in alarms if wanted(a)], lambda a: a["AlarmName"], params)
        result: dict[str, Any] = {
            "MetricAlarms": [{k: v for k, v in a.items() if k != "_type"} for a in page if a["_type"] == "MetricAlarm"],
            "CompositeAlarms": [
                {k: v for k, v in a.items() if k != "_type"} for a in page if a["_type"] == "CompositeAlarm"
            ],
        }
        if token:
            result["NextToken"] = token
        return result

    def describe_alarm_history(self, params: dict[str, Any], account: str, region: str) -> dict[str, Any]:
        items = list(self.history.get((account, region), []))
        name = params.get("AlarmName")
        types = params.get("AlarmTypes") or ["MetricAlarm"]
        kind = params.get("HistoryItemType")
        start, end = params.get("StartDate"), params.get("EndDate")
        items = [
            i
            for i in items
            if (name is None or i["AlarmName"] == name)
            and i["AlarmType"] in types
            and (kind is None or i["HistoryItemType"] == kind)
            and (start is None or i["Timestamp"] >= float(start))
            and (end is None or i["Timestamp"] <= float(end))
        ]
        ascending = params.get("ScanBy") == "TimestampAscending"
        # A recorded item's place in the list breaks ties between equal timestamps.
        indexed = [dict(i, _n=n) for n, i in enumerate(items)]
        indexed.sort(key=lambda i: (i["Timestamp"], i["_n"]), reverse=not ascending)
        sign = 1 if ascending else -1
        page, token = _page(indexed, lambda i: (sign * i["Timestamp"], sign * i["_n"]), params)
        result: dict[str, Any] = {"AlarmHistoryItems": [{k: v for k, v in i.items() if k != "_n"} for i in page]}
        if token:
            result["NextToken"] = token
        return result

    # ---- moto ----

    @staticmethod
    def json_environ(environ: dict[str, Any], operation: str, params: dict[str, Any], region: str) -> dict[str, Any]:
        """The awsJson 1.0 request moto serves for CloudWatch, carrying `params`."""
        body = json.dumps(params).encode()
        env = {k: v for k, v in environ.items() if k not in ("HTTP_SMITHY_PROTOCOL", "HTTP_ACCEPT")}
        env.update(
            {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": "/",
                "RAW_URI": "/",
                "REQUEST_URI": "/",
                "QUERY_STRING": "",
                "CONTENT_TYPE": JSON_10,
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_X_AMZ_TARGET": f"{SERVICE_NAME}.{operation}",
                "HTTP_X_AMZN_QUERY_MODE": "true",
                "wsgi.input": io.BytesIO(body),
            }
        )
        if "monitoring/aws4_request" not in env.get("HTTP_AUTHORIZATION", ""):
            # moto routes by the SigV4 scope; an unsigned request still means CloudWatch.
            env["HTTP_AUTHORIZATION"] = (
                f"AWS4-HMAC-SHA256 Credential=AKIDEMULATOR/20200101/{region}/{SIGNING_NAME}/aws4_request, "
                "SignedHeaders=host, Signature=0"
            )
        return env

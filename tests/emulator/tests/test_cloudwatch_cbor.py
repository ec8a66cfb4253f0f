"""CloudWatch over Smithy RPC v2 CBOR, the only protocol of aws-sdk-cloudwatch >= 1.100.

Sources: /work/shared/AWS-FACTS.md "CloudWatch" (line 55: path, headers and CBOR body of the Rust SDK; line 56:
DescribeAlarms), the Smithy RPC v2 CBOR specification (smithy-lang/smithy,
docs/source-2.0/additional-specs/protocols/smithy-rpc-v2-cbor.rst: request identification, shape serialization,
timestamps as tag 1, "Operation error serialization": `__type` is the error's absolute shape ID), the Smithy
protocol test QueryCompatibleRpcV2CborCustomCodeError (`x-amzn-query-error: <Code>;Sender` for
awsQueryCompatible services), botocore's CloudWatch model (types, error shapes, `awsQueryCompatible`), and
API_PutMetricAlarm / API_DescribeAlarms.

The raw requests are built as the Rust SDK sends them; botocore's own RPC v2 CBOR client (which boto3 would pick
if CBOR came first in its protocol order, as it does in the AWS CLI v2) checks the same answers with a real
client, and boto3's default awsJson client checks that both fronts see one CloudWatch.
"""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.request
from typing import Any

import boto3
import botocore.model
import cbor2
import pytest
from botocore.config import Config
from test_instance_refresh import error_of

PATH = "/service/GraniteServiceVersion20100801/operation/"
# A SigV4 header as the Rust SDK signs it: scope <date>/<region>/monitoring/aws4_request.
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/monitoring/aws4_request, "
    "SignedHeaders=accept;content-length;content-type;host;smithy-protocol;x-amz-date;x-amzn-query-mode, "
    "Signature=" + "0" * 64
)
NS = "com.amazonaws.cloudwatch"


@pytest.fixture(autouse=True)
def fresh(control):
    """Every test starts from a reset emulator (the control fixture resets it)."""


def rpc(endpoint: str, operation: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, str], Any, bytes]:
    """One RPC v2 CBOR call as aws-sdk-cloudwatch makes it: (status, headers, decoded body, raw body)."""
    data = cbor2.dumps(body) if body is not None else b""
    headers = {
        "smithy-protocol": "rpc-v2-cbor",
        "Accept": "application/cbor",
        "x-amzn-query-mode": "true",
        "X-Amz-Date": "20261126T120000Z",
        "Authorization": AUTHORIZATION,
    }
    if body is not None:
        headers["Content-Type"] = "application/cbor"
    request = urllib.request.Request(f"{endpoint}{PATH}{operation}", data=data, method="POST", headers=headers)
    try:
        response = urllib.request.urlopen(request)
    except urllib.error.HTTPError as err:
        response = err
    with response:
        raw = response.read()
        answer_headers = {k.lower(): v for k, v in response.headers.items()}
        return response.status, answer_headers, (cbor2.loads(raw) if raw else None), raw


def ok(endpoint: str, operation: str, body: dict[str, Any] | None = None) -> Any:
    status, headers, decoded, _ = rpc(endpoint, operation, body)
    assert status == 200, decoded
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    return decoded


def put_alarm(endpoint: str, name: str, **extra: Any) -> None:
    body = {
        "AlarmName": name,
        "MetricName": "HTTPCode_Target_5XX_Count",
        "Namespace": "AWS/ApplicationELB",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 3,
        "Threshold": 5.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        **extra,
    }
    assert ok(endpoint, "PutMetricAlarm", body) is None  # Unit output: no body


def describe(endpoint: str, **params: Any) -> dict[str, Any]:
    return ok(endpoint, "DescribeAlarms", params)


def value_after(raw: bytes, key: str) -> bytes:
    """The bytes that follow a map key in a CBOR document: how its value was typed on the wire."""
    encoded = cbor2.dumps(key)
    return raw[raw.index(encoded) + len(encoded) :]


# ---------- the Rust SDK's requests ----------


def test_an_alarm_set_to_alarm_is_described_with_typed_members(emulator, control):
    put_alarm(emulator.endpoint, "web-5xx")
    control.advance(3600)  # the state's timestamp follows the emulator's clock, not the wall clock
    assert (
        ok(
            emulator.endpoint,
            "SetAlarmState",
            {"AlarmName": "web-5xx", "StateValue": "ALARM", "StateReason": "5xx spike"},
        )
        is None
    )
    now = control.get("/clock")["now"]

    status, headers, answer, raw = rpc(emulator.endpoint, "DescribeAlarms", {"AlarmNames": ["web-5xx"]})
    assert (status, headers["content-type"], headers["smithy-protocol"]) == (200, "application/cbor", "rpc-v2-cbor")
    assert int(headers["content-length"]) == len(raw)
    assert answer["CompositeAlarms"] == []
    [alarm] = answer["MetricAlarms"]
    assert (alarm["AlarmName"], alarm["StateValue"], alarm["StateReason"]) == ("web-5xx", "ALARM", "5xx spike")
    assert alarm["AlarmArn"] == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-5xx"
    # Timestamps are tag 1 (cbor2 decodes them to aware datetimes), on the emulator's clock.
    assert isinstance(alarm["StateUpdatedTimestamp"], dt.datetime)
    assert alarm["StateUpdatedTimestamp"].tzinfo is not None
    assert abs(alarm["StateUpdatedTimestamp"].timestamp() - now) < 2
    assert alarm["AlarmConfigurationUpdatedTimestamp"].timestamp() < now - 3500
    # double → CBOR float, integer → CBOR integer, boolean → CBOR simple value.
    assert isinstance(alarm["Threshold"], float) and alarm["Threshold"] == 5.0
    assert type(alarm["EvaluationPeriods"]) is int and alarm["EvaluationPeriods"] == 3
    assert type(alarm["Period"]) is int and alarm["ActionsEnabled"] is True
    # On the wire: tag 1 (0xc1) around a double (0xfb), as smithy-rs reads timestamps with f64();
    # Threshold a double even though whole; EvaluationPeriods the one-byte integer 3.
    assert value_after(raw, "StateUpdatedTimestamp")[:2] == b"\xc1\xfb"
    assert value_after(raw, "Threshold")[:1] == b"\xfb"
    assert value_after(raw, "EvaluationPeriods")[:1] == b"\x03"


def test_a_new_alarm_is_insufficient_data_and_an_update_keeps_its_state(emulator):
    # API_PutMetricAlarm: a created alarm is INSUFFICIENT_DATA; an updated one keeps its state.
    put_alarm(emulator.endpoint, "web-5xx")
    [alarm] = describe(emulator.endpoint, AlarmNames=["web-5xx"])["MetricAlarms"]
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    ok(emulator.endpoint, "SetAlarmState", {"AlarmName": "web-5xx", "StateValue": "ALARM", "StateReason": "test"})
    put_alarm(emulator.endpoint, "web-5xx", Threshold=10.5)
    [alarm] = describe(emulator.endpoint, AlarmNames=["web-5xx"])["MetricAlarms"]
    assert (alarm["StateValue"], alarm["StateReason"], alarm["Threshold"]) == ("ALARM", "test", 10.5)


def test_filters_combine_and_an_unknown_name_gives_an_empty_list(emulator):
    for name in ("web-5xx", "web-latency", "api-5xx"):
        put_alarm(emulator.endpoint, name)
    for name, state in (("web-5xx", "ALARM"), ("web-latency", "OK"), ("api-5xx", "ALARM")):
        ok(emulator.endpoint, "SetAlarmState", {"AlarmName": name, "StateValue": state, "StateReason": "t"})

    def names(**params: Any) -> list[str]:
        return [a["AlarmName"] for a in describe(emulator.endpoint, **params)["MetricAlarms"]]

    assert names() == ["api-5xx", "web-5xx", "web-latency"]  # sorted by name
    assert names(StateValue="ALARM") == ["api-5xx", "web-5xx"]
    assert names(AlarmNames=["web-5xx", "web-latency"], StateValue="ALARM") == ["web-5xx"]  # moto: ignores StateValue
    assert names(AlarmNamePrefix="web-", StateValue="OK") == ["web-latency"]
    assert names(AlarmNames=["nope"]) == []
    answer = describe(emulator.endpoint, AlarmNames=["nope"])
    assert answer == {"MetricAlarms": [], "CompositeAlarms": []}  # no NextToken member at all


def test_max_records_and_next_token_page_through_the_alarms(emulator):
    for n in range(5):
        put_alarm(emulator.endpoint, f"alarm-{n}")
    first = describe(emulator.endpoint, MaxRecords=2)
    assert [a["AlarmName"] for a in first["MetricAlarms"]] == ["alarm-0", "alarm-1"]
    second = describe(emulator.endpoint, MaxRecords=2, NextToken=first["NextToken"])
    assert [a["AlarmName"] for a in second["MetricAlarms"]] == ["alarm-2", "alarm-3"]
    last = describe(emulator.endpoint, MaxRecords=2, NextToken=second["NextToken"])
    assert [a["AlarmName"] for a in last["MetricAlarms"]] == ["alarm-4"]
    assert "NextToken" not in last


def test_alarm_history_records_state_changes(emulator):
    put_alarm(emulator.endpoint, "web-5xx")
    ok(emulator.endpoint, "SetAlarmState", {"AlarmName": "web-5xx", "StateValue": "ALARM", "StateReason": "spike"})
    items = ok(emulator.endpoint, "DescribeAlarmHistory", {"AlarmName": "web-5xx"})["AlarmHistoryItems"]
    assert [i["HistoryItemType"] for i in items] == ["StateUpdate", "ConfigurationUpdate"]  # newest first
    assert items[0]["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"
    assert isinstance(items[0]["Timestamp"], dt.datetime)
    only_states = ok(
        emulator.endpoint,
        "DescribeAlarmHistory",
        {"AlarmName": "web-5xx", "HistoryItemType": "StateUpdate", "ScanBy": "TimestampAscending"},
    )["AlarmHistoryItems"]
    assert len(only_states) == 1


def test_get_metric_data_goes_through_to_moto_with_timestamps_as_tag_1(emulator, aws):
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    aws("cloudwatch").put_metric_data(
        Namespace="App", MetricData=[{"MetricName": "Errors", "Value": 3.0, "Timestamp": now - dt.timedelta(minutes=2)}]
    )
    answer = ok(
        emulator.endpoint,
        "GetMetricData",
        {
            "MetricDataQueries": [
                {
                    "Id": "e",
                    "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"},
                }
            ],
            "StartTime": now - dt.timedelta(minutes=10),  # cbor2 writes a datetime as tag 1
            "EndTime": now + dt.timedelta(minutes=1),
        },
    )
    [result] = answer["MetricDataResults"]
    assert result["Id"] == "e" and result["Values"] == [3.0]
    assert all(isinstance(t, dt.datetime) for t in result["Timestamps"])


# ---------- errors ----------


def test_a_missing_alarm_is_resource_not_found_in_the_cbor_error_shape(emulator):
    status, headers, answer, _ = rpc(
        emulator.endpoint, "SetAlarmState", {"AlarmName": "nope", "StateValue": "ALARM", "StateReason": "x"}
    )
    # botocore's model: ResourceNotFound, httpStatusCode 404; `__type` the absolute shape ID (Smithy spec).
    assert status == 404
    assert (headers["smithy-protocol"], headers["content-type"]) == ("rpc-v2-cbor", "application/cbor")
    assert headers["x-amzn-query-error"] == "ResourceNotFound;Sender"
    assert answer["__type"] == f"{NS}#ResourceNotFound"
    assert isinstance(answer["message"], str)


def test_a_bad_state_value_is_a_validation_error_before_the_lookup(emulator):
    for name in ("nope", "web-5xx"):
        put_alarm(emulator.endpoint, "web-5xx")
        status, headers, answer, _ = rpc(
            emulator.endpoint, "SetAlarmState", {"AlarmName": name, "StateValue": "BROKEN", "StateReason": "x"}
        )
        assert status == 400
        assert headers["x-amzn-query-error"] == "ValidationError;Sender"
        assert answer["__type"] == f"{NS}#ValidationException"
        assert "Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]" in answer["message"]


def test_an_unknown_operation_and_a_bad_body_answer_cbor_errors(emulator):
    status, headers, answer, _ = rpc(emulator.endpoint, "DescribeEverything", {})
    assert (status, headers["content-type"]) == (400, "application/cbor")
    assert answer["__type"] == f"{NS}#UnknownOperationException"
    request = urllib.request.Request(
        f"{emulator.endpoint}{PATH}DescribeAlarms",
        data=b"\xff\x00",
        method="POST",
        headers={"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor", "Authorization": AUTHORIZATION},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 400
    assert cbor2.loads(caught.value.read())["__type"] == f"{NS}#SerializationException"
    status, _, answer, _ = rpc(emulator.endpoint, "DescribeAlarms", {"NextToken": "garbage"})
    assert (status, answer["__type"]) == (400, f"{NS}#InvalidNextToken")
    status, _, answer, _ = rpc(emulator.endpoint, "DescribeAlarms", {"AlarmNames": ["a"], "AlarmNamePrefix": "a"})
    assert (status, answer["__type"]) == (400, f"{NS}#InvalidParameterCombinationException")


def test_a_request_without_a_body_is_an_empty_input(emulator):
    put_alarm(emulator.endpoint, "web-5xx")
    assert [a["AlarmName"] for a in ok(emulator.endpoint, "DescribeAlarms")["MetricAlarms"]] == ["web-5xx"]


def test_throttling_faults_answer_in_the_cbor_shape(emulator, control):
    control.post("/faults", {"service": "monitoring", "operation": "DescribeAlarms", "kind": "throttle", "count": 1})
    status, headers, answer, _ = rpc(emulator.endpoint, "DescribeAlarms", {})
    # CloudWatch's awsQuery throttling code, in the RPC v2 CBOR error shape.
    assert (status, headers["x-amzn-query-error"], headers["smithy-protocol"]) == (
        400,
        "Throttling;Sender",
        "rpc-v2-cbor",
    )
    assert answer == {"__type": f"{NS}#Throttling", "message": "Rate exceeded"}
    assert rpc(emulator.endpoint, "DescribeAlarms", {})[0] == 200
    assert [f["hits"] for f in control.get("/faults")] == [1]
    control.post("/faults", {"service": "monitoring", "operation": "SetAlarmState", "kind": "error", "status": 503})
    status, headers, answer, _ = rpc(
        emulator.endpoint, "SetAlarmState", {"AlarmName": "a", "StateValue": "OK", "StateReason": "x"}
    )
    assert (status, answer["__type"], headers["x-amzn-query-error"]) == (
        503,
        f"{NS}#ServiceUnavailable",
        "ServiceUnavailable;Receiver",
    )


# ---------- real clients ----------


@pytest.fixture
def cbor_client(emulator, control, monkeypatch):
    """botocore's own RPC v2 CBOR client: CBOR first in its protocol order, as in the AWS CLI v2 (aws/aws-cli
    pull request 9388); boto3 1.44 itself prefers awsJson when a model lists both."""

    def make(attempts: int = 1):
        monkeypatch.setattr(
            botocore.model,
            "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS",
            ("smithy-rpc-v2-cbor", *botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS),
        )
        client = boto3.session.Session().client(
            "cloudwatch",
            endpoint_url=emulator.endpoint,
            region_name="us-east-1",
            aws_access_key_id="AKIDEMULATORTEST",
            aws_secret_access_key="secret",
            config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}),
        )
        assert client.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
        return client

    return make


def test_botocore_speaking_cbor_sends_what_the_rust_sdk_sends_and_reads_the_answers(cbor_client, control):
    cw = cbor_client()
    sent: list[Any] = []
    cw.meta.events.register("before-send.cloudwatch.*", lambda request, **_: sent.append(request))
    cw.put_metric_alarm(
        AlarmName="web-5xx",
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=3,
        Threshold=5,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    request = sent[0]
    assert request.url.endswith(f"{PATH}PutMetricAlarm")
    assert request.headers["smithy-protocol"] == b"rpc-v2-cbor"
    assert request.headers["Content-Type"] == b"application/cbor"
    assert request.headers["x-amzn-query-mode"] == b"true"
    assert b"/us-east-1/monitoring/aws4_request" in request.headers["Authorization"]

    cw.set_alarm_state(AlarmName="web-5xx", StateValue="ALARM", StateReason="5xx spike")
    [alarm] = cw.describe_alarms(AlarmNames=["web-5xx"])["MetricAlarms"]
    assert (alarm["StateValue"], alarm["StateReason"], alarm["Threshold"]) == ("ALARM", "5xx spike", 5.0)
    assert abs(alarm["StateUpdatedTimestamp"].timestamp() - control.get("/clock")["now"]) < 2
    assert cw.describe_alarms(StateValue="OK")["MetricAlarms"] == []

    # Modeled errors come back as their exception classes (code from x-amzn-query-error).
    with pytest.raises(cw.exceptions.ResourceNotFound):
        cw.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="x")
    assert error_of(lambda: cw.describe_alarms(NextToken="garbage"))[:1] == ("InvalidNextToken",)


def test_botocore_retries_through_cbor_throttling(cbor_client, control):
    control.post("/faults", {"service": "monitoring", "operation": "DescribeAlarms", "kind": "throttle", "count": 2})
    assert error_of(lambda: cbor_client().describe_alarms()) == ("Throttling", "Rate exceeded", 400)
    # standard retry mode takes `Throttling` for a throttling error and tries again.
    answer = cbor_client(attempts=3).describe_alarms()
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert [f["hits"] for f in control.get("/faults")] == [2]


def test_the_awsjson_front_sees_the_same_cloudwatch(emulator, aws, control):
    cw = aws("cloudwatch")  # boto3's default for CloudWatch: awsJson 1.0
    assert cw.meta.service_model.resolved_protocol == "json"
    cw.put_metric_alarm(
        AlarmName="api-5xx",
        MetricName="m",
        Namespace="n",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    put_alarm(emulator.endpoint, "web-5xx")
    control.advance(600)
    ok(emulator.endpoint, "SetAlarmState", {"AlarmName": "web-5xx", "StateValue": "ALARM", "StateReason": "cbor"})
    cw.set_alarm_state(AlarmName="api-5xx", StateValue="OK", StateReason="json")
    by_json = {a["AlarmName"]: a for a in cw.describe_alarms()["MetricAlarms"]}
    by_cbor = {a["AlarmName"]: a for a in describe(emulator.endpoint)["MetricAlarms"]}
    assert {n: a["StateValue"] for n, a in by_json.items()} == {"api-5xx": "OK", "web-5xx": "ALARM"}
    assert {n: a["StateValue"] for n, a in by_cbor.items()} == {"api-5xx": "OK", "web-5xx": "ALARM"}
    for name in by_json:
        assert by_json[name]["StateUpdatedTimestamp"].timestamp() == by_cbor[name]["StateUpdatedTimestamp"].timestamp()
    assert [
        a["AlarmName"]
        for a in cw.describe_alarms(AlarmNames=["api-5xx", "web-5xx"], StateValue="ALARM")["MetricAlarms"]
    ] == ["web-5xx"]
    history = cw.describe_alarm_history(AlarmName="api-5xx")["AlarmHistoryItems"]
    assert history[0]["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to OK"
    with pytest.raises(cw.exceptions.ResourceNotFound):
        cw.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="x")
    assert (
        error_of(lambda: cw.set_alarm_state(AlarmName="nope", StateValue="BAD", StateReason="x"))[0]
        == "ValidationError"
    )
    control.post("/faults", {"service": "monitoring", "operation": "DescribeAlarms", "kind": "throttle", "count": 1})
    assert error_of(lambda: cw.describe_alarms()) == ("Throttling", "Rate exceeded", 400)

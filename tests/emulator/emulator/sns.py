"""SNS Publish as AWS validates and delivers it, in front of moto 5.2.5 and patched onto its classes.

Validation (API_Publish and AWS-FACTS "SNS"), before moto sees the request:
- `Subject`: ASCII, begins with a letter, number or punctuation mark, no line breaks or control
  characters, fewer than 100 characters; otherwise `InvalidParameter` "Invalid parameter: Subject".
  moto lets line breaks and non-ASCII through and accepts exactly 100 characters.
- Size: at most 262,144 UTF-8 bytes for the Message plus every message attribute (name, data type
  and value); otherwise "Invalid parameter: Message too long". moto counts characters of the Message.
- `MessageStructure=json`: the Message must parse as a JSON object with a string `default`
  ("Invalid parameter: Message Structure - ..."); moto checks this only when a subscriber exists.
- A missing topic: `NotFound` (404) "Topic does not exist"; moto says "Endpoint does not exist".

Delivery (moto's `Subscription.publish`, replaced for sqs, http(s) and email):
- Under MessageStructure=json each protocol gets its own key when that is a string, else `default`
  (non-string values are ignored; moto would deliver a number or an object as it is).
- An SQS subscriber gets the SNS envelope (keys in AWS's order, its real subscription in
  UnsubscribeURL) or, with RawMessageDelivery, the body alone with the message attributes as SQS
  message attributes (moto breaks the queue with Binary ones, and treats "false" as raw delivery).
- http/https are delivered off the request thread and only to a loopback host; moto posts
  synchronously to any host and fails the Publish with a 500 when it cannot be reached, while AWS
  delivers asynchronously and never fails a Publish because of a subscriber.

Every accepted Publish is recorded for `GET /_emulator/sns/published`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import string
import threading
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from moto.core.utils import ensure_boolean
from moto.sns.exceptions import TopicNotFound
from moto.sns.models import Subscription, sns_backends
from moto.sqs.models import sqs_backends

from .protocol import AwsError, iso

if TYPE_CHECKING:
    from .world import World

SNS_NS = "http://sns.amazonaws.com/doc/2010-03-31/"
# API_Publish: "at most 256 KB in size (262,144 bytes, not 262,144 characters)".
MAX_BYTES = 262_144
SUBJECT_LIMIT = 100
# The protocol keys a MessageStructure=json body can address (AWS-FACTS "SNS (more)").
PROTOCOLS = ("default", "email", "email-json", "sqs", "lambda", "http", "https", "sms", "application", "firehose")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ENVELOPE_ORDER = (
    "Type",
    "MessageId",
    "TopicArn",
    "Subject",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
    "UnsubscribeURL",
    "MessageAttributes",
)
_ATTRIBUTE_KEY = re.compile(
    r"MessageAttributes\.entry\.(\d+)\.(Name|Value\.DataType|Value\.StringValue|Value\.BinaryValue)"
)
_SUBJECT_FIRST = set(string.ascii_letters + string.digits + string.punctuation)

# Deliveries made by the Publish being handled (the world lock is held meanwhile); None otherwise.
_deliveries: list[dict[str, Any]] | None = None
_original_publish = Subscription.publish


def invalid(what: str) -> AwsError:
    return AwsError("InvalidParameter", f"Invalid parameter: {what}")


# ---------- request parsing and validation ----------


def message_attributes(flat: dict[str, str]) -> dict[str, dict[str, str]]:
    """awsQuery `MessageAttributes.entry.N.Name` / `.Value.DataType|StringValue|BinaryValue`
    (boto3 and aws-sdk-sns alike) as the API's map: {name: {DataType, StringValue|BinaryValue}},
    BinaryValue still base64 as on the wire, in entry order."""
    entries: dict[int, dict[str, str]] = {}
    for key, value in flat.items():
        match = _ATTRIBUTE_KEY.fullmatch(key)
        if match:
            entries.setdefault(int(match.group(1)), {})[match.group(2).removeprefix("Value.")] = value
    result: dict[str, dict[str, str]] = {}
    for _, entry in sorted(entries.items()):
        name = entry.pop("Name", None)
        if name is not None:
            result[name] = entry
    return result


def attribute_value_bytes(value: dict[str, str]) -> bytes:
    if "BinaryValue" in value:
        try:
            return base64.b64decode(value["BinaryValue"], validate=True)
        except (binascii.Error, ValueError):
            return value["BinaryValue"].encode()
    return value.get("StringValue", "").encode()


def publish_size(message: str, attributes: dict[str, dict[str, str]]) -> int:
    """UTF-8 bytes of the Message plus each attribute's name, data type and value (inferred:
    AWS says the attributes count, not how; a binary value counts its decoded bytes)."""
    size = len(message.encode())
    for name, value in attributes.items():
        size += len(name.encode()) + len(value.get("DataType", "").encode()) + len(attribute_value_bytes(value))
    return size


def valid_subject(subject: str) -> bool:
    """API_Publish: "ASCII text that begins with a letter, number, or punctuation mark; must not
    include line breaks or control characters; and must be less than 100 characters long"."""
    return (
        0 < len(subject) < SUBJECT_LIMIT
        and subject[0] in _SUBJECT_FIRST
        and all(" " <= ch <= "~" for ch in subject)  # printable ASCII: no line breaks, no controls
    )


def structured(message: str) -> dict[str, Any]:
    """The JSON object of a MessageStructure=json Message, or AWS's InvalidParameter."""
    try:
        body = json.loads(message)
    except ValueError:
        raise invalid("Message Structure - JSON message body failed to parse") from None
    if not isinstance(body, dict):
        # Inferred: a JSON value that is not an object cannot hold protocol keys.
        raise invalid("Message Structure - JSON message body failed to parse")
    if not isinstance(body.get("default"), str):
        # A non-string `default` is ignored like any non-string value, so there is no default entry.
        raise invalid("Message Structure - No default entry in JSON message body")
    return body


def body_for(protocol: str, message: str, structure: str | None) -> str:
    """What a subscriber of `protocol` receives as the message text."""
    if structure != "json":
        return message
    body = json.loads(message)
    value = body.get(protocol)
    return value if isinstance(value, str) else body["default"]


# ---------- delivery, replacing moto's Subscription.publish ----------


def _publish(
    self: Subscription,
    message: str,
    message_id: str,
    subject: str | None = None,
    message_attributes: dict[str, Any] | None = None,
    group_id: str | None = None,
    deduplication_id: str | None = None,
    message_structure: str | None = None,
) -> None:
    record: dict[str, Any] = {
        "subscriptionArn": self.arn,
        "protocol": self.protocol,
        "endpoint": self.endpoint,
        "rawMessageDelivery": raw_delivery(self),
        "filteredOut": False,
        "body": None,
        "sent": False,
    }
    if _deliveries is not None:
        _deliveries.append(record)
    if self._filter_policy_matcher is not None and not self._filter_policy_matcher.matches(message_attributes, message):
        record["filteredOut"] = True
        return
    try:
        text = body_for(self.protocol, message, message_structure)
    except (ValueError, KeyError, AttributeError):
        # Only PublishBatch gets here (Publish was validated): moto's own error for the entry.
        text = str(self._parse_message_structure(message, self.protocol))
    if self.protocol == "sqs":
        record["body"] = (
            text if record["rawMessageDelivery"] else envelope(self, text, message_id, subject, message_attributes)
        )
        record["sent"] = send_to_queue(self, record["body"], message_attributes, group_id, deduplication_id)
    elif self.protocol in ("http", "https"):
        raw = record["rawMessageDelivery"]
        record["body"] = text if raw else envelope(self, text, message_id, subject, message_attributes)
        record["sent"] = post_to_loopback(self, record, message_id)
    elif self.protocol == "email-json":
        record["body"] = envelope(self, text, message_id, subject, message_attributes)
    elif self.protocol in ("email", "sms"):
        record["body"] = text
    else:
        # lambda, application, firehose: moto's own delivery, given the protocol's text.
        record["body"] = text
        _original_publish(
            self,
            text,
            message_id,
            subject=subject,
            message_attributes=message_attributes,
            group_id=group_id,
            deduplication_id=deduplication_id,
        )
        record["sent"] = True


def raw_delivery(subscription: Subscription) -> bool:
    # Subscribe's Attributes keep the string as given: "false" must not mean raw delivery.
    return ensure_boolean(subscription.attributes.get("RawMessageDelivery") or False)


def envelope(
    subscription: Subscription, text: str, message_id: str, subject: str | None, attributes: dict[str, Any] | None
) -> str:
    """The SNS notification JSON (Type, MessageId, TopicArn, Subject, Message, Timestamp, SignatureVersion,
    Signature, SigningCertURL, UnsubscribeURL, MessageAttributes), signed by moto."""
    data = subscription.get_post_data(text, message_id, subject, message_attributes=attributes)
    region = subscription.topic.sns_backend.region_name
    data["UnsubscribeURL"] = (
        f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription.arn}"
    )
    ordered = {key: data[key] for key in ENVELOPE_ORDER if key in data}
    return json.dumps(ordered, indent=2, separators=(",", " : "))


def send_to_queue(
    subscription: Subscription,
    body: str,
    attributes: dict[str, Any] | None,
    group_id: str | None,
    deduplication_id: str | None,
) -> bool:
    parts = subscription.endpoint.split(":")
    if len(parts) < 6:
        return False
    sqs_attributes: dict[str, dict[str, Any]] = {}
    if raw_delivery(subscription):
        # moto's attributes are {name: {Type, Value}}, a binary value base64 (its Publish parser).
        for name, value in (attributes or {}).items():
            if value["Type"].startswith("Binary"):
                sqs_attributes[name] = {"DataType": value["Type"], "BinaryValue": base64.b64decode(value["Value"])}
            else:
                sqs_attributes[name] = {"DataType": value["Type"], "StringValue": str(value["Value"])}
    try:
        sqs_backends[parts[4]][parts[3]].send_message(
            parts[5],
            body,
            message_attributes=sqs_attributes,
            deduplication_id=deduplication_id,
            group_id=group_id,
            validate_group_id=False,
        )
    except Exception:  # a failed delivery never fails the Publish (AWS retries, then drops)
        return False
    return True


def post_to_loopback(subscription: Subscription, record: dict[str, Any], message_id: str) -> bool:
    """POSTs the notification as AWS does (headers of "HTTP/HTTPS headers", SNS developer guide),
    off the request thread; only to a loopback host, so tests never reach the internet."""
    if urlsplit(subscription.endpoint).hostname not in LOOPBACK:
        return False
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": "Notification",
        "x-amz-sns-message-id": message_id,
        "x-amz-sns-topic-arn": subscription.topic.arn,
        "x-amz-sns-subscription-arn": subscription.arn,
    }
    if record["rawMessageDelivery"]:
        headers["x-amz-sns-rawdelivery"] = "true"

    def deliver() -> None:
        try:
            request = urllib.request.Request(
                subscription.endpoint, data=record["body"].encode(), method="POST", headers=headers
            )
            with urllib.request.urlopen(request, timeout=15) as response:
                record["status"] = response.status
        except Exception as exc:  # best effort, as SNS; the record says why
            record["error"] = str(exc)

    threading.Thread(target=deliver, daemon=True).start()
    return True


def install() -> None:
    Subscription.publish = _publish


# ---------- the Publish operation ----------


class Sns:
    def __init__(self, world: World) -> None:
        self.world = world
        self.published: list[dict[str, Any]] = []

    def reset(self) -> None:
        self.published.clear()

    def check(self, account: str, region: str, flat: dict[str, str]) -> dict[str, dict[str, str]]:
        """AWS's checks moto lacks, parameters first (inferred order), then the topic."""
        subject = flat.get("Subject")
        if subject is not None and not valid_subject(subject):
            raise invalid("Subject")
        message = flat.get("Message", "")
        attributes = message_attributes(flat)
        if publish_size(message, attributes) > MAX_BYTES:
            raise invalid("Message too long")
        if flat.get("MessageStructure") == "json":
            structured(message)
        topic_arn = flat.get("TopicArn")
        if topic_arn and not flat.get("TargetArn") and not flat.get("PhoneNumber"):
            try:
                sns_backends[account][region].get_topic(topic_arn)
            except TopicNotFound:
                raise AwsError("NotFound", "Topic does not exist", status=404) from None
            except (ValueError, IndexError):
                pass  # not an ARN: moto answers
        return attributes

    def publish(
        self,
        account: str,
        region: str,
        flat: dict[str, str],
        call_moto: Callable[[], tuple[int, dict[str, str], bytes]],
    ) -> tuple[int, dict[str, str], bytes]:
        global _deliveries
        attributes = self.check(account, region, flat)
        _deliveries = deliveries = []
        try:
            response = call_moto()
        finally:
            _deliveries = None
        if response[0] == 200:
            found = re.search(rb"<MessageId>([^<]+)</MessageId>", response[2])
            message = flat.get("Message", "")
            structure = flat.get("MessageStructure")
            self.published.append(
                {
                    "messageId": found.group(1).decode() if found else None,
                    "topicArn": flat.get("TopicArn"),
                    "targetArn": flat.get("TargetArn"),
                    "phoneNumber": flat.get("PhoneNumber"),
                    "subject": flat.get("Subject"),
                    "messageStructure": structure,
                    "message": message,
                    "messageAttributes": attributes,
                    "protocolBodies": {
                        protocol: body_for(protocol, message, structure)
                        for protocol in PROTOCOLS
                        if protocol != "default"
                    },
                    "deliveries": deliveries,
                    "timestamp": iso(self.world.clock.now()),
                }
            )
        return response

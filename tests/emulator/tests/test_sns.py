"""SNS Publish: validated as AWS does where moto 5.2.5 is looser, delivered to SQS, and recorded.

Sources: /work/shared/AWS-FACTS.md "SNS" (lines 35-38) and "SNS (more)" (lines 59-61), and the SNS
API reference, Publish (API_Publish).
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from test_instance_refresh import error_of

LIMIT = 262_144


def topic(aws, name: str = "alerts") -> str:
    return aws("sns").create_topic(Name=name)["TopicArn"]


def queue(aws, name: str = "inbox") -> tuple[str, str]:
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive(aws, url: str) -> list[dict]:
    return (
        aws("sqs")
        .receive_message(QueueUrl=url, MessageAttributeNames=["All"], MaxNumberOfMessages=10)
        .get("Messages", [])
    )


ATTRIBUTES = {
    "kind": {"DataType": "String", "StringValue": "deploy"},
    "attempt": {"DataType": "Number", "StringValue": "3"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
}


# ---------- validation ----------


def test_publish_to_a_missing_topic_is_not_found(aws):
    # AWS-FACTS line 35: "Publish to a missing topic: `NotFound`, 404, `Topic does not exist`" (moto: "Endpoint does not exist").
    missing = "arn:aws:sns:us-east-1:123456789012:nowhere"
    assert error_of(lambda: aws("sns").publish(TopicArn=missing, Message="hi")) == (
        "NotFound",
        "Topic does not exist",
        404,
    )


def test_a_subject_with_a_line_break_is_refused(aws):
    # API_Publish, Subject: "must not include line breaks or control characters"; AWS-FACTS line 36 for the error.
    arn = topic(aws)
    assert error_of(lambda: aws("sns").publish(TopicArn=arn, Message="hi", Subject="deploy\nfailed")) == (
        "InvalidParameter",
        "Invalid parameter: Subject",
        400,
    )


def test_a_subject_must_be_shorter_than_100_characters(aws):
    # API_Publish, Subject: "must be less than 100 characters long" (moto refuses only above 100).
    arn = topic(aws)
    assert aws("sns").publish(TopicArn=arn, Message="hi", Subject="s" * 99)["MessageId"]
    assert error_of(lambda: aws("sns").publish(TopicArn=arn, Message="hi", Subject="s" * 100)) == (
        "InvalidParameter",
        "Invalid parameter: Subject",
        400,
    )


@pytest.mark.parametrize(
    "subject",
    [
        "Déploiement échoué",  # API_Publish: "must be ASCII text"
        " leading space",  # "begins with a letter, number, or punctuation mark"
        "tab\there",  # "must not include ... control characters"
        "",  # empty: AWS answers "Invalid parameter: Subject" (wellcomecollection/platform issue 1107)
    ],
)
def test_subjects_aws_refuses(aws, subject):
    arn = topic(aws)
    code, message, status = error_of(lambda: aws("sns").publish(TopicArn=arn, Message="hi", Subject=subject))
    assert (code, message, status) == ("InvalidParameter", "Invalid parameter: Subject", 400)


def test_subjects_beginning_with_punctuation_or_digits_pass(aws):
    # API_Publish: "begins with a letter, number, or punctuation mark".
    arn = topic(aws)
    for subject in ("[prod] deploy ok", "3 instances replaced", "Done: v42 ~ 100%"):
        assert aws("sns").publish(TopicArn=arn, Message="hi", Subject=subject)["MessageId"]


def test_json_structure_without_default_is_refused_with_aws_text(aws):
    # AWS-FACTS line 37; API_Publish, MessageStructure: "must contain at least a top-level JSON key of
    # 'default' with a value that is a string". moto accepts it when the topic has no subscriber.
    arn = topic(aws)
    sns = aws("sns")
    no_default = json.dumps({"email": "hello", "sqs": "hello"})
    assert error_of(lambda: sns.publish(TopicArn=arn, Message=no_default, MessageStructure="json")) == (
        "InvalidParameter",
        "Invalid parameter: Message Structure - No default entry in JSON message body",
        400,
    )
    # AWS-FACTS line 59: non-string values are ignored, so a non-string default is no default (inferred).
    assert error_of(
        lambda: sns.publish(TopicArn=arn, Message=json.dumps({"default": {"a": 1}}), MessageStructure="json")
    )[1] == ("Invalid parameter: Message Structure - No default entry in JSON message body")
    assert error_of(lambda: sns.publish(TopicArn=arn, Message='{"default": "x"', MessageStructure="json")) == (
        "InvalidParameter",
        "Invalid parameter: Message Structure - JSON message body failed to parse",
        400,
    )
    # Unknown keys and non-string values besides `default` are ignored (AWS-FACTS line 59).
    fine = json.dumps({"default": "d", "carrier-pigeon": "x", "sqs": 42})
    assert sns.publish(TopicArn=arn, Message=fine, MessageStructure="json")["MessageId"]


def test_a_multibyte_message_of_262144_characters_is_too_long(aws):
    # API_Publish, Message: "at most 256 KB in size (262,144 bytes, not 262,144 characters)"; AWS-FACTS
    # line 38 for the error. moto counts characters and would accept this.
    arn = topic(aws)
    assert error_of(lambda: aws("sns").publish(TopicArn=arn, Message="é" * LIMIT)) == (
        "InvalidParameter",
        "Invalid parameter: Message too long",
        400,
    )


def test_a_message_of_exactly_262144_bytes_is_accepted(aws):
    # API_Publish: up to 262,144 bytes; "é" is two bytes in UTF-8.
    arn = topic(aws)
    assert aws("sns").publish(TopicArn=arn, Message="é" * (LIMIT // 2))["MessageId"]
    assert aws("sns").publish(TopicArn=arn, Message="a" * LIMIT)["MessageId"]
    assert error_of(lambda: aws("sns").publish(TopicArn=arn, Message="a" * (LIMIT + 1)))[1] == (
        "Invalid parameter: Message too long"
    )


def test_message_attributes_count_towards_the_size(aws):
    # AWS-FACTS lines 38 and 59: the size includes the message attributes. Counted (inferred) as the
    # UTF-8 bytes of name + data type + value: "kind" + "String" + "deploy" = 16 bytes.
    arn = topic(aws)
    attributes = {"kind": {"DataType": "String", "StringValue": "deploy"}}
    sns = aws("sns")
    assert sns.publish(TopicArn=arn, Message="a" * (LIMIT - 16), MessageAttributes=attributes)["MessageId"]
    assert error_of(lambda: sns.publish(TopicArn=arn, Message="a" * (LIMIT - 15), MessageAttributes=attributes)) == (
        "InvalidParameter",
        "Invalid parameter: Message too long",
        400,
    )
    # A binary value counts its bytes (3), not its base64 text.
    binary = {"b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"}}
    assert sns.publish(TopicArn=arn, Message="a" * (LIMIT - 1 - 6 - 3), MessageAttributes=binary)["MessageId"]
    assert error_of(lambda: sns.publish(TopicArn=arn, Message="a" * (LIMIT - 9), MessageAttributes=binary))[1] == (
        "Invalid parameter: Message too long"
    )


def test_refused_publishes_are_not_recorded(aws, control):
    arn = topic(aws)
    error_of(lambda: aws("sns").publish(TopicArn=arn, Message="hi", Subject="a\nb"))
    assert control.get("/sns/published") == []


# ---------- delivery to SQS ----------


def test_raw_delivery_gets_the_sqs_value_and_the_message_attributes(aws):
    # AWS-FACTS line 60: an SQS subscriber gets the `sqs` value (else `default`); with RawMessageDelivery the
    # queue body is that value. SNS developer guide, "Amazon SNS raw message delivery": the message
    # attributes become SQS message attributes.
    arn = topic(aws)
    url, queue_arn = queue(aws)
    aws("sns").subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    body = json.dumps({"default": "for everyone", "sqs": '{"release": "v42"}', "email": "Release v42 deployed"})
    aws("sns").publish(TopicArn=arn, Message=body, MessageStructure="json", Subject="v42", MessageAttributes=ATTRIBUTES)
    [message] = receive(aws, url)
    assert message["Body"] == '{"release": "v42"}'
    assert message["MessageAttributes"] == {
        "kind": {"DataType": "String", "StringValue": "deploy"},
        "attempt": {"DataType": "Number", "StringValue": "3"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
    }


def test_without_raw_delivery_the_queue_gets_the_sns_envelope(aws):
    # AWS-FACTS line 60 ("otherwise an SNS envelope around it"); the envelope's fields are those of the
    # SNS developer guide's notification JSON, MessageAttributes as {Type, Value} (binary in base64).
    arn = topic(aws)
    url, queue_arn = queue(aws)
    subscription = aws("sns").subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"]
    body = json.dumps({"default": "for everyone", "email": "mail only"})
    message_id = aws("sns").publish(
        TopicArn=arn, Message=body, MessageStructure="json", Subject="v42", MessageAttributes=ATTRIBUTES
    )["MessageId"]
    [message] = receive(aws, url)
    assert message.get("MessageAttributes") is None
    envelope = json.loads(message["Body"])
    assert list(envelope) == [
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
    ]
    assert envelope["Type"] == "Notification"
    assert envelope["MessageId"] == message_id
    assert envelope["TopicArn"] == arn
    assert envelope["Subject"] == "v42"
    assert envelope["Message"] == "for everyone", "no `sqs` key: the default"
    assert envelope["UnsubscribeURL"].endswith(f"SubscriptionArn={subscription}")
    assert envelope["MessageAttributes"] == {
        "kind": {"Type": "String", "Value": "deploy"},
        "attempt": {"Type": "Number", "Value": "3"},
        "blob": {"Type": "Binary", "Value": base64.b64encode(b"\x00\x01\xff").decode()},
    }


def test_raw_message_delivery_false_means_the_envelope(aws):
    # Subscribe's Attributes take the string "false" (API_Subscribe, RawMessageDelivery: "true | false");
    # moto keeps the string and treats it as raw delivery.
    arn = topic(aws)
    url, queue_arn = queue(aws)
    aws("sns").subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"})
    aws("sns").publish(TopicArn=arn, Message="plain")
    [message] = receive(aws, url)
    assert json.loads(message["Body"])["Message"] == "plain"


def test_a_filter_policy_on_kind_drops_non_matching_messages(aws, control):
    # SNS developer guide, "Amazon SNS message filtering": a subscription with a filter policy (scope
    # MessageAttributes by default) receives only the messages whose attributes match it.
    arn = topic(aws)
    url, queue_arn = queue(aws)
    aws("sns").subscribe(
        TopicArn=arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps({"kind": ["deploy"]})},
    )
    sns = aws("sns")
    sns.publish(
        TopicArn=arn, Message="wanted", MessageAttributes={"kind": {"DataType": "String", "StringValue": "deploy"}}
    )
    sns.publish(
        TopicArn=arn, Message="other", MessageAttributes={"kind": {"DataType": "String", "StringValue": "audit"}}
    )
    sns.publish(TopicArn=arn, Message="no attributes")
    assert [m["Body"] for m in receive(aws, url)] == ["wanted"]
    assert [d["filteredOut"] for p in control.get("/sns/published") for d in p["deliveries"]] == [False, True, True]


# ---------- what email and https subscribers get ----------

CHATBOT = {
    "version": "1.0",
    "source": "custom",
    "content": {"textType": "client-markdown", "title": "Deploy v42 failed", "description": "3 of 4 replaced"},
}


def test_the_published_endpoint_shows_the_email_and_https_bodies(aws, control):
    # AWS-FACTS line 59: per-protocol keys under MessageStructure=json; line 61: Chatbot subscribes over
    # https and reads the `https` key (else `default`). AWS delivers to https asynchronously, so an
    # endpoint nobody can reach never fails the Publish (moto answers 500 here).
    arn = topic(aws)
    sns = aws("sns")
    sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="ops@example.com")
    sns.subscribe(TopicArn=arn, Protocol="https", Endpoint="https://global.sns-api.chatbot.amazonaws.com")
    body = json.dumps(
        {
            "default": "Deploy v42 failed",
            "email": "Deploy v42 failed.\n\n3 of 4 replaced.",
            "https": json.dumps(CHATBOT),
        }
    )
    message_id = sns.publish(
        TopicArn=arn,
        Message=body,
        MessageStructure="json",
        Subject="Deploy v42 failed",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "deploy"}},
    )["MessageId"]
    sns.publish(TopicArn=arn, Message="plain text")
    first, second = control.get("/sns/published")
    assert first["messageId"] == message_id
    assert first["topicArn"] == arn
    assert first["subject"] == "Deploy v42 failed"
    assert first["messageStructure"] == "json"
    assert first["message"] == body
    assert first["messageAttributes"] == {"kind": {"DataType": "String", "StringValue": "deploy"}}
    assert first["protocolBodies"]["email"] == "Deploy v42 failed.\n\n3 of 4 replaced."
    assert json.loads(first["protocolBodies"]["https"]) == CHATBOT
    assert first["protocolBodies"]["sqs"] == "Deploy v42 failed"
    email, https = first["deliveries"]
    assert (email["protocol"], email["endpoint"], email["body"]) == (
        "email",
        "ops@example.com",
        first["protocolBodies"]["email"],
    )
    assert https["protocol"] == "https" and https["sent"] is False, "never posted to the internet"
    assert json.loads(json.loads(https["body"])["Message"]) == CHATBOT
    assert second["messageStructure"] is None
    assert set(second["protocolBodies"].values()) == {"plain text"}
    control.post("/reset")
    assert control.get("/sns/published") == []


def test_http_subscribers_on_loopback_receive_the_notification(aws, control):
    # SNS developer guide, "HTTP/HTTPS headers" and the notification JSON: a POST with
    # x-amz-sns-message-type Notification and the envelope as the body.
    received: list[tuple[dict, bytes]] = []
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(
                ({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(int(self.headers["Content-Length"])))
            )
            self.send_response(200)
            self.end_headers()
            done.set()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        arn = topic(aws)
        endpoint = f"http://127.0.0.1:{server.server_port}/hook"
        aws("sns").subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint)
        message_id = aws("sns").publish(TopicArn=arn, Message="hello", Subject="hi")["MessageId"]
        assert done.wait(10)
    finally:
        server.shutdown()
    headers, body = received[0]
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-message-id"] == message_id
    assert headers["x-amz-sns-topic-arn"] == arn
    envelope = json.loads(body)
    assert (envelope["Message"], envelope["Subject"], envelope["MessageId"]) == ("hello", "hi", message_id)

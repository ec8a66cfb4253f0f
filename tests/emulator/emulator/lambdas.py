"""Lambda functions deployed by a stack, run by `cargo lambda watch` with the real binaries.

A function created by CloudFormation from a template resource whose Metadata names its binary
(`BuildProperties: Binary`, as `sam build` reads it for `rust-cargolambda`) is served by a
`cargo lambda watch` of its own, started on its first invocation in the workspace the emulator
was given (`--functions <workspace>`), with the function's environment as deployed, the
variables Lambda adds (`AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL` from LoggingConfig), and
the emulator as every AWS endpoint. Invoke (RequestResponse or Event) and EventBridge deliveries
reach it here. Asynchronous invocations follow the function's EventInvokeConfig: retried on a
function error up to MaximumRetryAttempts (default 2), then recorded to the OnFailure
destination (SQS) in AWS's invocation-record shape.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.awslambda.models import LambdaFunction, lambda_backends
from moto.sqs.models import sqs_backends

from . import cloudformation
from .protocol import iso

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
# AWS retries a failed asynchronous invocation after about one and then two minutes; the
# emulator waits this many seconds per minute, so the local run does not stand still.
RETRY_SECONDS_PER_MINUTE = 1.0
# cargo lambda watch 1.9.2 answers a function's long poll for its next event with no request id
# once the function has waited a while (measured: within 75 s); lambda_runtime then panics and
# the watch never starts it again, so the next invocation hangs. A watch idle this long is
# restarted before it is used (about a second); on Lambda the same is a cold start.
IDLE_RESTART_SECONDS = 20.0


def function_name_from(name_or_arn: str) -> str:
    """`name`, `name:qualifier`, or an ARN `arn:aws:lambda:region:account:function:name[:qualifier]`."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn.split(":")[6]
    return name_or_arn.split(":")[0]


def describe_event(payload: bytes) -> str:
    """What an invocation was for, in a few words (never the event: jobs carry credentials)."""
    try:
        event = json.loads(payload or b"{}")
    except ValueError:
        return "not JSON"
    if not isinstance(event, dict):
        return "not an object"
    if "CodePipeline.job" in event:
        job = event["CodePipeline.job"] if isinstance(event["CodePipeline.job"], dict) else {}
        return f"CodePipeline job {job.get('id')}"
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    about = detail.get("EC2InstanceId") or " ".join(
        str(detail[k]) for k in ("pipeline", "execution-id", "stage", "action", "state") if detail.get(k)
    )
    return f"{event.get('detail-type', 'an event')}: {about}".strip(": ")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Watch:
    """One `cargo lambda watch` serving one deployed function."""

    binary: str
    env: dict[str, str]
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    env_file: Path
    last_used: float | None = None
    active: int = 0
    listening: bool = False

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/2015-03-31/functions/{self.binary}/invocations"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.env_file.unlink(missing_ok=True)


@dataclass
class Outcome:
    status: int
    payload: bytes
    function_error: str | None = None


@dataclass
class LambdaHost:
    endpoint: str = ""
    workspace: Path | None = None
    watches: dict[str, Watch] = field(default_factory=dict)
    invocations: list[dict[str, Any]] = field(default_factory=list)
    # Where each function's watch writes its log (the temporary folder unless set).
    log_dir: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- which functions we run ----

    @staticmethod
    def binary_of(fn: LambdaFunction) -> str | None:
        return getattr(fn, "declared_binary", None)

    def find(self, account: str, region: str, name_or_arn: str) -> LambdaFunction | None:
        """The deployed function; a function inside a watch knows itself by its binary's name
        (cargo lambda sets AWS_LAMBDA_FUNCTION_NAME to it), so a name that is no function's but
        is the binary of exactly one deployed function means that function."""
        backend = lambda_backends[account][region]
        name = function_name_from(name_or_arn)
        try:
            return backend.get_function(name)
        except Exception:
            pass
        served = [fn for fn in backend._lambdas.all() if self.binary_of(fn) == name]
        return served[0] if len(served) == 1 else None

    @staticmethod
    def find_all(account: str, region: str) -> list[LambdaFunction]:
        return list(lambda_backends[account][region]._lambdas.all())

    def serves(self, fn: LambdaFunction | None) -> bool:
        return fn is not None and self.workspace is not None and self.binary_of(fn) is not None

    # ---- the watch processes ----

    def environment(self, fn: LambdaFunction) -> dict[str, str]:
        env = {k: str(v) for k, v in (fn.environment_vars or {}).items()}
        logging = getattr(fn, "declared_logging", None) or {}
        if logging.get("LogFormat") == "JSON":
            env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
            env["AWS_LAMBDA_LOG_LEVEL"] = logging.get("ApplicationLogLevel", "INFO")
        env.update(
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_REGION=fn.region,
            AWS_DEFAULT_REGION=fn.region,
            AWS_ACCESS_KEY_ID="AKIDLAMBDA" + fn.function_name.upper().replace("-", "")[:10],
            AWS_SECRET_ACCESS_KEY="local",
            AWS_LAMBDA_FUNCTION_TIMEOUT=str(fn.timeout),
        )
        return env

    def watch_for(self, fn: LambdaFunction, use: bool = True) -> Watch:
        """The function's watch, started (or restarted, when its environment changed, its process
        died or it sat idle) and listening. With `use`, it is counted as in use until the caller's
        invocation ends (`run`), so no other caller restarts it meanwhile."""
        binary = self.binary_of(fn)
        assert binary is not None and self.workspace is not None
        env = self.environment(fn)
        with self._lock:
            current = self.watches.get(fn.function_arn)
            idle = (
                current is not None
                and current.active == 0
                and current.last_used is not None
                and time.time() - current.last_used > IDLE_RESTART_SECONDS
            )
            if current is not None and current.env == env and current.process.poll() is None and not idle:
                watch = current
            else:
                if current is not None:
                    current.stop()
                watch = self._start_watch(fn, binary, env)
                self.watches[fn.function_arn] = watch
            if use:
                watch.active += 1
        try:
            self._wait_until_listening(watch, fn)
        except RuntimeError:
            if use:
                watch.active -= 1
            raise
        return watch

    def _start_watch(self, fn: LambdaFunction, binary: str, env: dict[str, str]) -> Watch:
        port = _free_port()
        tmp = self.log_dir or Path(tempfile.gettempdir())
        env_file = tmp / f"emulator-lambda-{fn.function_name}-{port}.env"
        # --env-var splits on commas, which JSON values hold: the variables go through a file.
        env_file.write_text("".join(f"{k}={json.dumps(v)}\n" for k, v in env.items()))
        log_path = tmp / f"emulator-lambda-{fn.function_name}.log"
        command = ["cargo", "lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port", str(port)]
        command += ["--ignore-changes", "--env-file", str(env_file), "--timeout", str(int(fn.timeout) + 5)]
        process_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        # cargo-lambda is installed beside this Python (tests/requirements.txt).
        process_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), process_env.get("PATH", "")])
        process_env["RUST_LOG"] = os.environ.get("RUST_LOG", "info")
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                command, cwd=self.workspace, env=process_env, stdout=log, stderr=subprocess.STDOUT
            )
        return Watch(binary, env, port, process, log_path, env_file)

    @staticmethod
    def _wait_until_listening(watch: Watch, fn: LambdaFunction) -> None:
        """Every caller waits until the watch accepts connections, not only the one that started
        it: a second event arriving meanwhile must not be refused (Lambda has cold starts, never a
        refused connection)."""
        deadline = time.time() + 300
        while not watch.listening:
            try:
                socket.create_connection(("127.0.0.1", watch.port), timeout=1).close()
                watch.listening = True
            except OSError:
                if watch.process.poll() is not None or time.time() > deadline:
                    raise RuntimeError(
                        f"cargo lambda watch for {fn.function_name} did not start; see {watch.log_path}"
                    ) from None
                time.sleep(0.2)

    def stop(self) -> None:
        with self._lock:
            for watch in self.watches.values():
                watch.stop()
            self.watches.clear()

    # ---- invocations ----

    def run(self, fn: LambdaFunction, payload: bytes) -> Outcome:
        try:
            watch = self.watch_for(fn)
        except RuntimeError as err:
            # The runtime never came up: Lambda reports such an invocation as a function error.
            failed = Outcome(
                200, json.dumps({"errorType": "Runtime.ExitError", "errorMessage": str(err)}).encode(), "Unhandled"
            )
            self.invocations.append({"function": fn.function_name, "functionError": "Unhandled", "error": str(err)})
            return failed
        request = urllib.request.Request(
            watch.url(), data=payload or b"{}", method="POST", headers={"Content-Type": "application/json"}
        )
        record: dict[str, Any] = {
            "function": fn.function_name,
            "binary": watch.binary,
            "started": time.time(),
            "event": describe_event(payload),
        }
        try:
            with urllib.request.urlopen(request, timeout=int(fn.timeout) + 30) as response:
                outcome = Outcome(200, response.read())
        except urllib.error.HTTPError as err:
            # The function failed (cargo lambda answers the runtime's error with a 5xx):
            # Lambda answers 200 with X-Amz-Function-Error and the error document.
            outcome = Outcome(200, err.read() or b'{"errorType":"Unhandled"}', "Unhandled")
        except OSError as err:
            outcome = Outcome(
                200, json.dumps({"errorType": "Runtime.ExitError", "errorMessage": str(err)}).encode(), "Unhandled"
            )
        watch.last_used, watch.active = time.time(), watch.active - 1
        record.update(
            finished=time.time(),
            functionError=outcome.function_error,
            response=outcome.payload[:1000].decode("utf-8", "replace"),
        )
        self.invocations.append(record)
        return outcome

    def invoke_async(self, fn: LambdaFunction, payload: bytes) -> None:
        threading.Thread(target=self._run_async, args=(fn, payload), daemon=True).start()

    def _run_async(self, fn: LambdaFunction, payload: bytes) -> None:
        config = fn.event_invoke_config[0].config if fn.event_invoke_config else {}
        retries = int(config.get("MaximumRetryAttempts", 2))
        request_id = str(uuid.uuid4())
        outcome = Outcome(200, b"")
        attempts = 0
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(attempt * RETRY_SECONDS_PER_MINUTE)
            attempts += 1
            outcome = self.run(fn, payload)
            if outcome.function_error is None:
                destination = (config.get("DestinationConfig") or {}).get("OnSuccess", {}).get("Destination")
                if destination:
                    self._record(fn, destination, request_id, payload, outcome, "Success", attempts)
                return
        destination = (config.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
        if destination:
            self._record(fn, destination, request_id, payload, outcome, "RetriesExhausted", attempts)

    @staticmethod
    def _record(
        fn: LambdaFunction,
        destination: str,
        request_id: str,
        payload: bytes,
        outcome: Outcome,
        condition: str,
        attempts: int,
    ) -> None:
        """AWS's invocation record (Lambda developer guide, "Capturing records of asynchronous invocations")."""
        try:
            request_payload = json.loads(payload or b"{}")
        except ValueError:
            request_payload = payload.decode("utf-8", "replace")
        try:
            response_payload = json.loads(outcome.payload or b"null")
        except ValueError:
            response_payload = outcome.payload.decode("utf-8", "replace")
        record = {
            "version": "1.0",
            "timestamp": iso(time.time()),
            "requestContext": {
                "requestId": request_id,
                "functionArn": f"{fn.function_arn}:$LATEST",
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "requestPayload": request_payload,
            "responseContext": {"statusCode": outcome.status, "executedVersion": "$LATEST"}
            | ({"functionError": outcome.function_error} if outcome.function_error else {}),
            "responsePayload": response_payload,
        }
        parts = destination.split(":")
        if parts[2] != "sqs":
            return  # SNS, Lambda and EventBridge destinations are not emulated; SQS is what our template uses
        sqs_backends[parts[4]][parts[3]].send_message(parts[5], json.dumps(record))


def _create_function(original: Any) -> Any:
    def create(
        cls: Any,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        fn = original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        _declare(fn, cloudformation_json.get("Properties") or {}, kwargs.get("StackId"), kwargs.get("LogicalId"))
        return fn

    return classmethod(create)


def _update_function(original: Any) -> Any:
    def update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        fn = original.__func__(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        stack_id, logical_id = getattr(original_resource, "declared_origin", (None, None))
        _declare(fn, cloudformation_json.get("Properties") or {}, stack_id, logical_id)
        return fn

    return classmethod(update)


def _declare(fn: LambdaFunction, properties: dict[str, Any], stack_id: str | None, logical_id: str | None) -> None:
    # moto's CloudFormation Lambda keeps neither the architecture nor the logging configuration.
    fn.architectures = properties.get("Architectures") or ["x86_64"]
    fn.declared_logging = properties.get("LoggingConfig") or {}  # type: ignore[attr-defined]
    fn.declared_origin = (stack_id, logical_id)  # type: ignore[attr-defined]
    metadata = cloudformation.declared_metadata.get((stack_id or "", logical_id or ""), {})
    fn.declared_binary = (metadata.get("BuildProperties") or {}).get("Binary")  # type: ignore[attr-defined]


def install() -> None:
    LambdaFunction.create_from_cloudformation_json = _create_function(LambdaFunction.create_from_cloudformation_json)  # type: ignore[method-assign]
    LambdaFunction.update_from_cloudformation_json = _update_function(LambdaFunction.update_from_cloudformation_json)  # type: ignore[method-assign]

"""The WSGI front: control endpoints, fault injection, our operations, then moto."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from moto.core import DEFAULT_ACCOUNT_ID

from . import cloudformation, cloudwatch_cbor, health, lambdas
from .events import Rule
from .protocol import (
    AwsError,
    ec2_error,
    json_error,
    json_response,
    nested,
    query_error,
    query_params,
    query_response,
    signing_scope,
)
from .sns import SNS_NS
from .world import World

Response = tuple[int, dict[str, str], bytes]

STATUS_TEXT = {
    200: "OK",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Router:
    def __init__(self, world: World, moto_app: Callable[..., Iterable[bytes]]) -> None:
        self.world = world
        self.moto_app = moto_app
        w = world
        self.autoscaling_ops: dict[str, Callable[[str, str, dict[str, Any]], dict[str, Any]]] = {
            "StartInstanceRefresh": w.autoscaling.start,
            "DescribeInstanceRefreshes": w.autoscaling.describe,
            "CancelInstanceRefresh": w.autoscaling.cancel,
            "RollbackInstanceRefresh": w.autoscaling.rollback,
            "CompleteLifecycleAction": w.autoscaling.complete,
            "RecordLifecycleActionHeartbeat": w.autoscaling.heartbeat,
            "PutWarmPool": w.autoscaling.warm.put,
            "DescribeWarmPool": w.autoscaling.warm.describe,
            "DeleteWarmPool": w.autoscaling.warm.delete,
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if path.startswith("/_emulator"):
            status, headers, payload = self.control(environ.get("REQUEST_METHOD", "GET"), path, body)
        else:
            with self.world.serving():
                status, headers, payload = self.aws(environ, body)
        start_response(f"{status} {STATUS_TEXT.get(status, 'Status')}", list(headers.items()))
        return [payload]

    # ---------- AWS traffic ----------

    def aws(self, environ: dict[str, Any], body: bytes) -> Response:
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        service, region = signing_scope(headers)
        region = region or "us-east-1"
        invoked = lambdas.INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if service == "lambda" and invoked and environ.get("REQUEST_METHOD") == "POST":
            self.world.count_call(headers, "lambda:Invoke")
            answer = self.invoke(DEFAULT_ACCOUNT_ID, region, unquote(invoked.group(1)), headers, body)
            if answer is not None:
                return answer
        target = headers.get("x-amz-target")
        flat: dict[str, str] = {}
        params: dict[str, Any] = {}
        # CloudWatch over Smithy RPC v2 CBOR (aws-sdk-cloudwatch >= 1.100): the operation is in the path.
        rpc = cloudwatch_cbor.rpc_operation(environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET"))
        if rpc is not None:
            service, operation = service or cloudwatch_cbor.SIGNING_NAME, rpc
        elif target:
            operation = target.split(".")[-1]
            params = json.loads(body or b"{}")
        else:
            flat = query_params(body, environ.get("QUERY_STRING", ""))
            operation = flat.get("Action")
            params = nested(flat)
        self.world.count_call(headers, f"{service}:{operation or 'REST'}")
        delay, fault = self.world.faults.check(service, operation)
        if delay:
            time.sleep(delay)
        if fault is not None:
            if rpc is not None:
                return cloudwatch_cbor.cbor_error(fault, rpc)
            return self.error(service, bool(target), fault, operation)
        account = DEFAULT_ACCOUNT_ID
        with self.world.lock:
            self.world.tick()
            cloudwatch = self.world.cloudwatch
            if rpc is not None:
                return cloudwatch.answer_cbor(rpc, body, account, region, environ, self.call_moto)
            if service == cloudwatch_cbor.SIGNING_NAME and operation in cloudwatch_cbor.OWN_OPERATIONS:
                if target:
                    return cloudwatch.answer_json(operation, params, account, region, environ, self.call_moto)
                # awsQuery: moto answers; the alarm is then stamped with the emulator's clock and recorded.
                return cloudwatch.observe(operation, params, account, region, lambda: self.call_moto(environ))
            try:
                if service == "autoscaling" and operation in self.autoscaling_ops:
                    return query_response(operation, self.autoscaling_ops[operation](account, region, params))
                if service == "autoscaling" and operation == "SetDesiredCapacity":
                    answer = self.world.autoscaling.warm.set_desired(account, region, params)
                    if answer is not None:
                        return query_response(operation, answer)
                if service == "codepipeline":
                    answer = self.codepipeline(operation, account, region, params, headers)
                    if answer is not None:
                        return json_response(answer)
                if service == "sns" and operation == "Publish":
                    # Validated as AWS does, recorded, then delivered by moto (patched, see sns.py).
                    return self.world.sns.publish(account, region, flat, lambda: self.call_moto(environ))
            except AwsError as err:
                return self.error(service, bool(target), err)
            if service == "cloudformation":
                cloudformation.request_region.set(region)
            response = self.call_moto(environ)
            if (
                service == "autoscaling"
                and operation in ("CreateAutoScalingGroup", "UpdateAutoScalingGroup")
                and response[0] == 200
            ):
                self.world.autoscaling.remember_group_settings(account, region, operation, params)
            if (
                service == "autoscaling"
                and operation == "PutLifecycleHook"
                and response[0] == 200
                and "NotificationMetadata" in params
            ):
                key = (account, region, params.get("AutoScalingGroupName"), params.get("LifecycleHookName"))
                self.world.autoscaling.hook_metadata[key] = params["NotificationMetadata"]
            return response

    def invoke(self, account: str, region: str, name: str, headers: dict[str, str], body: bytes) -> Response | None:
        """Invoke of a function the emulator runs (lambdas.py); None leaves it to moto. Served
        outside the world's lock: the function calls back into the emulator."""
        delay, fault = self.world.faults.check("lambda", "Invoke")
        if delay:
            time.sleep(delay)
        if fault is not None:
            return json_error(fault)
        with self.world.lock:
            fn = self.world.lambdas.find(account, region, name)
        if not self.world.lambdas.serves(fn):
            return None
        assert fn is not None
        kind = headers.get("x-amz-invocation-type", "RequestResponse")
        if kind == "DryRun":
            return 204, {}, b""
        if kind == "Event":
            self.world.lambdas.invoke_async(fn, body)
            return 202, {"Content-Type": "application/json"}, b""
        outcome = self.world.lambdas.run(fn, body)
        answer_headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        if outcome.function_error:
            answer_headers["X-Amz-Function-Error"] = outcome.function_error
        return outcome.status, answer_headers, outcome.payload

    def codepipeline(
        self, operation: str | None, account: str, region: str, params: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any] | None:
        cp = self.world.codepipeline
        if operation == "PutJobSuccessResult":
            return cp.put_job_success_result(params)
        if operation == "PutJobFailureResult":
            return cp.put_job_failure_result(params)
        if operation == "GetJobDetails":
            return cp.get_job_details(params)
        pipelines = self.world.pipelines
        if operation == "StartPipelineExecution":
            return {"pipelineExecutionId": pipelines.start(account, region, params.get("name")).id}
        if operation == "ListPipelineExecutions":
            return pipelines.list_executions(account, region, params)
        if operation == "GetPipelineExecution":
            played = pipelines.find(params.get("pipelineName"), params.get("pipelineExecutionId"))
            return pipelines.get_execution(played) if played else cp.get_pipeline_execution(params)
        if operation == "GetPipelineState":
            declaration = cp.pipeline(account, region, params.get("name"))
            if pipelines.of(declaration["name"]):
                return pipelines.state(declaration)
            return cp.get_pipeline_state(account, region, params)
        if operation == "PutApprovalResult":
            caller = re.search(r"Credential=([^/]+)/", headers.get("authorization", ""))
            return cp.put_approval_result(account, region, params, caller.group(1) if caller else None)
        return None

    @staticmethod
    def error(service: str | None, json_protocol: bool, err: AwsError, operation: str | None = None) -> Response:
        if json_protocol and service == cloudwatch_cbor.SIGNING_NAME:
            return cloudwatch_cbor.json_error(err, operation)  # awsJson 1.0 with the awsQuery code header
        if json_protocol:
            return json_error(err)
        if service == "ec2":
            return ec2_error(err)
        if service == "sns":
            return query_error(err, SNS_NS)
        return query_error(err)

    def call_moto(self, environ: dict[str, Any]) -> Response:
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"], captured["headers"] = int(status.split()[0]), dict(headers)

        chunks = self.moto_app(environ, start_response)
        try:
            payload = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        # The length is recomputed for the body we send, except on HEAD: there it is the
        # object's size, which S3 clients read (the AWS CLI fails on a HEAD Object without it).
        keep_length = environ.get("REQUEST_METHOD") == "HEAD"
        headers = {k: v for k, v in captured["headers"].items() if keep_length or k.lower() != "content-length"}
        return captured["status"], headers, payload

    # ---------- control endpoints ----------

    def control(self, method: str, path: str, body: bytes) -> Response:
        try:
            spec = json.loads(body) if body else {}
            with self.world.lock:
                result = self.dispatch(method, path[len("/_emulator") :], spec)
            if result is None:
                return (
                    404,
                    {"Content-Type": "application/json"},
                    json.dumps({"error": f"no control endpoint {method} {path}"}).encode(),
                )
            return 200, {"Content-Type": "application/json"}, json.dumps(result, default=str).encode()
        except (ValueError, KeyError, AwsError) as err:
            return 400, {"Content-Type": "application/json"}, json.dumps({"error": str(err)}).encode()

    def dispatch(self, method: str, path: str, spec: dict[str, Any]) -> Any:
        w = self.world
        account, region = spec.get("account", DEFAULT_ACCOUNT_ID), spec.get("region", "us-east-1")
        route = (method, path)
        if route != ("POST", "/reset"):
            w.tick()  # every answer reflects the current time, as AWS's would
        if route == ("GET", "/health"):
            return {"ok": True}
        if route == ("POST", "/reset"):
            w.reset()
            return {"ok": True}
        if route == ("GET", "/clock"):
            return {"now": w.clock.now()}
        if route == ("POST", "/clock/advance"):
            w.advance(float(spec["seconds"]))
            return {"now": w.clock.now()}
        if route == ("POST", "/settle"):
            return w.settle(float(spec.get("maxSeconds", 7200)))
        if route == ("GET", "/refreshes"):
            return [w.autoscaling.render(r) for r in w.autoscaling.refreshes]
        if route == ("GET", "/lifecycle-actions"):
            return [a.describe() for a in w.autoscaling.actions]
        if route == ("POST", "/codepipeline/jobs"):
            if "event" in spec:
                job = w.codepipeline.register_event(account, region, spec["event"])
                return {"jobId": job.id, "event": spec["event"]}
            job = w.codepipeline.create_job(account, region, spec)
            return {"jobId": job.id, "event": job.event()}
        if method == "GET" and path.startswith("/codepipeline/jobs/"):
            job = w.codepipeline.jobs.get(path.rsplit("/", 1)[-1])
            if job is None:
                raise ValueError(f"no job {path.rsplit('/', 1)[-1]}")
            return {**job.describe(), "event": job.event()}
        if route == ("POST", "/codepipeline/pipelines"):
            return w.codepipeline.create_pipeline(account, region, spec)
        if route == ("POST", "/codepipeline/sources"):
            w.pipelines.register_source(spec["repositoryId"], spec["path"])
            return {"ok": True}
        if route == ("POST", "/codepipeline/webhook"):
            return {"started": w.pipelines.webhook(account, region, spec["repositoryId"], spec["branch"])}
        if route == ("GET", "/boots"):
            return [b.describe() for b in w.boot.records]
        if route == ("GET", "/codepipeline/executions"):
            return [
                {**e.summary(), "pipelineName": e.pipeline, "stages": e.stage_status, "variables": e.variables}
                for e in w.pipelines.executions
            ]
        if route == ("POST", "/codepipeline/approvals"):
            return w.codepipeline.start_approval(account, region, spec).describe()
        if route == ("GET", "/codepipeline/approvals"):
            return [a.describe() for a in w.codepipeline.approvals]
        if route == ("GET", "/sns/published"):
            return w.sns.published
        if route == ("GET", "/events"):
            return w.events.events
        if route == ("POST", "/events"):
            # An event as an AWS service would emit it, through the same bus (tests, the local run).
            return w.events.emit(
                spec["detailType"],
                spec["source"],
                spec.get("detail", {}),
                account=account,
                region=region,
                now=w.clock.now(),
                resources=spec.get("resources"),
            )
        if route == ("GET", "/events/deliveries"):
            return w.events.deliveries
        if route == ("GET", "/lambda/invocations"):
            return w.lambdas.invocations
        if route == ("GET", "/lambda/event-source-deliveries"):
            return w.event_sources.deliveries
        if route == ("POST", "/rules"):
            w.events.add_rule(Rule(url=spec["url"], detail_type=spec.get("detailType"), source=spec.get("source")))
            return {"ok": True}
        if route == ("GET", "/rules"):
            return [
                {"url": r.url, "detailType": r.detail_type, "source": r.source, "deliveries": r.deliveries}
                for r in w.events.rules
            ]
        if route == ("POST", "/faults"):
            return w.faults.add(spec).describe()
        if route == ("GET", "/faults"):
            return [f.describe() for f in w.faults.faults]
        if route == ("DELETE", "/faults"):
            w.faults.reset()
            return {"ok": True}
        if route == ("POST", "/health/instance"):
            health.set_instance(spec["instanceId"], spec["status"], spec.get("systemStatus"), spec.get("forSeconds"))
            return {"ok": True}
        if route == ("POST", "/ec2/visibility"):
            health.set_visibility_delay(float(spec["delaySeconds"]))
            return {"ok": True}
        if route == ("POST", "/health/target"):
            health.set_target(spec["targetGroupArn"], spec["instanceId"], spec["state"], spec.get("reason"))
            return {"ok": True}
        return None

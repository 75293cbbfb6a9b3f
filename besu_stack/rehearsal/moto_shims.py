"""The one place where moto's gaps are shimmed, for Terraform applies and Lambda runs against it.

moto (server mode) stands in for an AWS account in the Terraform tests and in ``besu-stack
rehearse``. Where it lacks something the AWS provider or our Lambdas need, a shim below fills the
gap; each is named after the moto behaviour it works around, and nothing else about moto is
changed. The server is moto's own WSGI application with this middleware in front of it:

* :func:`managed_policies_not_loaded`: moto loads the AWS managed IAM policies only when
  ``MOTO_IAM_LOAD_MANAGED_POLICIES=true`` (attaching one otherwise fails with NoSuchEntity).
* :func:`bucket_policy_conditions_ignored`: moto enforces a bucket policy's ``Deny`` statements
  but ignores their ``Condition``, so the usual TLS-only statement (deny when
  ``aws:SecureTransport`` is false) denies every request. Statements with a condition are left
  out of moto's evaluation, which gives AWS's answer for requests over TLS (all of ours).
* :class:`EcsEmptyNetworkConfiguration`: an ECS service without awsvpc networking is reported
  with ``"networkConfiguration": {}``; real ECS omits the field, and provider 5.100's reader
  dereferences a nil ``AwsvpcConfiguration`` on the empty object (``flattenNetworkConfiguration``
  in ``internal/service/ecs/service.go``) and crashes. The empty object is removed.
* :class:`NoDlmBackend`: moto has no Data Lifecycle Manager; the provider's create then retries
  until it times out. A minimal in-memory DLM serves the calls the provider makes
  (Create/Get/Update/DeleteLifecyclePolicy, Tag/Untag/ListTagsForResource).
* :class:`NoCompleteLifecycleAction`: moto does not implement Auto Scaling's
  ``CompleteLifecycleAction`` nor ``RecordLifecycleActionHeartbeat``; the shim answers both as
  AWS does and records each call, which the lifecycle drill reads back
  (``GET /_besu_stack/lifecycle-actions``).
* :class:`LambdaRunsOnlyInDocker`: moto executes Lambda invocations only in Docker, which these
  machines lack; the shim runs the function's deployed package with its configured handler and
  environment in a local Python process against this server
  (:mod:`besu_stack.rehearsal.lambda_executor`). Output is kept for ``GET
  /_besu_stack/lambda-invocations``.

Run it as ``python -m besu_stack.rehearsal.moto_shims --port 4566``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from besu_stack.rehearsal.lambda_executor import Invocation, run_function

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
SHIM_PREFIX = "/_besu_stack/"

_SCOPE_RE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/")


def managed_policies_not_loaded() -> None:
    """Make moto load the AWS managed IAM policies (it does only when asked)."""
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"


def bucket_policy_conditions_ignored() -> None:
    """Evaluate bucket policies in moto without the statements whose conditions it ignores."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(bucket: Any, action: str, resource: str) -> Any:
        if bucket.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(bucket.policy)
        statements = document.get("Statement", [])
        statements = [statements] if isinstance(statements, dict) else statements
        document["Statement"] = [st for st in statements if "Condition" not in st]
        if not document["Statement"]:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign,assignment]


def _signing_scope(environ: dict[str, Any]) -> tuple[str, str]:
    """(region, service) from the request's SigV4 credential scope, or ("", "")."""
    match = _SCOPE_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return (match["region"], match["service"]) if match else ("", "")


def _body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    data: bytes = environ["wsgi.input"].read(length) if length else b""
    return data


def _respond(
    start_response: Callable[..., Any],
    status: int,
    payload: object,
    content_type: str = "application/json",
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    reasons = {200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request", 404: "Not Found"}
    start_response(
        f"{status} {reasons.get(status, 'Status')}",
        [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers],
    )
    return [body]


class NoDlmBackend:
    """An in-memory Data Lifecycle Manager with the calls the AWS provider makes."""

    def __init__(self) -> None:
        self.policies: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def handles(self, environ: dict[str, Any]) -> bool:
        """Whether the request is signed for the ``dlm`` service."""
        return _signing_scope(environ)[1] == "dlm"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """Serve one DLM REST-JSON request."""
        region, _ = _signing_scope(environ)
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        body = json.loads(_body(environ) or b"{}")
        with self.lock:
            if path == "/policies" and method == "POST":
                policy_id = "policy-" + uuid.uuid4().hex[:17]
                now = datetime.now(UTC).isoformat()
                self.policies[policy_id] = {
                    "PolicyId": policy_id,
                    "PolicyArn": f"arn:aws:dlm:{region}:123456789012:policy/{policy_id}",
                    "Description": body.get("Description", ""),
                    "State": body.get("State", "ENABLED"),
                    "StatusMessage": "ENABLED",
                    "ExecutionRoleArn": body.get("ExecutionRoleArn", ""),
                    "PolicyDetails": body.get("PolicyDetails", {}),
                    "Tags": body.get("Tags", {}),
                    "DateCreated": now,
                    "DateModified": now,
                    "DefaultPolicy": False,
                }
                return _respond(start_response, 200, {"PolicyId": policy_id})
            if path == "/policies" and method == "GET":
                summaries = [
                    {k: p[k] for k in ("PolicyId", "Description", "State", "Tags", "PolicyType")}
                    for p in self.policies.values()
                    if "PolicyType" in p
                ]
                return _respond(start_response, 200, {"Policies": summaries})
            if path.startswith("/policies/"):
                policy = self.policies.get(unquote(path.removeprefix("/policies/")))
                if policy is None:
                    error = {"Message": "policy not found", "Code": "ResourceNotFoundException"}
                    return _respond(
                        start_response,
                        404,
                        error,
                        headers=[("x-amzn-ErrorType", "ResourceNotFoundException")],
                    )
                if method == "GET":
                    return _respond(start_response, 200, {"Policy": policy})
                if method == "PATCH":
                    for field in ("Description", "State", "ExecutionRoleArn", "PolicyDetails"):
                        if field in body:
                            policy[field] = body[field]
                    policy["DateModified"] = datetime.now(UTC).isoformat()
                    return _respond(start_response, 200, {})
                if method == "DELETE":
                    del self.policies[policy["PolicyId"]]
                    return _respond(start_response, 200, {})
            if path.startswith("/tags/"):
                return self._tags(
                    unquote(path.removeprefix("/tags/")), method, body, environ, start_response
                )
        return _respond(start_response, 400, {"Message": f"unsupported DLM call {method} {path}"})

    def _tags(
        self,
        arn: str,
        method: str,
        body: dict[str, Any],
        environ: dict[str, Any],
        start_response: Callable[..., Any],
    ) -> list[bytes]:
        policy = next((p for p in self.policies.values() if p["PolicyArn"] == arn), None)
        if policy is None:
            return _respond(start_response, 404, {"Message": "resource not found"})
        if method == "GET":
            return _respond(start_response, 200, {"Tags": policy["Tags"]})
        if method == "POST":
            policy["Tags"].update(body.get("Tags", {}))
            return _respond(start_response, 200, {})
        keys = re.findall(r"tagKeys=([^&]+)", environ.get("QUERY_STRING", ""))
        for key in keys:
            policy["Tags"].pop(unquote(key), None)
        return _respond(start_response, 200, {})


class NoCompleteLifecycleAction:
    """Answers ``CompleteLifecycleAction`` and ``RecordLifecycleActionHeartbeat``, recording each."""

    actions = ("CompleteLifecycleAction", "RecordLifecycleActionHeartbeat")

    def __init__(self) -> None:
        self.calls: list[dict[str, str]] = []

    def handles(self, environ: dict[str, Any], body: bytes) -> bool:
        """Whether this is one of those Auto Scaling calls (Query protocol)."""
        return _signing_scope(environ)[1] == "autoscaling" and any(
            f"Action={action}&".encode() in body + b"&" for action in self.actions
        )

    def __call__(self, body: bytes, start_response: Callable[..., Any]) -> list[bytes]:
        """Record the call and answer with the documented empty result."""
        fields = dict(
            (unquote(k), unquote(v.replace("+", " ")))
            for k, _, v in (pair.partition("=") for pair in body.decode().split("&"))
        )
        action = fields.pop("Action")
        fields.pop("Version", None)
        self.calls.append({"Action": action, **fields})
        xml = (
            f'<{action}Response xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">'
            f"<{action}Result/><ResponseMetadata><RequestId>"
            f"{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>"
        ).encode()
        return _respond(start_response, 200, xml, content_type="text/xml")


class EcsEmptyNetworkConfiguration:
    """Drops ``"networkConfiguration": {}`` from ECS service objects in moto's answers."""

    targets = ("CreateService", "DescribeServices", "UpdateService", "DeleteService")

    def handles(self, environ: dict[str, Any]) -> bool:
        """Whether this is one of the ECS calls that return service objects."""
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        return target.startswith("AmazonEC2ContainerService") and target.endswith(self.targets)

    @staticmethod
    def clean(payload: bytes) -> bytes:
        """The same JSON answer without empty network configurations."""
        data = json.loads(payload)

        def strip(node: Any) -> Any:
            if isinstance(node, dict):
                return {
                    k: strip(v)
                    for k, v in node.items()
                    if not (k == "networkConfiguration" and v == {})
                }
            if isinstance(node, list):
                return [strip(v) for v in node]
            return node

        return json.dumps(strip(data)).encode()


class LambdaRunsOnlyInDocker:
    """Runs ``Invoke`` of a function's deployed package locally (moto would need Docker)."""

    _PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")

    def __init__(self, endpoint: Callable[[], str]) -> None:
        self.endpoint = endpoint
        self.invocations: list[Invocation] = []

    def handles(self, environ: dict[str, Any]) -> bool:
        """Whether this is a Lambda ``Invoke`` call."""
        return environ["REQUEST_METHOD"] == "POST" and bool(
            self._PATH.match(environ.get("PATH_INFO", ""))
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """Run the function once on the request's payload and answer as Lambda does."""
        from moto.awslambda.models import lambda_backends
        from moto.core.models import DEFAULT_ACCOUNT_ID

        region, _ = _signing_scope(environ)
        match = self._PATH.match(environ["PATH_INFO"])
        assert match is not None
        name = unquote(match["name"])
        payload = _body(environ)
        try:
            function = lambda_backends[DEFAULT_ACCOUNT_ID][region].get_function(name)
        except Exception:  # moto raises its own not-found type; answer as Lambda does
            return _respond(
                start_response,
                404,
                {"Message": f"Function not found: {name}", "Type": "User"},
                headers=[("x-amzn-ErrorType", "ResourceNotFoundException")],
            )
        invocation = run_function(
            function_name=function.function_name,
            code_zip=function.code_bytes,
            handler=str(function.handler),
            environment=dict(function.environment_vars or {}),
            timeout_seconds=int(function.timeout or 3),
            event=payload,
            endpoint=self.endpoint(),
            region=region,
        )
        self.invocations.append(invocation)
        headers = [("X-Amz-Executed-Version", "$LATEST")]
        if invocation.function_error:
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        if environ.get("HTTP_X_AMZ_INVOCATION_TYPE") == "Event":
            return _respond(start_response, 202, b"", headers=headers)
        return _respond(start_response, 200, invocation.result, headers=headers)


class ShimmedMoto:
    """moto's WSGI application behind the shims above."""

    def __init__(self, moto_app: WsgiApp, endpoint: Callable[[], str]) -> None:
        self.moto_app = moto_app
        self.dlm = NoDlmBackend()
        self.lifecycle_actions = NoCompleteLifecycleAction()
        self.ecs = EcsEmptyNetworkConfiguration()
        self.lambdas = LambdaRunsOnlyInDocker(endpoint)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Route one request to a shim or to moto."""
        path = environ.get("PATH_INFO", "")
        if path.startswith(SHIM_PREFIX):
            return self._report(path.removeprefix(SHIM_PREFIX), environ, start_response)
        if self.dlm.handles(environ):
            return self.dlm(environ, start_response)
        if self.lambdas.handles(environ):
            return self.lambdas(environ, start_response)
        if _signing_scope(environ)[1] == "autoscaling":
            body = _body(environ)
            if self.lifecycle_actions.handles(environ, body):
                return self.lifecycle_actions(body, start_response)
            environ["wsgi.input"] = _Replay(body)
        if self.ecs.handles(environ):
            return self._rewrite(environ, start_response, self.ecs.clean)
        return self.moto_app(environ, start_response)

    def _rewrite(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        transform: Callable[[bytes], bytes],
    ) -> list[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured.update(status=status, headers=headers)

        body = b"".join(self.moto_app(environ, capture))
        if captured["status"].startswith("200"):
            body = transform(body)
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def _report(
        self, name: str, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        if name == "lifecycle-actions":
            return _respond(start_response, 200, self.lifecycle_actions.calls)
        if name == "lambda-invocations":
            return _respond(start_response, 200, [i.as_json() for i in self.lambdas.invocations])
        if name == "reset" and environ["REQUEST_METHOD"] == "POST":
            self.dlm.policies.clear()
            self.lifecycle_actions.calls.clear()
            self.lambdas.invocations.clear()
            return _respond(start_response, 200, {})
        return _respond(start_response, 404, {"Message": f"no shim report {name}"})


class _Replay:
    """A WSGI input stream that serves bytes already read."""

    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.offset + size
        chunk, self.offset = self.data[self.offset : end], min(end, len(self.data))
        return chunk

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


def main(argv: list[str] | None = None) -> None:
    """Serve moto with the shims on ``--host``/``--port`` until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args(argv)
    managed_policies_not_loaded()
    bucket_policy_conditions_ignored()

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    endpoint = f"http://{args.host}:{args.port}"
    app = ShimmedMoto(DomainDispatcherApplication(create_backend_app), lambda: endpoint)
    run_simple(args.host, args.port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()

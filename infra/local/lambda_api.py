"""The local Lambda service: the Invoke API and the endpoints moto's SNS delivers to.

The Invoke API serves `POST /2015-03-31/functions/{FunctionName}/invocations` as
`sam local start-lambda` does, so `aws lambda invoke --endpoint-url ...` and boto3's
Lambda client work unchanged. Errors take the shapes of the Lambda API reference: the
error code in the `x-amzn-ErrorType` header, and a function error as 200 with the
`X-Amz-Function-Error` header.
"""

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from chalicelib.errors import VentanillaError
from infra.local.config import ACCOUNT_ID, REGION
from infra.local.functions import AsyncInvoker, FunctionRegistry
from infra.local.sns import DELIVERY_PATH, Subscription, lambda_event

logger = logging.getLogger(__name__)

INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")


class LambdaService:
    """WSGI app of the Lambda server: invokes handlers by API call or SNS delivery."""

    def __init__(
        self,
        registry: FunctionRegistry,
        invoker: AsyncInvoker,
        subscriptions: dict[str, Subscription],
        confirm_subscription: Callable[..., Any],
    ) -> None:
        self.registry = registry
        self.invoker = invoker
        # Filled in after the server listens, so that moto's first delivery can reach it.
        self.subscriptions = subscriptions
        self.confirm_subscription = confirm_subscription
        self.url_map = Map(
            [
                Rule(
                    "/2015-03-31/functions/<path:function_name>/invocations",
                    methods=["POST"],
                    endpoint="invoke",
                ),
                Rule(f"{DELIVERY_PATH}<name>", methods=["POST"], endpoint="sns"),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, values = self.url_map.bind_to_environ(environ).match()
        except HTTPException as error:
            message = f"{request.method} {request.path} is not an operation of this service"
            response = _lambda_error(error.code or 404, "UnknownOperationException", message)
            return response(environ, start_response)
        if endpoint == "invoke":
            return self.invoke(request, **values)(environ, start_response)
        return self.deliver_sns(request, **values)(environ, start_response)

    def invoke(self, request: Request, function_name: str) -> Response:
        """Handle one Invoke API call."""
        name = self.registry.resolve(function_name, request.args.get("Qualifier"))
        if name is None:
            message = f"Function not found: {_function_arn(function_name, request)}"
            return _lambda_error(404, "ResourceNotFoundException", message)
        invocation_type = request.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if invocation_type not in INVOCATION_TYPES:
            message = f"InvocationType {invocation_type!r} is invalid; expected one of " + (
                ", ".join(INVOCATION_TYPES)
            )
            return _lambda_error(400, "InvalidParameterValueException", message)
        try:
            event = _payload(request.get_data())
        except (ValueError, RecursionError) as error:
            message = f"Could not parse request body into json: {type(error).__name__}"
            return _lambda_error(400, "InvalidRequestContentException", message)

        if invocation_type == "DryRun":
            return Response(status=204)
        if invocation_type == "Event":
            self.invoker.submit(name, event, source="asynchronous invocation")
            return Response(status=202)
        return self._invoke_now(name, event)

    def _invoke_now(self, name: str, event: Any) -> Response:
        request_id = str(uuid.uuid4())
        headers = {"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": request_id}
        started = time.monotonic()
        try:
            result = self.registry.invoke(name, event, request_id)
        except Exception as error:  # Lambda returns whatever a handler raises to the caller.
            # The app logs its own errors as structured lines without personal
            # data; a traceback would repeat the chained pydantic error, which
            # quotes the input, so only unexpected errors get one.
            logger.error(
                "%s: invocation failed with %s",
                name,
                type(error).__name__,
                exc_info=None if isinstance(error, VentanillaError) else error,
            )
            return _function_error(type(error).__name__, str(error), headers)
        try:
            body = json.dumps(result)
        except (TypeError, ValueError) as error:
            logger.error("%s: result is not JSON serializable: %s", name, error)
            return _function_error(
                "Runtime.MarshalError", f"Unable to marshal response: {error}", headers
            )
        elapsed = (time.monotonic() - started) * 1000
        logger.info("%s: invoked in %.0f ms", name, elapsed)
        return Response(body, status=200, headers=headers, content_type="application/json")

    def deliver_sns(self, request: Request, name: str) -> Response:
        """Accept one HTTP delivery from moto's SNS and queue it for the handler."""
        subscription = self.subscriptions.get(name)
        if subscription is None:
            return Response(f"no SNS subscription for {name}", status=404)
        try:
            notification = json.loads(request.get_data())
            if notification.get("TopicArn") != subscription.topic_arn:
                return Response(f"{name} is not subscribed to this topic", status=400)
            kind = notification.get("Type")
            if kind == "SubscriptionConfirmation":
                return self._confirm(notification)
            if kind != "Notification":
                logger.info("%s: SNS message of type %s ignored", name, kind)
                return Response(status=200)
            event = lambda_event(notification, subscription.subscription_arn)
        except (ValueError, KeyError, AttributeError) as error:
            logger.warning("%s: invalid SNS delivery ignored: %r", name, error)
            return Response("invalid SNS notification", status=400)
        source = f"SNS message {notification['MessageId']}"
        self.invoker.submit(name, event, source=source)
        return Response(status=200)

    def _confirm(self, notification: dict[str, Any]) -> Response:
        # NOTE: moto 5.2.1 confirms HTTP subscriptions itself and sends no confirmation.
        # This path has not run against an SNS that sends one.
        self.confirm_subscription(TopicArn=notification["TopicArn"], Token=notification["Token"])
        logger.info("SNS subscription to %s confirmed", notification["TopicArn"])
        return Response(status=200)


def _payload(data: bytes) -> Any:
    """Parse an Invoke payload; an empty one is `{}`, as Lambda passes it."""
    if not data.strip():
        return {}
    return json.loads(data)


def _function_arn(function_name: str, request: Request) -> str:
    arn = function_name
    if not arn.startswith("arn:"):
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
    qualifier = request.args.get("Qualifier")
    return f"{arn}:{qualifier}" if qualifier else arn


def _lambda_error(status: int, code: str, message: str) -> Response:
    """Return a Lambda API error; botocore reads the code from `x-amzn-ErrorType`."""
    body = json.dumps({"Type": "User", "Message": message})
    headers = {"x-amzn-ErrorType": code}
    return Response(body, status=status, headers=headers, content_type="application/json")


def _function_error(error_type: str, message: str, headers: dict[str, str]) -> Response:
    # Lambda adds the stack trace too; the local stack prints it on the console instead.
    body = json.dumps({"errorMessage": message, "errorType": error_type})
    headers = {**headers, "X-Amz-Function-Error": "Unhandled"}
    return Response(body, status=200, headers=headers, content_type="application/json")

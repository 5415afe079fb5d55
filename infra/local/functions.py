"""The app's non-HTTP Lambda functions, run in this process as Lambda would run them.

`FunctionRegistry` finds a function by any name a client may send and calls its Chalice
handler with a Lambda context. `AsyncInvoker` runs events the way Lambda's asynchronous
invocation does: on another thread, retried twice after a failure, then recorded with
its error on the dead-letter queue, so that no event is lost.
"""

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chalice import Chalice
from chalice.config import Config
from chalice.constants import DEFAULT_LAMBDA_MEMORY_SIZE, DEFAULT_LAMBDA_TIMEOUT

from chalicelib.clock import isoformat_z, utc_now
from chalicelib.errors import VentanillaError
from infra.local.config import ACCOUNT_ID, REGION, STAGE

logger = logging.getLogger(__name__)

# Lambda retries a failed asynchronous invocation twice, about one and two minutes
# later. The local stack keeps the count but waits seconds, so a failure shows at once.
RETRY_DELAYS_SECONDS = (1.0, 2.0)
ASYNC_WORKERS = 4


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that handlers read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    invoked_function_arn: str
    aws_request_id: str
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    _started: float = field(default_factory=time.monotonic, repr=False)

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


class FunctionRegistry:
    """The app's handlers that Lambda invokes directly or through an event source."""

    def __init__(self, app: Chalice, chalice_config: Config) -> None:
        self.app = app
        self.chalice_config = chalice_config
        views = {entry.view_name for methods in app.routes.values() for entry in methods.values()}
        self.names = sorted(name for name in app.handler_map if name not in views)

    def deployed_name(self, name: str) -> str:
        """Return the function name `chalice deploy` gives a handler."""
        return f"{self.app.app_name}-{STAGE}-{name}"

    def arn(self, name: str) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.deployed_name(name)}"

    def resolve(self, function_name: str, qualifier: str | None = None) -> str | None:
        """Return the handler a FunctionName refers to, or None when there is none.

        Accepts the handler name, the deployed name, a full or partial ARN, and
        the `$LATEST` qualifier, the only version the local stack has.
        """
        name = function_name
        if name.startswith("arn:"):
            parts = name.split(":")
            name = ":".join(parts[6:]) if len(parts) >= 7 and parts[5] == "function" else ""
        elif name.count(":") >= 2 and name.split(":")[1] == "function":
            name = ":".join(name.split(":")[2:])
        name, _, suffix = name.partition(":")
        if (suffix or qualifier or "$LATEST") != "$LATEST":
            return None
        name = name.removeprefix(f"{self.app.app_name}-{STAGE}-")
        return name if name in self.names else None

    def invoke(self, name: str, event: Any, request_id: str | None = None) -> Any:
        """Call a handler once with a new context; raises what the handler raises."""
        context = self.new_context(name, request_id or str(uuid.uuid4()))
        try:
            return self.app.handler_map[name](event, context)
        finally:
            self._warn_if_over_time(context)

    def new_context(self, name: str, request_id: str) -> LambdaContext:
        scoped = self.chalice_config.scope(STAGE, name)
        return LambdaContext(
            function_name=self.deployed_name(name),
            memory_limit_in_mb=scoped.lambda_memory_size or DEFAULT_LAMBDA_MEMORY_SIZE,
            timeout_seconds=scoped.lambda_timeout or DEFAULT_LAMBDA_TIMEOUT,
            invoked_function_arn=self.arn(name),
            aws_request_id=request_id,
        )

    def _warn_if_over_time(self, context: LambdaContext) -> None:
        # NOTE: a thread cannot be stopped, so the timeout is reported, not enforced.
        if context.get_remaining_time_in_millis() == 0:
            logger.warning(
                "%s ran longer than its %d s timeout; Lambda would have stopped it",
                context.function_name,
                context.timeout_seconds,
            )


@dataclass(frozen=True)
class FailureDestination:
    """The queue that receives events that failed every attempt.

    infra/template.yaml makes the dead-letter queue the on-failure destination of
    the SNS functions, so the local stack sends what Lambda sends there: an
    invocation record with the event as `requestPayload`
    (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
    """

    queue_url: str
    send_message: Callable[..., Any]

    def send(self, function_arn: str, event: Any, request_id: str, error: Exception) -> None:
        record = {
            "version": "1.0",
            "timestamp": isoformat_z(utc_now()),
            "requestContext": {
                "requestId": request_id,
                "functionArn": f"{function_arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": len(RETRY_DELAYS_SECONDS) + 1,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
        }
        self.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(record))


class AsyncInvoker:
    """Runs events on worker threads with Lambda's retries and dead-letter queue."""

    def __init__(self, registry: FunctionRegistry, failures: FailureDestination) -> None:
        self.registry = registry
        self.failures = failures
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(ASYNC_WORKERS, thread_name_prefix="lambda-async")

    def submit(self, name: str, event: Any, source: str) -> None:
        """Queue one event for `name`; `source` names its origin on the console."""
        self._pool.submit(self._run, name, event, source)

    def stop(self) -> None:
        """Stop waiting to retry, and wait for the invocations already running."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, name: str, event: Any, source: str) -> None:
        # Lambda keeps one request id across the retries of an event.
        request_id = str(uuid.uuid4())
        attempts = len(RETRY_DELAYS_SECONDS) + 1
        for attempt in range(1, attempts + 1):
            error = self._attempt(name, event, request_id, source, (attempt, attempts))
            if error is None:
                return
            if attempt == attempts:
                self._park(name, source, event, request_id, error)
                return
            if self._stopping.wait(RETRY_DELAYS_SECONDS[attempt - 1]):
                logger.warning("%s: %s not retried, the stack is stopping", name, source)
                return

    def _attempt(
        self, name: str, event: Any, request_id: str, source: str, count: tuple[int, int]
    ) -> Exception | None:
        """Invoke once; return the error the handler raised, or None on success."""
        attempt, attempts = count
        try:
            self.registry.invoke(name, event, request_id)
        except Exception as error:  # Lambda retries whatever a handler raises.
            then = "no retries left" if attempt == attempts else "retrying"
            logger.error(
                "%s: %s failed (attempt %d of %d) with %s: %s; %s",
                *(name, source, attempt, attempts, type(error).__name__, error, then),
                exc_info=error if _wants_traceback(error, attempt) else None,
            )
            return error
        logger.info("%s: %s handled (attempt %d of %d)", name, source, attempt, attempts)
        return None

    def _park(self, name: str, source: str, event: Any, request_id: str, error: Exception) -> None:
        try:
            self.failures.send(self.registry.arn(name), event, request_id, error)
        except Exception:  # The event is lost either way, so log it once.
            logger.exception(
                "%s: %s lost, sending it to the dead-letter queue failed", name, source
            )
            return
        logger.warning(
            "%s: %s moved to the dead-letter queue %s", name, source, self.failures.queue_url
        )


def _wants_traceback(error: Exception, attempt: int) -> bool:
    """Show a traceback once per event, and never for errors the app raises on purpose.

    The app logs its own errors as structured lines, and retries repeat the first trace.
    """
    return attempt == 1 and not isinstance(error, VentanillaError)

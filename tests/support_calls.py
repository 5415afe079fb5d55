"""Count the AWS requests a block of code makes, pynamodb's included.

pynamodb 6.1 builds its DynamoDB client from its own botocore session and sends
through `client._make_api_call` (pynamodb/connection/base.py), so patching
`botocore.client.BaseClient._make_api_call` intercepts every request of every
client, whichever session created it.

The unit is the API call: one request as the application issues it, the unit in
which cost targets such as "one read and one TransactWriteItems" are stated.
botocore retries a call below that level, in `Endpoint._send_request`, so each
HTTP attempt (round trip) is counted separately, at `Endpoint._get_response`.
Without retries the two counts are equal, and calls are round trips. A call that
a `before-call` stub returns a response for counts as an API call with no attempt.
"""

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient
from botocore.endpoint import Endpoint
from botocore.exceptions import BotoCoreError, ClientError

DYNAMODB = "dynamodb"
DYNAMODB_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
DYNAMODB_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
TRANSACTION_WRITE_KINDS = ("Put", "Update", "Delete")


@dataclass
class AwsCall:
    """One API call: service, operation, request parameters and error code if it failed."""

    service: str
    operation: str
    params: dict[str, Any]
    error: str | None = None

    @property
    def is_dynamodb_read(self) -> bool:
        return self.service == DYNAMODB and self.operation in DYNAMODB_READS

    @property
    def is_dynamodb_write(self) -> bool:
        return self.service == DYNAMODB and self.operation in DYNAMODB_WRITES

    @property
    def items_written(self) -> int:
        """Count the items this call wrote: zero when it failed or is not a write."""
        if self.error is not None or not self.is_dynamodb_write:
            return 0
        if self.operation == "TransactWriteItems":
            return sum(
                1
                for item in self.params.get("TransactItems", [])
                if any(kind in item for kind in TRANSACTION_WRITE_KINDS)
            )
        if self.operation == "BatchWriteItem":
            return sum(len(requests) for requests in self.params.get("RequestItems", {}).values())
        return 1


@dataclass
class AwsCallLog:
    """The API calls and HTTP attempts made while a `count_aws_calls` block ran."""

    calls: list[AwsCall] = field(default_factory=list)
    # (service, operation) of each HTTP attempt, retries included.
    attempts: list[tuple[str, str]] = field(default_factory=list)

    def operations(self, service: str = DYNAMODB) -> Counter[str]:
        """Count the calls of one service by operation name."""
        return Counter(call.operation for call in self.calls if call.service == service)

    @property
    def dynamodb_reads(self) -> int:
        return sum(1 for call in self.calls if call.is_dynamodb_read)

    @property
    def dynamodb_writes(self) -> int:
        """Count DynamoDB write calls, transactions included."""
        return sum(1 for call in self.calls if call.is_dynamodb_write)

    @property
    def items_written(self) -> int:
        return sum(call.items_written for call in self.calls)

    @property
    def failed(self) -> list[AwsCall]:
        return [call for call in self.calls if call.error is not None]

    @property
    def other_calls(self) -> list[AwsCall]:
        """Return the calls to services other than DynamoDB."""
        return [call for call in self.calls if call.service != DYNAMODB]

    def attempt_count(self, service: str = DYNAMODB) -> int:
        return sum(1 for attempt_service, _ in self.attempts if attempt_service == service)

    def call_count(self, service: str = DYNAMODB) -> int:
        return sum(1 for call in self.calls if call.service == service)


def describe_operations(log: AwsCallLog) -> str:
    """Return the calls in order, each failed one with its error code in brackets."""
    names = []
    for call in log.calls:
        name = call.operation if call.service == DYNAMODB else f"{call.service}:{call.operation}"
        if call.error is not None:
            name += f" ({call.error})"
        names.append(name)
    return ", ".join(names)


@contextmanager
def count_aws_calls() -> Iterator[AwsCallLog]:
    """Record every AWS API call and HTTP attempt made inside the block, in order."""
    log = AwsCallLog()
    original_call = BaseClient._make_api_call
    original_response = Endpoint._get_response

    def make_api_call(client: BaseClient, operation_name: str, api_params: dict) -> Any:
        call = AwsCall(client.meta.service_model.service_name, operation_name, api_params)
        log.calls.append(call)
        try:
            return original_call(client, operation_name, api_params)
        except ClientError as error:
            call.error = error.response.get("Error", {}).get("Code", "ClientError")
            raise
        except BotoCoreError as error:
            call.error = type(error).__name__
            raise

    def get_response(endpoint: Endpoint, request: Any, operation_model: Any, context: Any) -> Any:
        log.attempts.append((operation_model.service_model.service_name, operation_model.name))
        return original_response(endpoint, request, operation_model, context)

    BaseClient._make_api_call = make_api_call
    Endpoint._get_response = get_response
    try:
        yield log
    finally:
        BaseClient._make_api_call = original_call
        Endpoint._get_response = original_response


def stub_send_text_message() -> list[dict[str, Any]]:
    """Stub End User Messaging SMS `SendTextMessage`, which moto 5.2 does not implement.

    The stub returns its response at `before-call`, so each send still counts as one
    API call and makes no HTTP attempt. Returns the list that collects each send's
    request parameters.
    """
    from chalicelib import aws

    sent: list[dict[str, Any]] = []

    def stub_response(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        sent.append(json.loads(params["body"]))
        message_id = f"stub-sms-{len(sent)}"
        return AWSResponse("https://sms-voice.invalid/", 200, {}, None), {"MessageId": message_id}

    events = aws.client("pinpoint-sms-voice-v2").meta.events
    events.register("before-call.pinpoint-sms-voice-v2.SendTextMessage", stub_response)
    return sent

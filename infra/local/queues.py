"""SQS delivery to the app's queue handlers, as Lambda's SQS event source does it.

One thread per queue handler polls its queue, passes each message to the
handler in the event Lambda would build
(https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html), deletes it after
the handler returns, and after a failure leaves it to come back when its
visibility timeout ends. The queue's redrive policy then moves it to the
dead-letter queue, as on AWS.
"""

import logging
import threading
from typing import Any

from chalice.app import SQSEventConfig

from infra.local.config import ACCOUNT_ID, REGION
from infra.local.functions import FunctionRegistry

logger = logging.getLogger(__name__)

# Seconds a failed message stays invisible before it is delivered again. Lambda
# waits the queue's visibility timeout (minutes); the local stack retries sooner.
RETRY_VISIBILITY_SECONDS = 2
# Seconds between receives of an empty queue. The local moto server handles one
# request at a time, so a long poll would hold every other request back; the
# pollers ask without waiting and sleep between receives instead.
POLL_SECONDS = 0.5


class QueuePoller(threading.Thread):
    """Deliver one queue's messages to one handler, a batch at a time."""

    def __init__(self, registry: FunctionRegistry, source: SQSEventConfig, sqs: Any) -> None:
        super().__init__(name=f"sqs-{source.name}", daemon=True)
        self.registry = registry
        self.source = source
        self.sqs = sqs
        self.queue_url = sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once()
            except Exception:
                logger.exception("%s: receiving from the queue failed", self.source.name)
                self.stopping.wait(POLL_SECONDS)

    def poll_once(self) -> int:
        """Receive one batch, deliver it, and return how many messages it had."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.source.batch_size, 10),
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        try:
            self.registry.invoke(self.source.name, self.event(messages))
        except Exception:
            logger.exception("%s failed; the batch comes back", self.source.name)
            for message in messages:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=RETRY_VISIBILITY_SECONDS,
                )
            return len(messages)
        for message in messages:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def event(self, messages: list[dict]) -> dict:
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{self.source.queue}"
        return {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message.get("Attributes", {}),
                    "messageAttributes": message.get("MessageAttributes", {}),
                    "md5OfBody": message["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": REGION,
                }
                for message in messages
            ]
        }

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)


def start_queue_pollers(registry: FunctionRegistry, sqs: Any) -> list[QueuePoller]:
    """Start a poller for every SQS handler of the app."""
    pollers = [
        QueuePoller(registry, source, sqs)
        for source in registry.app.event_sources
        if isinstance(source, SQSEventConfig)
    ]
    for poller in pollers:
        poller.start()
    return pollers

"""SNS delivery to the app's handlers: HTTP subscriptions and the Lambda SNS event.

moto's SNS cannot invoke Lambda without Docker but does POST to http://127.0.0.1
endpoints. Each topic a handler listens to gets an HTTP subscription on the Lambda
server of the local stack, which turns each notification into the event Lambda would
pass (https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html).
"""

import logging
import threading
from dataclasses import dataclass
from typing import Any

from chalice import Chalice
from chalice.app import SNSEventConfig, SQSEventConfig

logger = logging.getLogger(__name__)

# The path prefix of the SNS endpoints on the Lambda server; the function name follows.
DELIVERY_PATH = "/_sns/"


@dataclass(frozen=True)
class Subscription:
    """An HTTP subscription that delivers one topic to one handler."""

    function_name: str
    topic_arn: str
    subscription_arn: str
    endpoint: str


def subscribe_handlers(
    app: Chalice, sns: Any, topics: dict[str, str], lambda_url: str
) -> dict[str, Subscription]:
    """Subscribe every SNS handler of the app to its topic; return them by function name.

    `topics` maps topic names to the ARNs that infra.resources created. A handler whose
    topic the template lacks gets the topic created here, with a warning.
    """
    subscriptions = {}
    for source in app.event_sources:
        if isinstance(source, SQSEventConfig):
            continue  # infra.local.queues polls the queues of SQS handlers.
        if not isinstance(source, SNSEventConfig):
            logger.warning(
                "%s: %s has no local delivery; invoke it through the Lambda Invoke API",
                source.name,
                type(source).__name__,
            )
            continue
        arn = _topic_arn(source, sns, topics)
        endpoint = f"{lambda_url}{DELIVERY_PATH}{source.name}"
        response = sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint)
        subscriptions[source.name] = Subscription(
            source.name, arn, response["SubscriptionArn"], endpoint
        )
    return subscriptions


def _topic_arn(source: SNSEventConfig, sns: Any, topics: dict[str, str]) -> str:
    if source.topic.startswith("arn:"):
        return source.topic
    if source.topic in topics:
        return topics[source.topic]
    logger.warning(
        "%s listens to topic %s, which infra/template.yaml does not define; created it",
        source.name,
        source.topic,
    )
    return sns.create_topic(Name=source.topic)["TopicArn"]


_publishing = threading.local()


def deliver_attributes_over_http() -> None:
    """Make moto's HTTP notifications carry the message's MessageAttributes, as SNS's do.

    moto 5.2.5's `Subscription.publish` builds the HTTP notification without them, and
    the Connect chat stream names its instance only in its attributes. The patch keeps
    each publish's attributes on its thread while moto builds that notification.
    """
    from moto.sns.models import Subscription

    if getattr(Subscription, "_ventanilla_attributes", False):
        return
    publish = Subscription.publish
    get_post_data = Subscription.get_post_data

    def publish_keeping_attributes(self: Any, *args: Any, **kwargs: Any) -> Any:
        _publishing.attributes = kwargs.get("message_attributes")
        try:
            return publish(self, *args, **kwargs)
        finally:
            _publishing.attributes = None

    def post_data_with_attributes(
        self: Any, message: str, message_id: str, subject: Any, message_attributes: Any = None
    ) -> Any:
        attributes = message_attributes or getattr(_publishing, "attributes", None)
        return get_post_data(self, message, message_id, subject, message_attributes=attributes)

    Subscription.publish = publish_keeping_attributes
    Subscription.get_post_data = post_data_with_attributes
    Subscription._ventanilla_attributes = True


def lambda_event(notification: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    """Build the event Lambda passes for one SNS notification delivered over HTTP.

    The HTTP body and the Lambda record carry the same fields, except that Lambda
    spells `SigningCertUrl` and `UnsubscribeUrl` with a lower-case "rl", sets
    `Subject` to null when absent and always has `MessageAttributes`.
    """
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": notification.get("Type", "Notification"),
                    "MessageId": notification["MessageId"],
                    "TopicArn": notification["TopicArn"],
                    "Subject": notification.get("Subject"),
                    "Message": notification["Message"],
                    "Timestamp": notification["Timestamp"],
                    "SignatureVersion": notification.get("SignatureVersion"),
                    "Signature": notification.get("Signature"),
                    "SigningCertUrl": notification.get("SigningCertURL"),
                    "UnsubscribeUrl": notification.get("UnsubscribeURL"),
                    "MessageAttributes": notification.get("MessageAttributes") or {},
                },
            }
        ]
    }

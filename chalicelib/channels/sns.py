"""The SNS event Lambda passes to a topic's subscriber, shared by the SNS-fed channels.

Chalice has already checked the event's shape before a handler runs. These models
validate the fields the channels read, so that a record without them is rejected
with the field's path.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SnsNotification(BaseModel):
    model_config = ConfigDict(extra="ignore")

    MessageId: str = Field(min_length=1)
    Message: str
    Timestamp: str
    # The Connect chat stream reads these, because only they name its Connect instance.
    TopicArn: str | None = None
    MessageAttributes: dict[str, Any] | None = None


class SnsRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    Sns: SnsNotification


class SnsEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    Records: list[SnsRecord] = Field(min_length=1)

"""The outcome of one send attempt on one channel, whichever transport made it."""

from dataclasses import dataclass

from chalicelib.journey.models import Identity

SENT = "sent"
# Web chat messages are in the session as soon as the transaction commits.
DELIVERED = "delivered"
FAILED = "failed"
# Nothing was handed to a provider, because the channel could not take the message.
NOT_SENT = "not_sent"

# Reasons for passing a channel over, or for a send that failed before reaching the provider.
OPTED_OUT = "opted_out"
NO_IDENTITY = "no_identity"
NO_SESSION = "no_session"
NOT_CONFIGURED = "not_configured"
WINDOW_CLOSED = "window_closed"
NO_TEMPLATE = "no_template"
TEXT_TOO_LONG = "text_too_long"
TOKEN_UNAVAILABLE = "token_unavailable"  # noqa: S105 - a reason, not a token
TIMED_OUT = "timed_out"
CONNECTION_FAILED = "connection_failed"


@dataclass(frozen=True)
class Attempt:
    """One message handed to a provider, or the reason it was not."""

    channel: str
    status: str
    # The provider's id of the message, which its delivery statuses name.
    message_id: str | None = None
    # The provider's error code of a failed send, or one of the reasons above.
    error_code: str | None = None
    identity: Identity | None = None
    session_id: str | None = None
    segments: int | None = None
    template: str | None = None
    # The Message-ID header of a sent email, which the citizen's reply cites.
    email_message_id: str | None = None

    @property
    def reached(self) -> bool:
        return self.status in (SENT, DELIVERED)


def not_sent(channel: str, reason: str, identity: Identity | None = None) -> Attempt:
    return Attempt(channel, NOT_SENT, error_code=reason, identity=identity)


def failed(channel: str, error_code: str, identity: Identity | None = None) -> Attempt:
    return Attempt(channel, FAILED, error_code=error_code, identity=identity)

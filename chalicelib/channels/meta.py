"""Webhook pieces shared by Meta's platforms: the subscription handshake and payload signatures.

WhatsApp Cloud API and Messenger both verify an endpoint with a `GET` carrying `hub.mode`,
`hub.verify_token` and `hub.challenge`, and sign every `POST` with
`X-Hub-Signature-256: sha256=<hex>`, an HMAC-SHA256 of the body with the app secret.

Meta computes the signature over its own serialization of the payload, which escapes
non-ASCII characters as `\\uXXXX` with lowercase hex digits and writes "/" as "\\/"
(https://developers.facebook.com/docs/graph-api/webhooks/getting-started). A body
decoded and encoded again does not reproduce those bytes, so verification always uses
the raw request body exactly as received.
"""

import hashlib
import hmac
import re
from collections.abc import Mapping

from chalicelib.errors import ForbiddenError, UnauthorizedError, ValidationError

SIGNATURE_HEADER = "X-Hub-Signature-256"
SUBSCRIBE_MODE = "subscribe"

_SIGNATURE_PREFIX = "sha256="
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


def verify_handshake(params: Mapping[str, str] | None, expected_token: str) -> str:
    """Check a webhook verification request and return `hub.challenge` exactly as sent.

    Raises ForbiddenError unless `hub.mode` is "subscribe" and `hub.verify_token` equals
    expected_token, ValidationError when the challenge is missing, and ValueError when
    expected_token is empty, because an empty token would match an empty parameter.
    """
    if not expected_token:
        raise ValueError("expected_token is empty. Configure the webhook's verify token")
    params = params or {}
    token = params.get("hub.verify_token") or ""
    token_matches = hmac.compare_digest(token.encode(), expected_token.encode())
    if params.get("hub.mode") != SUBSCRIBE_MODE or not token_matches:
        raise ForbiddenError("webhook verification failed: invalid hub.mode or hub.verify_token")
    challenge = params.get("hub.challenge")
    if not challenge:
        raise ValidationError("hub.challenge is required", field="hub.challenge")
    return challenge


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> None:
    """Raise UnauthorizedError unless `header` is the `sha256=<hex>` HMAC of raw_body.

    The hex digest may be upper- or lower-case, and the comparison takes constant time.
    Raises ValueError when app_secret is empty, because anyone can sign with an empty key.
    """
    if not app_secret:
        raise ValueError("app_secret is empty. Configure the Meta app secret")
    received_digest = _digest_from_header(header)
    expected_digest = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).digest()
    if not hmac.compare_digest(received_digest, expected_digest):
        raise UnauthorizedError(
            f"{SIGNATURE_HEADER} does not match the request body", field=SIGNATURE_HEADER
        )


def _digest_from_header(header: str | None) -> bytes:
    if not header:
        raise UnauthorizedError(f"{SIGNATURE_HEADER} header is missing", field=SIGNATURE_HEADER)
    value = header.strip()
    hex_digest = value[len(_SIGNATURE_PREFIX) :]
    if not value.startswith(_SIGNATURE_PREFIX) or not _HEX_DIGEST.fullmatch(hex_digest):
        raise UnauthorizedError(
            f"{SIGNATURE_HEADER} is malformed, expected sha256= and 64 hex digits",
            field=SIGNATURE_HEADER,
        )
    return bytes.fromhex(hex_digest)

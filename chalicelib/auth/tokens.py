"""Verify the JWTs that agents sign in with, and read who they are and what they may do.

Tokens are RS256 only. Cognito ID tokens carry the app client id in `aud`, and Cognito
access tokens carry it in `client_id` instead. The agency is the custom attribute
`custom:agency_id`, which Cognito puts only in ID tokens unless a pre-token-generation
trigger adds it to access tokens. An access token without it is valid, but it names no
agency, so the agent API rejects it with 403.
"""

import re
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from chalicelib.auth.principal import LEEWAY_SECONDS, ROLES, Principal
from chalicelib.errors import UnauthorizedError

ALGORITHM = "RS256"
# Cognito tokens are usually a few kilobytes, so this bounds the work spent on a forged one.
MAX_TOKEN_LENGTH = 16384

GROUPS_CLAIM = "cognito:groups"
AGENCY_CLAIM = "custom:agency_id"
# Values of the `token_use` claim, not secrets.
ID_TOKEN = "id"  # noqa: S105
ACCESS_TOKEN = "access"  # noqa: S105

# Issuer, client id and `kid` of tokens signed by the development key. No Cognito pool
# uses them.
DEVELOPMENT_ISSUER = "ventanilla-development"
DEVELOPMENT_CLIENT_ID = "ventanilla-development-console"
DEVELOPMENT_KEY_ID = "development"

_AGENCY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class KeySource(Protocol):
    """Source of the public key that verifies a token."""

    def key_for(self, key_id: str | None) -> Any: ...


@dataclass(frozen=True)
class TokenRules:
    """Requirements of a token: its issuer, the app client it was issued to, its signing keys."""

    issuer: str
    client_id: str
    keys: KeySource


# Subclasses come before their bases, because the first match gives the reason.
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "token has expired; sign in again"),
    (jwt.ImmatureSignatureError, "token is not valid yet"),
    (jwt.InvalidIssuerError, "token issuer is not accepted"),
    (jwt.InvalidIssuedAtError, "token iat claim is invalid"),
    (jwt.InvalidAlgorithmError, f"token algorithm is not accepted; expected {ALGORITHM}"),
    (jwt.InvalidSignatureError, "token signature is invalid"),
    (jwt.DecodeError, "token is malformed"),
)


def verify(token: str, rules: TokenRules) -> Principal:
    """Verify a JWT's signature and claims; raises UnauthorizedError naming what failed."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise UnauthorizedError("token is missing or too long")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise UnauthorizedError("token is malformed") from error
    # PyJWT also rejects any algorithm outside `algorithms`. Checking here first gives
    # `none` and HS256 (signed with the public key as an HMAC secret) a clear reason.
    if header.get("alg") != ALGORITHM:
        raise UnauthorizedError(f"token algorithm is not accepted; expected {ALGORITHM}")
    key = rules.keys.key_for(header.get("kid"))
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=rules.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "sub"], "verify_aud": False},
        )
    except jwt.MissingRequiredClaimError as error:
        raise UnauthorizedError(f"token has no {error.claim} claim") from error
    except jwt.PyJWTError as error:
        raise UnauthorizedError(_reason(error)) from error
    _check_client(claims, rules.client_id)
    return _principal(claims)


def _reason(error: Exception) -> str:
    for error_type, reason in _REASONS:
        if isinstance(error, error_type):
            return reason
    return "token is invalid"


def _check_client(claims: dict[str, Any], client_id: str) -> None:
    """Check that the token was issued to our app client, by where its kind puts the id."""
    token_use = claims.get("token_use")
    if token_use == ID_TOKEN:
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if client_id not in audiences:
            raise UnauthorizedError("token audience is not this app client")
    elif token_use == ACCESS_TOKEN:
        if claims.get("client_id") != client_id:
            raise UnauthorizedError("token client_id is not this app client")
    else:
        raise UnauthorizedError("token_use must be id or access")


def _principal(claims: dict[str, Any]) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise UnauthorizedError("token sub claim is not a string")
    groups = claims.get(GROUPS_CLAIM)
    groups = groups if isinstance(groups, list) else []
    agency_id = claims.get(AGENCY_CLAIM)
    if not isinstance(agency_id, str) or not _AGENCY_PATTERN.match(agency_id):
        agency_id = None
    name = claims.get("name")
    return Principal(
        subject=subject,
        roles=frozenset(role for role in ROLES if role in groups),
        agency_id=agency_id,
        token_use=claims["token_use"],
        expires_at=int(claims["exp"]),
        name=name if isinstance(name, str) and name else None,
    )

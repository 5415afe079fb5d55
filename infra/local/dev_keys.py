"""The development signing key of the agent API, and tokens signed with it.

Outside Cognito stages the agent authorizer verifies RS256 tokens against a public
key read from SSM Parameter Store. This module creates that key pair, keeps the
private half in the local folder (`.local/`, mode 0600, never committed), puts the
public half into SSM, and mints tokens shaped like Cognito ID tokens.
"""

import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.auth.tokens import (
    AGENCY_CLAIM,
    ALGORITHM,
    DEVELOPMENT_CLIENT_ID,
    DEVELOPMENT_ISSUER,
    DEVELOPMENT_KEY_ID,
    GROUPS_CLAIM,
    ID_TOKEN,
)
from chalicelib.settings import development_key_parameter

KEY_SIZE_BITS = 2048
# The only `kid` the authorizer accepts in development mode.
KEY_ID = DEVELOPMENT_KEY_ID


def generate_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE_BITS)


def public_pem(private_key: rsa.RSAPrivateKey) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def put_public_key(ssm_client: Any, stage: str, private_key: rsa.RSAPrivateKey) -> str:
    """Put the public key where the stage's authorizer reads it; return the parameter name."""
    name = development_key_parameter(stage)
    ssm_client.put_parameter(
        Name=name,
        Value=public_pem(private_key),
        Type="String",
        Overwrite=True,
        Description="Public key of the Ventanilla development token signer (not a secret)",
    )
    return name


def ensure_development_key(ssm_client: Any, stage: str, directory: Path) -> rsa.RSAPrivateKey:
    """Load the stage's development key from `directory`, or create it, and publish it to SSM.

    The private key file is created with mode 0600, so only its owner can read it.
    """
    path = Path(directory) / f"development-jwt-{stage}.pem"
    if path.exists():
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    else:
        private_key = generate_key()
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
    put_public_key(ssm_client, stage, private_key)
    return private_key


def mint_token(
    private_key: rsa.RSAPrivateKey,
    *,
    sub: str,
    name: str | None,
    roles: Iterable[str],
    agency_id: str | None,
    ttl_seconds: int,
    issuer: str = DEVELOPMENT_ISSUER,
    audience: str | None = DEVELOPMENT_CLIENT_ID,
    key_id: str = KEY_ID,
    issued_at: float | None = None,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    """Sign an ID token for the development issuer, with the claims Cognito would put in it.

    A negative `ttl_seconds` gives a token that has already expired. `extra_claims`
    are applied last, so they can replace any claim.
    """
    now = int(time.time() if issued_at is None else issued_at)
    claims: dict[str, Any] = {
        "sub": sub,
        "iss": issuer,
        "token_use": ID_TOKEN,
        "auth_time": now,
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),
        GROUPS_CLAIM: list(roles),
    }
    if audience is not None:
        claims["aud"] = audience
    if name is not None:
        claims["name"] = name
    if agency_id is not None:
        claims[AGENCY_CLAIM] = agency_id
    claims.update(extra_claims or {})
    return jwt.encode(claims, private_key, algorithm=ALGORITHM, headers={"kid": key_id})

"""Public keys that verify agent tokens: a Cognito user pool's JWKS, or the development key."""

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import jwt
from aws_lambda_powertools.utilities import parameters
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from chalicelib.auth.principal import KeyUnavailableError
from chalicelib.auth.tokens import ALGORITHM, DEVELOPMENT_KEY_ID
from chalicelib.errors import UnauthorizedError
from chalicelib.observability import logger

# Seconds one JWKS request may take, so a slow endpoint cannot stall the authorizer.
FETCH_TIMEOUT_SECONDS = 3
# A user pool's JWKS usually contains two RSA keys in under 2 KB, so this bounds a response.
MAX_JWKS_BYTES = 65536
# Minimum seconds between two fetches, counted from the start of the previous one
# whether it succeeded or failed, so a stream of tokens with made-up `kid` values
# cannot turn into a stream of requests to Cognito.
MIN_REFRESH_SECONDS = 60
KEYS_UNAVAILABLE = "token verification keys are unavailable; retry later"

JwksFetcher = Callable[[str], dict[str, Any]]


def jwks_url(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}/.well-known/jwks.json"


def fetch_jwks(url: str) -> dict[str, Any]:
    """Download a JSON Web Key Set; raises KeyUnavailableError when it cannot.

    Refused, reset and dropped connections, timeouts, HTTP errors, malformed HTTP
    responses, and bodies that are not a JSON object all raise it.
    """
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        # The URL is https and built from a user pool id that settings validated.
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            body = response.read(MAX_JWKS_BYTES)
    # OSError covers URLError, HTTPError, TimeoutError and RemoteDisconnected, and
    # HTTPException covers the remaining http.client errors, such as IncompleteRead.
    except (OSError, http.client.HTTPException) as error:
        raise _unavailable(url, "request failed", error) from error
    try:
        key_set = json.loads(body)
    # ValueError covers JSONDecodeError and UnicodeDecodeError (invalid UTF-8), and
    # RecursionError is JSON nested deeper than the interpreter's recursion limit.
    except (ValueError, RecursionError) as error:
        raise _unavailable(url, "body is not valid JSON", error) from error
    if not isinstance(key_set, dict):
        raise _unavailable(url, "body is not a JSON object")
    return key_set


def _unavailable(
    url: str, reason: str, error: Exception | None = None, message: str = KEYS_UNAVAILABLE
) -> KeyUnavailableError:
    """Log why the keys of `url` could not be used, and return the 503 error to raise."""
    extra = {"url": url, "reason": reason}
    if error is not None:
        extra["error_type"] = type(error).__name__
    logger.warning("jwks fetch failed", extra=extra)
    return KeyUnavailableError(message)


class JwksKeys:
    """A user pool's signing keys by key id, kept for the life of the container.

    The set is fetched on first use and again when a token names a key id it does
    not contain (Cognito rotated its keys), at most once per MIN_REFRESH_SECONDS.
    A failed fetch keeps the keys cached before it.
    NOTE: when the first fetch fails, every token gets 503 until MIN_REFRESH_SECONDS
    have passed and a fetch succeeds.
    """

    def __init__(self, url: str, fetch: JwksFetcher = fetch_jwks) -> None:
        self.url = url
        self._fetch = fetch
        self._keys: dict[str, Any] = {}
        self._loaded = False
        self._refreshed_at: float | None = None
        self._lock = threading.Lock()

    def load(self, key_set: Any) -> None:
        """Replace the cached keys with the RS256 signing keys of a JWK set.

        Raises KeyUnavailableError, and keeps the cached keys, when `key_set` is not
        a JWK set with at least one usable key.
        """
        if not isinstance(key_set, dict):
            raise _unavailable(self.url, "key set is not a JSON object")
        try:
            jwks = jwt.PyJWKSet.from_dict(key_set)
        except jwt.PyJWKSetError as error:
            raise _unavailable(
                self.url, "no usable keys", error, "the JWKS contains no usable keys"
            ) from error
        self._keys = {
            key.key_id: key.key
            for key in jwks.keys
            if key.key_id and key.algorithm_name == ALGORITHM
        }
        self._loaded = True
        self._refreshed_at = time.monotonic()

    def key_for(self, key_id: str | None) -> Any:
        if not key_id:
            raise UnauthorizedError("token header has no kid")
        key = self._keys.get(key_id)
        if key is None and self._may_fetch():
            with self._lock:
                if self._may_fetch():
                    self._refresh()
            key = self._keys.get(key_id)
        if key is None and not self._loaded:
            raise KeyUnavailableError(KEYS_UNAVAILABLE)
        if key is None:
            raise UnauthorizedError("token was signed by a key this user pool does not publish")
        return key

    def _refresh(self) -> None:
        # The wait starts before the request, so that failed fetches are spaced too.
        self._refreshed_at = time.monotonic()
        self.load(self._fetch(self.url))

    def _may_fetch(self) -> bool:
        if self._refreshed_at is None:
            return True
        return time.monotonic() - self._refreshed_at >= MIN_REFRESH_SECONDS


_jwks_by_url: dict[str, JwksKeys] = {}


def jwks_keys(url: str) -> JwksKeys:
    """Return the container's key cache of one JWKS URL."""
    if url not in _jwks_by_url:
        _jwks_by_url[url] = JwksKeys(url)
    return _jwks_by_url[url]


def preload_jwks(url: str, key_set: dict[str, Any], fetch: JwksFetcher) -> JwksKeys:
    """Install a key set for `url` with its own fetcher, so tests never reach Cognito."""
    keys = JwksKeys(url, fetch)
    keys.load(key_set)
    _jwks_by_url[url] = keys
    return keys


def clear_cache() -> None:
    """Forget every cached key set and development key (tests)."""
    _jwks_by_url.clear()
    _development_keys.clear()


class DevelopmentKey:
    """The development public key, a PEM document in SSM Parameter Store.

    powertools caches the parameter for `max_age` seconds per container, so a key
    replaced by `python -m infra.local` is picked up within that time.
    """

    def __init__(self, parameter_name: str, max_age: int) -> None:
        self.parameter_name = parameter_name
        self.max_age = max_age
        self._parsed: tuple[str, Any] | None = None

    def key_for(self, key_id: str | None) -> Any:
        """Read the development public key; raises UnauthorizedError for any other `kid`."""
        if not key_id:
            raise UnauthorizedError("token header has no kid")
        if key_id != DEVELOPMENT_KEY_ID:
            raise UnauthorizedError("token was signed by a key other than the development key")
        try:
            pem = parameters.get_parameter(self.parameter_name, max_age=self.max_age)
        except parameters.GetParameterError as error:
            logger.warning("development key unavailable", extra={"parameter": self.parameter_name})
            raise KeyUnavailableError(
                f"development public key {self.parameter_name} could not be read from SSM; "
                "run `python -m infra.local` or put the key there"
            ) from error
        if self._parsed is None or self._parsed[0] != pem:
            try:
                self._parsed = (pem, load_pem_public_key(pem.encode()))
            except ValueError as error:
                raise KeyUnavailableError(
                    f"SSM parameter {self.parameter_name} is not a PEM public key"
                ) from error
        return self._parsed[1]


_development_keys: dict[tuple[str, int], DevelopmentKey] = {}


def development_key(parameter_name: str, max_age: int) -> DevelopmentKey:
    """Return the container's development key source of one SSM parameter."""
    cache_key = (parameter_name, max_age)
    if cache_key not in _development_keys:
        _development_keys[cache_key] = DevelopmentKey(parameter_name, max_age)
    return _development_keys[cache_key]

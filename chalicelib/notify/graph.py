"""Meta's Graph API over HTTPS: the WhatsApp Cloud API and the Messenger Send API.

Requests use urllib with a short timeout, because a send runs inside a Lambda handler
that must not hang on a slow Graph API. Inside a contact flow action the timeout is
also cut to the time its deadline leaves. Access tokens are SecureString parameters in
SSM, read through powertools' cache. The base URL is a setting, so the local stack and
tests point it at a server on 127.0.0.1.
"""

import json
import urllib.error
import urllib.request
from typing import Any

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS

from chalicelib import aws, deadline
from chalicelib.notify.attempts import CONNECTION_FAILED, TIMED_OUT, TOKEN_UNAVAILABLE
from chalicelib.observability import logger
from chalicelib.settings import get_settings

# A send response is a few hundred bytes, so this bounds what a faulty server returns.
MAX_RESPONSE_BYTES = 65536
# The key of this module's SSM provider among powertools' providers, which
# `parameters.clear_caches()` empties along with the default ones.
SSM_PROVIDER_KEY = "ventanilla-bounded-ssm"
# The least time left for which a request is started. It is an estimate of one send's
# round trip: with less, the request would only time out.
MIN_TIMEOUT_SECONDS = 0.5


class GraphError(Exception):
    """A failed Graph API request, with Meta's error code or a reason such as "timed_out"."""

    def __init__(self, code: str) -> None:
        super().__init__(f"graph api request failed: {code}")
        self.code = code


def access_token(parameter_name: str) -> str:
    """Return an access token from SSM, raising GraphError("token_unavailable") if unreadable."""
    try:
        return _ssm_provider().get(
            parameter_name, decrypt=True, max_age=get_settings().meta_token_cache_seconds
        )
    except parameters.GetParameterError as error:
        logger.warning("meta token unavailable", extra={"parameter": parameter_name})
        raise GraphError(TOKEN_UNAVAILABLE) from error


def _ssm_provider() -> parameters.SSMProvider:
    """Return a powertools SSM provider on the bounded SSM client of `chalicelib.aws`.

    `parameters.get_parameter` would build its client with botocore's 60 s timeouts.
    """
    provider = DEFAULT_PROVIDERS.get(SSM_PROVIDER_KEY)
    if provider is None:
        provider = parameters.SSMProvider(boto3_client=aws.client("ssm"))
        DEFAULT_PROVIDERS[SSM_PROVIDER_KEY] = provider
    return provider


def post(path: str, token: str, payload: dict[str, Any]) -> dict[str, Any]:
    """POST `payload` as JSON to `<graph url>/<version>/<path>` and return the JSON response.

    Raises GraphError with Meta's `error.code` (such as "131047"), "http_<status>" when
    the error body is not Meta's, "timed_out" or "connection_failed".
    """
    settings = get_settings()
    timeout = deadline.cap(settings.meta_timeout_seconds)
    if timeout < MIN_TIMEOUT_SECONDS:
        raise GraphError(TIMED_OUT)
    url = f"{settings.meta_graph_url.rstrip('/')}/{settings.meta_graph_version}/{path}"
    request = urllib.request.Request(  # noqa: S310 - the URL is a validated http(s) setting
        url,
        data=json.dumps(payload, ensure_ascii=False).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read(MAX_RESPONSE_BYTES))
    except urllib.error.HTTPError as error:
        raise GraphError(_error_code(error)) from error
    except TimeoutError as error:
        raise GraphError(TIMED_OUT) from error
    except urllib.error.URLError as error:
        code = TIMED_OUT if isinstance(error.reason, TimeoutError) else CONNECTION_FAILED
        raise GraphError(code) from error
    except json.JSONDecodeError as error:
        raise GraphError("invalid_response") from error


def _error_code(error: urllib.error.HTTPError) -> str:
    """Return Meta's error code from an error response, such as 131047, else "http_<status>"."""
    try:
        body = json.loads(error.read(MAX_RESPONSE_BYTES))
        code = body["error"]["code"]
    except (json.JSONDecodeError, KeyError, TypeError, OSError):
        return f"http_{error.code}"
    return str(code)

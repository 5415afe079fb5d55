"""The agent authorizer and the route guard: 401 for bad tokens, 403 for missing rights.

Tokens are minted with the session's development key unless a test signs its own.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from unittest import mock

import jwt
import pytest
from jwt.algorithms import RSAAlgorithm

from tests.fixtures_agents import JSON_HEADERS, bearer, open_chat, post_chat

PHONE = "+525541637145"
POOL_ID = "us-east-1_TestPool1"
APP_CLIENT_ID = "testappclient0123456789abc"
COGNITO_ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL_ID}"
COGNITO_KEY_ID = "cognito-test-key-1"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/api/GET/cases/0123"


@pytest.fixture
def chat_case(client):
    """A demo agency case opened by web chat, with the ids agents reach it by."""
    from chalicelib.store.models import ChatSession, chat_key

    session = open_chat(client, name="María López", phone=PHONE)
    post_chat(client, session, "Hay un bache frente a mi casa", "msg-1")
    stored = ChatSession.get(chat_key(session["session_id"]), "SESSION")
    return {"session": session, "citizen_id": stored.citizen_id, "case_id": stored.case_id}


def _routes(case):
    """Every agent route as (method, path, body) for one case and its citizen."""
    citizen, case_id = case["citizen_id"], case["case_id"]
    return [
        ("POST", "/citizens/search", {"phone": PHONE}),
        ("GET", f"/citizens/{citizen}", None),
        ("GET", f"/citizens/{citizen}/timeline", None),
        ("GET", f"/cases/{case_id}", None),
        (
            "POST",
            f"/cases/{case_id}/replies",
            {"text": "Vamos en camino", "idempotency_key": "r-1"},
        ),
    ]


ROUTE_NAMES = ["search", "profile", "timeline", "case", "reply"]


def _call(client, route, headers):
    method, path, body = route
    if method == "GET":
        return client.http.get(path, headers=headers)
    return client.http.post(path, headers={**JSON_HEADERS, **headers}, body=json.dumps(body))


def _error(response):
    return json.loads(response.body)["error"]


def _case_read(client, chat_case, headers):
    return client.http.get(f"/cases/{chat_case['case_id']}", headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(**overrides):
    now = int(time.time())
    claims = {
        "sub": "agent-demo-0001",
        "iss": "ventanilla-development",
        "aud": "ventanilla-development-console",
        "token_use": "id",
        "iat": now,
        "exp": now + 600,
        "cognito:groups": ["agent"],
        "custom:agency_id": "demo",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


@pytest.mark.parametrize("index", range(5), ids=ROUTE_NAMES)
def test_agent_route_without_token_is_401(client, chat_case, agent_tokens, index):
    response = _call(client, _routes(chat_case)[index], {})

    assert response.status_code == 401


@pytest.mark.parametrize("index", range(5), ids=ROUTE_NAMES)
def test_agent_route_bad_token_is_401(client, chat_case, agent_tokens, index):
    response = _call(client, _routes(chat_case)[index], agent_tokens.expired())

    assert response.status_code == 401
    assert _error(response)["code"] == "unauthorized"


@pytest.mark.parametrize("index", range(5), ids=ROUTE_NAMES)
def test_agent_route_auditor_is_403(client, chat_case, agent_tokens, index):
    response = _call(client, _routes(chat_case)[index], agent_tokens.headers(roles=["auditor"]))

    assert response.status_code == 403
    assert _error(response)["code"] == "forbidden"


@pytest.mark.parametrize("index", range(5), ids=ROUTE_NAMES)
def test_agent_route_agent_succeeds(client, chat_case, agent_headers, index):
    response = _call(client, _routes(chat_case)[index], agent_headers)

    assert response.status_code == (201 if ROUTE_NAMES[index] == "reply" else 200), response.body


def test_token_expired_is_401(client, chat_case, agent_tokens):
    response = _case_read(client, chat_case, agent_tokens.expired())

    assert response.status_code == 401
    assert _error(response) == {
        "code": "unauthorized",
        "message": "invalid token: token has expired; sign in again",
        "field": "Authorization",
    }


def test_token_within_leeway_is_accepted(client, chat_case, agent_tokens):
    response = _case_read(client, chat_case, agent_tokens.headers(ttl_seconds=-5))

    assert response.status_code == 200


def test_token_wrong_issuer_is_401(client, chat_case, agent_tokens):
    response = _case_read(client, chat_case, agent_tokens.wrong_issuer())

    assert response.status_code == 401
    assert "issuer" in _error(response)["message"]


def test_token_wrong_audience_is_401(client, chat_case, agent_tokens):
    response = _case_read(client, chat_case, agent_tokens.headers(audience="another-app-client"))

    assert response.status_code == 401
    assert "audience" in _error(response)["message"]


def test_token_alg_none_is_401(client, chat_case, agent_tokens):
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    token = f"{header}.{_b64(json.dumps(_claims()).encode())}."

    response = _case_read(client, chat_case, bearer(token))

    assert response.status_code == 401
    assert "algorithm" in _error(response)["message"]


def test_token_hs256_with_public_key_is_401(client, chat_case, agent_tokens, development_key):
    from infra.local.dev_keys import public_pem

    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{_b64(json.dumps(_claims()).encode())}"
    secret = public_pem(development_key).encode()
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()

    response = _case_read(client, chat_case, bearer(f"{signing_input}.{_b64(signature)}"))

    assert response.status_code == 401
    assert "algorithm" in _error(response)["message"]


def test_token_tampered_signature_is_401(client, chat_case, agent_tokens):
    header, payload, signature = agent_tokens.token().split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    response = _case_read(client, chat_case, bearer(f"{header}.{payload}.{flipped}"))

    assert response.status_code == 401
    assert _error(response)["message"] == "invalid token: token signature is invalid"


def test_token_tampered_claims_is_401(client, chat_case, agent_tokens):
    header, _, signature = agent_tokens.token(agency_id="water").split(".")
    forged = _b64(json.dumps(_claims()).encode())

    response = _case_read(client, chat_case, bearer(f"{header}.{forged}.{signature}"))

    assert response.status_code == 401


def test_token_signed_by_other_key_is_401(client, chat_case, agent_tokens):
    from infra.local.dev_keys import generate_key

    response = _case_read(client, chat_case, agent_tokens.headers(private_key=generate_key()))

    assert response.status_code == 401


def test_token_malformed_is_401(client, chat_case, agent_tokens):
    response = _case_read(client, chat_case, bearer("not-a-jwt"))

    assert response.status_code == 401
    assert _error(response)["message"] == "invalid token: token is malformed"


def test_token_without_sub_is_401(client, chat_case, agent_tokens, development_key):
    token = jwt.encode(
        _claims(sub=None), development_key, algorithm="RS256", headers={"kid": "development"}
    )

    response = _case_read(client, chat_case, bearer(token))

    assert response.status_code == 401
    assert _error(response)["message"] == "invalid token: token has no sub claim"


def test_token_not_yet_valid_is_401(client, chat_case, agent_tokens):
    future = {"nbf": int(time.time()) + 3600}

    response = _case_read(client, chat_case, agent_tokens.headers(extra_claims=future))

    assert response.status_code == 401


def test_token_unknown_token_use_is_401(client, chat_case, agent_tokens):
    headers = agent_tokens.headers(extra_claims={"token_use": "refresh"})

    response = _case_read(client, chat_case, headers)

    assert response.status_code == 401


def test_access_token_with_client_id_is_accepted(client, chat_case, agent_tokens):
    access = {"token_use": "access", "client_id": "ventanilla-development-console"}

    response = _case_read(
        client, chat_case, agent_tokens.headers(audience=None, extra_claims=access)
    )

    assert response.status_code == 200


def test_access_token_other_client_is_401(client, chat_case, agent_tokens):
    access = {"token_use": "access", "client_id": "another-app-client"}

    response = _case_read(
        client, chat_case, agent_tokens.headers(audience=None, extra_claims=access)
    )

    assert response.status_code == 401


def test_token_without_bearer_prefix_is_accepted(client, chat_case, agent_tokens):
    response = _case_read(client, chat_case, {"Authorization": agent_tokens.token()})

    assert response.status_code == 200


def test_token_without_groups_is_403(client, chat_case, agent_tokens):
    response = _case_read(client, chat_case, agent_tokens.headers(roles=()))

    assert response.status_code == 403
    assert _error(response)["message"] == "case.read requires one of the roles agent, supervisor"


def test_token_unknown_group_only_is_403(client, chat_case, agent_tokens):
    response = _case_read(client, chat_case, agent_tokens.headers(roles=["Everyone"]))

    assert response.status_code == 403


def test_token_admin_is_403(client, chat_case, agent_tokens):
    response = _case_read(client, chat_case, agent_tokens.headers(roles=["admin"]))

    assert response.status_code == 403


def test_token_supervisor_is_allowed(client, chat_case, agent_tokens):
    response = _case_read(client, chat_case, agent_tokens.headers(roles=["supervisor"]))

    assert response.status_code == 200


def test_token_without_agency_is_403(client, chat_case, agent_tokens):
    response = _case_read(client, chat_case, agent_tokens.headers(agency_id=None))

    assert response.status_code == 403
    assert "custom:agency_id" in _error(response)["message"]


def test_token_unknown_agency_is_403(client, chat_case, agent_tokens):
    response = _case_read(client, chat_case, agent_tokens.headers(agency_id="atlantis"))

    assert response.status_code == 403
    assert "'atlantis'" in _error(response)["message"]


def test_token_other_agency_case_is_404(client, chat_case, water_agent_headers):
    response = _case_read(client, chat_case, water_agent_headers)

    assert response.status_code == 404


def test_rejected_token_writes_denied_audit(client, chat_case, agent_tokens, audit_records):
    _case_read(client, chat_case, agent_tokens.wrong_issuer())

    records = audit_records()
    assert len(records) == 1
    record = records[0]
    assert record["action"] == "authenticate"
    assert record["outcome"] == "denied"
    assert record["reason"] == "token issuer is not accepted"
    assert record["resource"] == f"GET cases/{chat_case['case_id']}"
    assert "actor" not in record


def test_forbidden_role_writes_denied_audit(client, chat_case, agent_tokens, audit_records):
    _case_read(client, chat_case, agent_tokens.headers(roles=["auditor"]))

    (record,) = audit_records()
    assert record["actor"] == "agent-demo-0001"
    assert record["role"] == "auditor"
    assert record["action"] == "case.read"
    assert record["resource"] == f"cases/{chat_case['case_id']}"
    assert record["outcome"] == "denied"
    assert record["reason"] == "case.read requires one of the roles agent, supervisor"


def test_missing_development_key_is_503(client, chat_case, agent_tokens, aws):
    import boto3
    from aws_lambda_powertools.utilities import parameters

    from chalicelib.settings import get_settings

    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.delete_parameter(Name=get_settings().development_key_parameter)
    parameters.clear_caches()

    response = _case_read(client, chat_case, agent_tokens.headers())

    assert response.status_code == 503
    assert _error(response)["code"] == "unavailable"


@contextmanager
def _stage_environment(**variables):
    """Reload settings with extra environment variables, and restore them afterwards.

    Settings are loaded here, outside any request, because the test client sets
    the Chalice stage's own variables while a request runs.
    """
    from chalicelib.settings import get_settings

    with mock.patch.dict(os.environ, variables):
        get_settings.cache_clear()
        get_settings()
        try:
            yield
        finally:
            get_settings.cache_clear()
    get_settings()


def _authorizer_event(token):
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": METHOD_ARN}


def test_authorizer_on_lambda_raises_unauthorized(client, agent_tokens):
    from chalicelib.errors import UnauthorizedError

    with (
        _stage_environment(AWS_LAMBDA_FUNCTION_NAME="ventanilla-test-agent_authorizer"),
        pytest.raises(UnauthorizedError) as raised,
    ):
        client.lambda_.invoke(
            "agent_authorizer", _authorizer_event(agent_tokens.token(ttl_seconds=-300))
        )

    assert str(raised.value) == "Unauthorized"


def test_authorizer_on_lambda_allows_agent_routes(client, agent_tokens):
    with _stage_environment(AWS_LAMBDA_FUNCTION_NAME="ventanilla-test-agent_authorizer"):
        answer = client.lambda_.invoke(
            "agent_authorizer", _authorizer_event(f"Bearer {agent_tokens.token()}")
        ).payload

    (statement,) = answer["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == [
        "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/api/*/citizens/*",
        "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/api/*/cases/*",
        "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/api/*/reports/*",
    ]
    assert answer["principalId"] == "agent-demo-0001"
    assert answer["context"]["authenticated"] == "true"
    assert answer["context"]["roles"] == "agent"
    assert answer["context"]["agency_id"] == "demo"
    assert all(isinstance(value, str) for value in answer["context"].values())


def test_authorizer_off_lambda_marks_unauthenticated(client, agent_tokens):
    answer = client.lambda_.invoke("agent_authorizer", _authorizer_event("Bearer nonsense")).payload

    assert answer["principalId"] == "anonymous"
    assert answer["context"] == {
        "authenticated": "false",
        "failure": "unauthorized",
        "reason": "token is malformed",
    }


@pytest.fixture
def cognito_key():
    from infra.local.dev_keys import generate_key

    return generate_key()


def _jwk(private_key, key_id):
    jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    jwk.update({"kid": key_id, "alg": "RS256", "use": "sig"})
    return jwk


@dataclass
class CognitoPool:
    """The JWKS a fake user pool publishes, and the URLs the authorizer fetched."""

    published: list[dict]
    fetched: list[str] = field(default_factory=list)

    def fetch(self, url):
        self.fetched.append(url)
        return {"keys": list(self.published)}


@pytest.fixture
def cognito_stage(client, cognito_key):
    """Settings in Cognito mode with the pool's JWKS preloaded; nothing reaches the network."""
    from chalicelib.auth import keys

    pool = CognitoPool(published=[_jwk(cognito_key, COGNITO_KEY_ID)])
    variables = {
        "VENTANILLA_AUTH_MODE": "cognito",
        "VENTANILLA_COGNITO_USER_POOL_ID": POOL_ID,
        "VENTANILLA_COGNITO_APP_CLIENT_ID": APP_CLIENT_ID,
    }
    with _stage_environment(**variables):
        url = keys.jwks_url("us-east-1", POOL_ID)
        keys.preload_jwks(url, {"keys": list(pool.published)}, pool.fetch)
        yield pool
    keys.clear_cache()


def _cognito_token(agent_tokens, cognito_key, **claims):
    claims.setdefault("issuer", COGNITO_ISSUER)
    claims.setdefault("audience", APP_CLIENT_ID)
    claims.setdefault("key_id", COGNITO_KEY_ID)
    return agent_tokens.token(private_key=cognito_key, **claims)


def test_cognito_id_token_is_accepted(client, chat_case, agent_tokens, cognito_key, cognito_stage):
    token = _cognito_token(agent_tokens, cognito_key)

    response = _case_read(client, chat_case, bearer(token))

    assert response.status_code == 200
    assert cognito_stage.fetched == []


def test_cognito_jwks_url_names_pool():
    from chalicelib.auth import keys

    assert keys.jwks_url("us-east-1", POOL_ID) == (
        f"https://cognito-idp.us-east-1.amazonaws.com/{POOL_ID}/.well-known/jwks.json"
    )


def test_cognito_access_token_without_agency_is_403(
    client, chat_case, agent_tokens, cognito_key, cognito_stage
):
    access = {"token_use": "access", "client_id": APP_CLIENT_ID}
    token = _cognito_token(
        agent_tokens, cognito_key, audience=None, agency_id=None, extra_claims=access
    )

    response = _case_read(client, chat_case, bearer(token))

    assert response.status_code == 403
    assert "custom:agency_id" in _error(response)["message"]


def test_cognito_other_pool_is_401(client, chat_case, agent_tokens, cognito_key, cognito_stage):
    other_pool = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OtherPool"
    token = _cognito_token(agent_tokens, cognito_key, issuer=other_pool)

    response = _case_read(client, chat_case, bearer(token))

    assert response.status_code == 401


def test_cognito_rejects_development_token(client, chat_case, agent_tokens, cognito_stage):
    response = _case_read(client, chat_case, agent_tokens.headers())

    assert response.status_code == 401


def test_cognito_rotated_key_is_fetched(
    client, chat_case, agent_tokens, cognito_stage, monkeypatch
):
    from chalicelib.auth import keys
    from infra.local.dev_keys import generate_key

    monkeypatch.setattr(keys, "MIN_REFRESH_SECONDS", 0)
    rotated = generate_key()
    cognito_stage.published.append(_jwk(rotated, "rotated-key"))
    token = _cognito_token(agent_tokens, rotated, key_id="rotated-key")

    response = _case_read(client, chat_case, bearer(token))

    assert response.status_code == 200
    assert cognito_stage.fetched == [keys.jwks_url("us-east-1", POOL_ID)]


def test_cognito_unknown_kid_fetch_is_rate_limited(
    client, chat_case, agent_tokens, cognito_key, cognito_stage
):
    token = _cognito_token(agent_tokens, cognito_key, key_id="made-up-key")

    response = _case_read(client, chat_case, bearer(token))

    assert response.status_code == 401
    assert cognito_stage.fetched == []


def test_every_agent_route_uses_authorizer():
    from app import app

    agent_routes = {
        (path, method): entry
        for path, methods in app.routes.items()
        if path.startswith(("/citizens", "/cases", "/reports"))
        for method, entry in methods.items()
    }

    assert set(agent_routes) == {
        ("/citizens/search", "POST"),
        ("/citizens/{citizen_id}", "GET"),
        ("/citizens/{citizen_id}/timeline", "GET"),
        ("/cases/{case_id}", "GET"),
        ("/cases/{case_id}", "PATCH"),
        ("/cases/{case_id}/replies", "POST"),
        ("/cases/{case_id}/appointment", "POST"),
        ("/reports/deadlines", "GET"),
        ("/reports/agencies/{agency_id}/appointments", "GET"),
        ("/reports/agencies/{agency_id}/phone", "GET"),
        ("/reports/agencies/{agency_id}/satisfaction", "GET"),
    }
    for entry in agent_routes.values():
        assert entry.authorizer is not None
        assert entry.authorizer.name == "agent_authorizer"


def test_development_token_other_kid_is_401(client, chat_case, agent_tokens):
    response = _case_read(client, chat_case, agent_tokens.headers(key_id="cognito-test-key-1"))

    assert response.status_code == 401
    assert _error(response)["message"] == (
        "invalid token: token was signed by a key other than the development key"
    )


def test_development_token_without_kid_is_401(client, chat_case, agent_tokens, development_key):
    token = jwt.encode(_claims(), development_key, algorithm="RS256")

    response = _case_read(client, chat_case, bearer(token))

    assert response.status_code == 401
    assert _error(response)["message"] == "invalid token: token header has no kid"


# Bodies of the loopback JWKS server, by path: each one a way an endpoint can fail.
JWKS_BODIES = {
    "/not-an-object": (200, b'[{"kty": "RSA"}]'),
    "/invalid-utf8": (200, b'{"keys": "\xff\xfe"}'),
    "/not-json": (200, b"<html>maintenance</html>"),
    "/nested": (200, b"[" * 60000),
    "/server-error": (500, b'{"message": "internal error"}'),
}


class _JwksHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/dropped":
            return  # HTTP/1.0: the server closes the connection without a status line
        if self.path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"keys": [')
            return
        status, body = JWKS_BODIES[self.path]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def jwks_server(monkeypatch):
    """Base URL of a JWKS server on 127.0.0.1 that this test starts and stops."""
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _JwksHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _jwks_warnings(log_lines):
    return [line for line in log_lines if line["message"] == "jwks fetch failed"]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/not-an-object", "body is not a JSON object"),
        ("/invalid-utf8", "body is not valid JSON"),
        ("/not-json", "body is not valid JSON"),
        ("/nested", "body is not valid JSON"),
        ("/truncated", "body is not valid JSON"),
        ("/dropped", "request failed"),
        ("/server-error", "request failed"),
    ],
)
def test_fetch_jwks_failure_is_unavailable(jwks_server, log_lines, path, reason):
    from chalicelib.auth import keys
    from chalicelib.auth.principal import KeyUnavailableError

    with pytest.raises(KeyUnavailableError) as raised:
        keys.fetch_jwks(jwks_server + path)

    assert raised.value.status_code == 503
    (warning,) = _jwks_warnings(log_lines)
    assert warning["level"] == "WARNING"
    assert warning["url"] == jwks_server + path
    assert warning["reason"] == reason


def test_fetch_jwks_dropped_connection_names_error(jwks_server, log_lines):
    from chalicelib.auth import keys
    from chalicelib.auth.principal import KeyUnavailableError

    with pytest.raises(KeyUnavailableError):
        keys.fetch_jwks(jwks_server + "/dropped")

    (warning,) = _jwks_warnings(log_lines)
    assert warning["error_type"] == "RemoteDisconnected"


def test_fetch_jwks_refused_connection_is_unavailable(log_lines):
    import socket

    from chalicelib.auth import keys
    from chalicelib.auth.principal import KeyUnavailableError

    # A port that was just bound and released has no listener.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(KeyUnavailableError):
        keys.fetch_jwks(f"http://127.0.0.1:{port}/jwks.json")

    assert len(_jwks_warnings(log_lines)) == 1


@pytest.mark.parametrize(
    "key_set",
    [[{"kty": "RSA"}], "keys", 7, None, {"keys": "none"}, {"keys": []}],
    ids=["list", "string", "number", "null", "keys-string", "keys-empty"],
)
def test_jwks_unusable_key_set_is_unavailable(log_lines, key_set):
    from chalicelib.auth import keys
    from chalicelib.auth.principal import KeyUnavailableError

    jwks = keys.JwksKeys("https://jwks.invalid/jwks.json", lambda url: key_set)

    with pytest.raises(KeyUnavailableError):
        jwks.key_for(COGNITO_KEY_ID)

    assert len(_jwks_warnings(log_lines)) == 1


class _Clock:
    """Stands in for the `time` module in chalicelib.auth.keys, with a settable monotonic()."""

    def __init__(self, now):
        self.now = now

    def monotonic(self):
        return self.now


@dataclass
class _FailingPool:
    """A JWKS fetcher that fails as fetch_jwks does, counting its calls."""

    calls: int = 0

    def fetch(self, url):
        from chalicelib.auth.principal import KeyUnavailableError

        self.calls += 1
        raise KeyUnavailableError("token verification keys are unavailable; retry later")


def test_jwks_first_fetch_failure_waits_before_retry(monkeypatch):
    from chalicelib.auth import keys
    from chalicelib.auth.principal import KeyUnavailableError

    clock = _Clock(1000.0)
    monkeypatch.setattr(keys, "time", clock)
    pool = _FailingPool()
    jwks = keys.JwksKeys("https://jwks.invalid/jwks.json", pool.fetch)

    with pytest.raises(KeyUnavailableError):
        jwks.key_for(COGNITO_KEY_ID)
    clock.now += 1
    with pytest.raises(KeyUnavailableError):
        jwks.key_for("made-up-key")
    assert pool.calls == 1

    clock.now += keys.MIN_REFRESH_SECONDS
    with pytest.raises(KeyUnavailableError):
        jwks.key_for(COGNITO_KEY_ID)
    assert pool.calls == 2


def test_jwks_failed_refresh_waits_and_keeps_keys(cognito_key, monkeypatch):
    from chalicelib.auth import keys
    from chalicelib.auth.principal import KeyUnavailableError
    from chalicelib.errors import UnauthorizedError

    clock = _Clock(1000.0)
    monkeypatch.setattr(keys, "time", clock)
    pool = _FailingPool()
    jwks = keys.JwksKeys("https://jwks.invalid/jwks.json", pool.fetch)
    jwks.load({"keys": [_jwk(cognito_key, COGNITO_KEY_ID)]})

    clock.now += keys.MIN_REFRESH_SECONDS + 40
    with pytest.raises(KeyUnavailableError):
        jwks.key_for("made-up-key-1")
    clock.now += 1
    with pytest.raises(UnauthorizedError):
        jwks.key_for("made-up-key-2")

    assert pool.calls == 1
    assert jwks.key_for(COGNITO_KEY_ID) is not None


def test_cognito_dropped_jwks_connection_is_503(
    client, chat_case, agent_tokens, cognito_stage, jwks_server, monkeypatch
):
    from chalicelib.auth import keys
    from infra.local.dev_keys import generate_key

    monkeypatch.setattr(keys, "MIN_REFRESH_SECONDS", 0)
    url = keys.jwks_url("us-east-1", POOL_ID)
    published = {"keys": list(cognito_stage.published)}
    keys.preload_jwks(url, published, lambda _: keys.fetch_jwks(jwks_server + "/dropped"))
    token = _cognito_token(agent_tokens, generate_key(), key_id="rotated-key")

    response = _case_read(client, chat_case, bearer(token))

    assert response.status_code == 503
    assert _error(response)["code"] == "unavailable"

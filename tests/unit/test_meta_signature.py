import json
from pathlib import Path

import pytest

from chalicelib.channels.meta import SIGNATURE_HEADER, verify_handshake, verify_signature
from chalicelib.errors import ForbiddenError, UnauthorizedError, ValidationError

EVENTS = Path(__file__).parent.parent / "events"
APP_SECRET = "test-app-secret-not-real"
VERIFY_TOKEN = "test-verify-token-not-real"

# The sample is Meta's escaped serialization of a webhook body.
SIGNED_BODY = (EVENTS / "whatsapp_text.json").read_bytes()
# Computed independently with `openssl dgst -sha256 -hmac test-app-secret-not-real`.
SIGNED_HEX = "2d4b7a512e9d05bfc394b02fa38702eb2c13dd33d287746615cae0c6668b73c1"


def handshake(mode="subscribe", token=VERIFY_TOKEN, challenge="1158201444"):
    params = {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge}
    return {key: value for key, value in params.items() if value is not None}


@pytest.mark.parametrize("challenge", ["1158201444", "0042", "abc-DEF_123.~"])
def test_handshake_returns_challenge_as_sent(challenge):
    assert verify_handshake(handshake(challenge=challenge), VERIFY_TOKEN) == challenge


@pytest.mark.parametrize(
    "params",
    [
        handshake(token="wrong-token"),
        handshake(token=VERIFY_TOKEN.upper()),
        handshake(token=""),
        handshake(token=None),
        handshake(token="señal-no-ascii"),
        handshake(mode="unsubscribe"),
        handshake(mode=None),
        {},
        None,
    ],
)
def test_handshake_wrong_mode_or_token_forbidden(params):
    with pytest.raises(ForbiddenError):
        verify_handshake(params, VERIFY_TOKEN)


def test_handshake_without_challenge_names_it():
    with pytest.raises(ValidationError) as caught:
        verify_handshake(handshake(challenge=None), VERIFY_TOKEN)
    assert caught.value.field == "hub.challenge"


def test_handshake_with_empty_expected_token_raises():
    with pytest.raises(ValueError, match="verify token"):
        verify_handshake(handshake(token=""), "")


def test_signed_sample_is_in_meta_escaped_form():
    text = SIGNED_BODY.decode("ascii")
    assert "d\\u00edas" in text
    assert "https:\\/\\/example.org\\/fotos" in text
    assert "ana.lopez@example.org" in text


@pytest.mark.parametrize(
    "header",
    [
        f"sha256={SIGNED_HEX}",
        f"sha256={SIGNED_HEX.upper()}",
        f"  sha256={SIGNED_HEX}  ",
    ],
)
def test_signature_of_raw_body_verifies(header):
    assert verify_signature(SIGNED_BODY, header, APP_SECRET) is None


def reserialized_bodies():
    payload = json.loads(SIGNED_BODY)
    return {
        "pretty_printed": json.dumps(payload, indent=2).encode(),
        "unescaped_utf8": json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(),
        "python_default": json.dumps(payload).encode(),
        "trailing_newline": SIGNED_BODY + b"\n",
        "one_byte_changed": SIGNED_BODY.replace(b"fuga", b"fugo", 1),
    }


@pytest.mark.parametrize("name", sorted(reserialized_bodies()))
def test_signature_reserialized_body_rejected(name):
    with pytest.raises(UnauthorizedError):
        verify_signature(reserialized_bodies()[name], f"sha256={SIGNED_HEX}", APP_SECRET)


def test_signature_with_other_secret_is_rejected():
    with pytest.raises(UnauthorizedError):
        verify_signature(SIGNED_BODY, f"sha256={SIGNED_HEX}", "another-secret")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        SIGNED_HEX,
        f"sha1={SIGNED_HEX}",
        f"SHA256={SIGNED_HEX}",
        "sha256=",
        f"sha256={SIGNED_HEX[:-1]}",
        f"sha256={SIGNED_HEX}00",
        f"sha256={'z' * 64}",
        f"sha256={SIGNED_HEX[:32]} {SIGNED_HEX[32:]}",
    ],
)
def test_signature_missing_or_malformed_unauthorized(header):
    with pytest.raises(UnauthorizedError) as caught:
        verify_signature(SIGNED_BODY, header, APP_SECRET)
    assert caught.value.field == SIGNATURE_HEADER


def test_signature_with_empty_app_secret_raises():
    with pytest.raises(ValueError, match="app secret"):
        verify_signature(SIGNED_BODY, f"sha256={SIGNED_HEX}", "")

"""Web chat over HTTP: sessions, messages with idempotency keys, and the message list."""

import hashlib
import re

import pytest

from tests import support

NOTICE_PATTERN = re.compile(r"Caso (\d{3}-\d{3}-\d{3}) registrado\. Cítelo en cualquier canal\.")


def error_of(response):
    return response.json_body["error"]


def post_messages(client, session, count):
    """Post `count` messages with keys m0, m1 and so on. The first one opens a case."""
    for index in range(count):
        response = support.post_chat(client, session, f"Mensaje número {index}", f"m{index}")
        assert response.status_code in (200, 201), response.json_body


# Opening a session


def test_chat_open_returns_session(client):
    response = support.post_json(client, "/chat/sessions", {"agency_id": "demo"})

    body = response.json_body
    assert response.status_code == 201
    assert re.fullmatch(r"[0-9a-f]{32}", body["session_id"])
    assert len(body["session_token"]) >= 32
    assert body["agency_id"] == "demo"
    assert body["expires_at"].endswith("Z")


def test_chat_open_stores_only_token_digest(client):
    session = support.open_chat(client)

    item = support.chat_session_item(session.session_id)
    assert item["token_sha256"] == hashlib.sha256(session.token.encode()).hexdigest()
    assert session.token not in str(support.scan_items())


def test_chat_token_is_not_returned_again(client):
    session = support.open_chat(client)
    support.post_chat(client, session, "Hola", "k1")

    listing = support.chat_messages(client, session)

    assert session.token not in listing.body.decode()


def test_chat_open_language_defaults_to_agency(client, demo_agency):
    session = support.open_chat(client)

    assert session.body["language"] == demo_agency["default_language"]


def test_chat_open_explicit_language_is_kept(client):
    session = support.open_chat(client, language="en")

    assert session.body["language"] == "en"
    assert support.profile(session.citizen_id)["language"] == "en"


def test_chat_open_unserved_language_falls_back(client, other_agency):
    session = support.open_chat(client, agency_id=other_agency["agency_id"], language="pt")

    assert "pt" not in other_agency["languages"]
    assert session.body["language"] == other_agency["default_language"]


def test_chat_open_creates_provisional_profile(client):
    session = support.open_chat(client, name="Ana Pérez")

    profile = support.profile(session.citizen_id)
    assert profile["provisional"] is True
    assert profile["first_name"] == "Ana"


def test_chat_open_unknown_agency_is_not_found(client):
    response = support.post_json(client, "/chat/sessions", {"agency_id": "nowhere"})

    assert response.status_code == 404
    assert error_of(response)["field"] == "agency_id"
    assert "nowhere" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("language", "fr"),
        ("email", "ana.example.org"),
        ("phone", "55 41"),
        ("phone", "call me"),
        ("agency_id", "demo/../water"),
        ("name", ""),
    ],
)
def test_chat_open_invalid_field_is_rejected(client, field, value):
    body = {"agency_id": "demo", field: value}

    response = support.post_json(client, "/chat/sessions", body)

    assert response.status_code == 400
    assert error_of(response)["field"] == field
    assert error_of(response)["message"].startswith(field)


def test_chat_open_malformed_json_is_rejected(client):
    response = support.post_json(client, "/chat/sessions", b'{"agency_id": "demo"')

    assert response.status_code == 400
    assert error_of(response)["field"] == "body"
    assert "not valid JSON" in error_of(response)["message"]


@pytest.mark.parametrize("raw", [b'["demo"]', b'"demo"', b"42", b"null"])
def test_chat_open_non_object_json_is_rejected(client, raw):
    response = support.post_json(client, "/chat/sessions", raw)

    assert response.status_code == 400
    assert error_of(response)["field"] == "body"
    assert error_of(response)["message"] == "body: expected a JSON object"


def test_chat_open_empty_body_is_rejected(client):
    response = support.post_json(client, "/chat/sessions", b"")

    assert response.status_code == 400
    assert error_of(response)["field"] == "body"


def test_chat_open_unknown_field_is_rejected(client):
    response = support.post_json(client, "/chat/sessions", {"agency_id": "demo", "nickname": "A"})

    assert response.status_code == 400
    assert error_of(response)["field"] == "nickname"
    assert error_of(response)["message"] == "nickname: is not a known field"


def test_chat_open_rejection_writes_nothing(client):
    before = support.scan_items()

    support.post_json(client, "/chat/sessions", {"agency_id": "demo", "email": "not-an-email"})

    assert support.scan_items() == before


# Authentication


def test_chat_post_missing_token_is_unauthorized(client):
    session = support.open_chat(client)

    response = support.post_json(
        client, f"/chat/sessions/{session.session_id}/messages", {"text": "Hola"}
    )

    assert response.status_code == 401
    assert error_of(response)["field"] == "X-Session-Token"


def test_chat_post_wrong_token_is_unauthorized(client):
    session = support.open_chat(client)
    other = support.open_chat(client)
    stolen = support.ChatSession(session.session_id, other.token, session.citizen_id, {})

    response = support.post_chat(client, stolen, "Hola", "k1")

    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert support.contacts() == []


def test_chat_list_wrong_token_is_unauthorized(client):
    session = support.open_chat(client)
    forged = support.ChatSession(session.session_id, "not-the-token", session.citizen_id, {})

    response = support.chat_messages(client, forged)

    assert response.status_code == 401


def test_chat_unknown_session_is_not_found(client):
    session = support.open_chat(client)
    unknown = support.ChatSession("0" * 32, session.token, session.citizen_id, {})

    response = support.post_chat(client, unknown, "Hola", "k1")

    assert response.status_code == 404
    assert error_of(response)["field"] == "session_id"


# Posting messages


def test_chat_message_with_body_key_is_recorded(client):
    session = support.open_chat(client)

    response = support.post_chat(client, session, "Hay un bache en mi calle", "key-1")

    body = response.json_body
    contact = support.contacts("inbound")[0]
    assert response.status_code == 201
    assert body["duplicate"] is False
    assert body["message_id"] == contact["contact_id"]
    assert contact["body"] == "Hay un bache en mi calle"


def test_chat_message_with_header_key_is_recorded(client):
    session = support.open_chat(client)

    response = support.post_chat(
        client, session, "Hay un bache en mi calle", None, headers={"Idempotency-Key": "hdr-1"}
    )

    assert response.status_code == 201
    assert len(support.contacts("inbound")) == 1


def test_chat_message_missing_key_is_rejected(client):
    session = support.open_chat(client)

    response = support.post_chat(client, session, "Hola", None)

    assert response.status_code == 400
    assert error_of(response)["field"] == "idempotency_key"
    assert support.contacts() == []


def test_chat_message_invalid_key_is_rejected(client):
    session = support.open_chat(client)

    response = support.post_chat(client, session, "Hola", "two words")

    assert response.status_code == 400
    assert error_of(response)["field"] == "idempotency_key"


def test_chat_message_empty_text_is_rejected(client):
    session = support.open_chat(client)

    response = support.post_chat(client, session, "   ", "k1")

    assert response.status_code == 400
    assert error_of(response)["field"] == "text"


def test_chat_message_retry_is_recorded_once(client):
    session = support.open_chat(client)
    first = support.post_chat(client, session, "Hay un bache en mi calle", "retry-1")

    retry = support.post_chat(client, session, "Hay un bache en mi calle", "retry-1")

    assert retry.status_code == 200
    assert retry.json_body["duplicate"] is True
    assert retry.json_body["message_id"] == first.json_body["message_id"]
    assert retry.json_body["case_reference"] == first.json_body["case_reference"]
    assert len(support.contacts("inbound")) == 1


def test_chat_retry_with_header_key_matches_body_key(client):
    session = support.open_chat(client)
    first = support.post_chat(client, session, "Hola", "same-key")

    retry = support.post_chat(
        client, session, "Hola", None, headers={"Idempotency-Key": "same-key"}
    )

    assert retry.json_body["message_id"] == first.json_body["message_id"]


def test_chat_key_is_scoped_to_session(client):
    first = support.open_chat(client)
    second = support.open_chat(client)

    support.post_chat(client, first, "Hola", "k1")
    response = support.post_chat(client, second, "Hola", "k1")

    assert response.status_code == 201
    assert len(support.contacts("inbound")) == 2


def test_chat_first_message_opens_case(client):
    session = support.open_chat(client)

    response = support.post_chat(client, session, "Hay un bache en mi calle", "k1")

    assert response.json_body["case_opened"] is True
    assert re.fullmatch(r"\d{3}-\d{3}-\d{3}", response.json_body["case_reference"])


def test_chat_second_message_joins_session_case(client):
    session = support.open_chat(client)
    first = support.post_chat(client, session, "Hay un bache", "k1")

    second = support.post_chat(client, session, "Está frente al número 23", "k2")

    assert second.json_body["case_opened"] is False
    assert second.json_body["case_reference"] == first.json_body["case_reference"]
    assert len(support.items_of_kind("CASE#", "CASE")) == 1


# Reading messages


def test_chat_messages_include_inbound_text(client):
    session = support.open_chat(client)
    posted = support.post_chat(client, session, "Hay un bache en mi calle", "k1")

    messages = support.chat_messages(client, session).json_body["messages"]

    inbound = messages[0]
    assert inbound["message_id"] == posted.json_body["message_id"]
    assert inbound["direction"] == "inbound"
    assert inbound["author"] == "citizen"
    assert inbound["text"] == "Hay un bache en mi calle"


def test_chat_messages_include_case_notice(client):
    session = support.open_chat(client)
    posted = support.post_chat(client, session, "Hay un bache en mi calle", "k1")

    messages = support.chat_messages(client, session).json_body["messages"]

    notice = NOTICE_PATTERN.fullmatch(messages[1]["text"])
    assert len(messages) == 2
    assert notice is not None
    assert notice.group(1) == posted.json_body["case_reference"]


def test_chat_case_notice_is_sent_by_agency(client):
    session = support.open_chat(client)
    support.post_chat(client, session, "Hay un bache en mi calle", "k1")

    notice = support.chat_messages(client, session).json_body["messages"][1]

    assert notice["direction"] == "outbound"
    assert notice["author"] == "system"


def test_chat_case_notice_is_on_timeline(client):
    session = support.open_chat(client)
    support.post_chat(client, session, "Hay un bache en mi calle", "k1")

    outbound = support.contacts("outbound", "chat")

    assert len(outbound) == 1
    assert outbound[0]["citizen_id"] == session.citizen_id
    assert outbound[0]["delivery_status"] == "delivered"


def test_chat_case_notice_follows_its_message(client):
    session = support.open_chat(client)
    support.post_chat(client, session, "Hay un bache en mi calle", "k1")

    inbound, notice = support.chat_messages(client, session).json_body["messages"]

    assert notice["sent_at"] > inbound["sent_at"]


def test_chat_messages_page_with_after_cursor(client):
    session = support.open_chat(client)
    post_messages(client, session, 3)
    everything = support.chat_messages(client, session).json_body["messages"]

    pages, after = [], None
    for _ in range(len(everything)):
        query = {"limit": 2, "after": after} if after else {"limit": 2}
        page = support.chat_messages(client, session, **query).json_body
        if not page["messages"]:
            break
        pages.append([message["message_id"] for message in page["messages"]])
        after = page["next_after"]

    assert len(everything) == 4
    assert pages == [
        [everything[0]["message_id"], everything[1]["message_id"]],
        [everything[2]["message_id"], everything[3]["message_id"]],
    ]


def test_chat_messages_after_last_cursor_is_empty(client):
    session = support.open_chat(client)
    post_messages(client, session, 1)
    last = support.chat_messages(client, session).json_body["next_after"]

    page = support.chat_messages(client, session, after=last).json_body

    assert page["messages"] == []
    assert page["next_after"] == last


def test_chat_messages_limit_is_respected(client):
    session = support.open_chat(client)
    post_messages(client, session, 2)

    page = support.chat_messages(client, session, limit=1).json_body

    assert len(page["messages"]) == 1


@pytest.mark.parametrize("limit", ["1", "100"])
def test_chat_messages_limit_bounds_are_accepted(client, limit):
    session = support.open_chat(client)

    response = support.chat_messages(client, session, limit=limit)

    assert response.status_code == 200


@pytest.mark.parametrize("limit", ["0", "101", "-1", "many"])
def test_chat_messages_limit_out_of_range_is_rejected(client, limit):
    session = support.open_chat(client)

    response = support.chat_messages(client, session, limit=limit)

    assert response.status_code == 400
    assert error_of(response)["field"] == "query.limit"


@pytest.mark.parametrize(
    "after", ["yesterday", "2026-12-04T10:00:00.000Z", "2026-12-04T10:00:00.000Z#ABC"]
)
def test_chat_messages_bad_cursor_is_rejected(client, after):
    session = support.open_chat(client)

    response = support.chat_messages(client, session, after=after)

    assert response.status_code == 400
    assert error_of(response)["field"] == "after"


def test_chat_messages_unknown_query_parameter_is_rejected(client):
    session = support.open_chat(client)

    response = support.chat_messages(client, session, page=2)

    assert response.status_code == 400
    assert error_of(response)["field"] == "query.page"


def test_chat_messages_of_new_session_are_empty(client):
    session = support.open_chat(client)

    page = support.chat_messages(client, session).json_body

    assert page["messages"] == []
    assert page["next_after"] is None

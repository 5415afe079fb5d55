"""Citizen search, profile and timeline through the agent API, one agency at a time."""

import base64
import json

import pytest

from tests.fixtures_agents import (
    identify_call,
    open_chat,
    post_chat,
    post_json,
    receive_sms,
)

PHONE = "+525541637145"
OTHER_PHONE = "+525598765432"


def _search(client, headers, **body):
    return post_json(client, "/citizens/search", body, headers)


def _body(response):
    return json.loads(response.body)


def _citizen_of(session):
    from chalicelib.store.models import ChatSession, chat_key

    return ChatSession.get(chat_key(session["session_id"]), "SESSION").citizen_id


def _profile(client, headers, citizen_id):
    return client.http.get(f"/citizens/{citizen_id}", headers=headers)


def _timeline(client, headers, citizen_id, query=""):
    return client.http.get(f"/citizens/{citizen_id}/timeline{query}", headers=headers)


def _walk(client, headers, citizen_id, limit):
    """Return every page of a timeline, following next_cursor."""
    pages, cursor = [], None
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = _timeline(client, headers, citizen_id, query)
        assert response.status_code == 200, response.body
        pages.append(_body(response))
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            return pages


@pytest.fixture
def chat_citizen(client):
    """A provisional citizen who opened a demo case by web chat, claiming a phone and email."""
    session = open_chat(client, name="María López", phone="55 4163 7145", email="Maria@Example.org")
    answer = post_chat(client, session, "Hay un bache frente a mi casa", "msg-1")
    return {
        "session": session,
        "citizen_id": _citizen_of(session),
        "reference": answer["case_reference"],
    }


@pytest.fixture
def proven_citizen(client, demo_agency, chat_citizen, sms_outbox):
    """The chat citizen after an SMS from the claimed phone quoted the case reference."""
    receive_sms(
        client,
        sender=PHONE,
        to=demo_agency["sms_number"],
        body=f"Sigo esperando, caso {chat_citizen['reference']}",
        message_id="sms-proof-1",
    )
    return chat_citizen


def test_search_phone_finds_claimant(client, agent_headers, chat_citizen):
    response = _search(client, agent_headers, phone="55 4163 7145")

    assert response.status_code == 200
    assert _body(response) == {
        "kind": "phone",
        "matches": [
            {
                "citizen_id": chat_citizen["citizen_id"],
                "match": "claimed",
                "first_name": "María",
                "full_name": "María López",
                "provisional": True,
                "merged_into": None,
            }
        ],
    }


def test_search_phone_after_proof_is_verified(client, agent_headers, proven_citizen):
    response = _search(client, agent_headers, phone="+52 1 55 4163 7145")

    (match,) = _body(response)["matches"]
    assert match["citizen_id"] == proven_citizen["citizen_id"]
    assert match["match"] == "verified"
    assert match["provisional"] is False


def test_search_owner_survives_many_claims(client, agent_headers, proven_citizen):
    import uuid
    from datetime import UTC, datetime

    from chalicelib.journey.records import new_claim
    from chalicelib.store.models import IdentityLink

    # 60 claims of the phone as anonymous chats write them, without their profiles,
    # so search skips the claimants. Their CLAIM# sort keys come before LINK, and
    # there are more of them than one page of claims.
    now = datetime.now(UTC)
    with IdentityLink.batch_write() as batch:
        for _ in range(60):
            batch.save(new_claim("phone", PHONE, uuid.uuid4().hex, "chat", "es", now))

    response = _search(client, agent_headers, phone=PHONE)

    assert response.status_code == 200
    matches = {match["citizen_id"]: match["match"] for match in _body(response)["matches"]}
    assert matches == {proven_citizen["citizen_id"]: "verified"}


def test_search_email_is_normalized(client, agent_headers, chat_citizen):
    response = _search(client, agent_headers, email="  MARIA@example.ORG ")

    (match,) = _body(response)["matches"]
    assert match["citizen_id"] == chat_citizen["citizen_id"]
    assert match["match"] == "claimed"


def test_search_case_reference_finds_citizen(client, agent_headers, chat_citizen):
    spaced = chat_citizen["reference"].replace("-", " ")

    response = _search(client, agent_headers, case_reference=spaced)

    (match,) = _body(response)["matches"]
    assert match["citizen_id"] == chat_citizen["citizen_id"]
    assert match["match"] == "case_reference"


def test_search_other_agency_reference_finds_nothing(client, water_agent_headers, chat_citizen):
    response = _search(client, water_agent_headers, case_reference=chat_citizen["reference"])

    assert response.status_code == 200
    assert _body(response)["matches"] == []


def test_search_unknown_phone_finds_nothing(client, agent_headers, chat_citizen):
    response = _search(client, agent_headers, phone=OTHER_PHONE)

    assert response.status_code == 200
    assert _body(response)["matches"] == []


def test_search_national_id_finds_nothing_yet(client, agent_headers):
    response = _search(client, agent_headers, national_id="LOMM-800101-MDFPRR09")

    assert response.status_code == 200
    assert _body(response) == {"kind": "national_id", "matches": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": PHONE, "email": "maria@example.org"}, "body"),
        ({}, "body"),
        ({"phone": "12"}, "phone"),
        ({"phone": "call me"}, "phone"),
        ({"email": "not an email"}, "email"),
        ({"case_reference": "123-456-789"}, "case_reference"),
        ({"national_id": "Ñ"}, "national_id"),
        ({"name": "María"}, "name"),
    ],
    ids=["two", "none", "short-phone", "letters", "email", "check-digit", "national-id", "unknown"],
)
def test_search_invalid_body_is_400(client, agent_headers, body, field):
    response = _search(client, agent_headers, **body)

    assert response.status_code == 400
    error = _body(response)["error"]
    assert error["code"] == "invalid_request"
    assert error["field"] == field


def test_search_body_not_json_is_400(client, agent_headers):
    response = client.http.post("/citizens/search", headers=agent_headers, body=b"phone=+52")

    assert response.status_code == 400


def test_search_skips_other_agency_citizens(client, agent_headers, other_agency, sms_outbox):
    receive_sms(
        client, sender=OTHER_PHONE, to=other_agency["sms_number"], body="Sin agua", message_id="w-1"
    )

    response = _search(client, agent_headers, phone=OTHER_PHONE)

    assert _body(response)["matches"] == []


def test_search_finds_own_agency_citizen(client, water_agent_headers, other_agency, sms_outbox):
    receive_sms(
        client, sender=OTHER_PHONE, to=other_agency["sms_number"], body="Sin agua", message_id="w-1"
    )

    response = _search(client, water_agent_headers, phone=OTHER_PHONE)

    (match,) = _body(response)["matches"]
    assert match["match"] == "verified"


def test_profile_lists_identities_and_cases(client, agent_headers, proven_citizen):
    response = _profile(client, agent_headers, proven_citizen["citizen_id"])

    assert response.status_code == 200
    profile = _body(response)
    assert profile["citizen_id"] == proven_citizen["citizen_id"]
    assert profile["first_name"] == "María"
    assert profile["language"] == "es"
    assert profile["preferred_channel"] == "chat"
    assert profile["channels"] == ["chat", "sms"]
    assert profile["provisional"] is False
    assert profile["merged_into"] is None
    assert profile["merged_from"] == []
    identities = [(item["kind"], item["value"], item["verified"]) for item in profile["identities"]]
    assert identities == [("phone", PHONE, True), ("email", "maria@example.org", False)]
    assert profile["identities"][0]["source_channel"] == "sms"
    (case,) = profile["cases"]
    assert case["reference"] == proven_citizen["reference"]
    assert case["status"] == "open"
    assert profile["other_agency_cases"] == []


def test_profile_shows_other_agency_case_existence(
    client, agent_headers, proven_citizen, other_agency
):
    receive_sms(
        client, sender=PHONE, to=other_agency["sms_number"], body="Fuga de agua", message_id="w-2"
    )

    profile = _body(_profile(client, agent_headers, proven_citizen["citizen_id"]))

    (other,) = profile["other_agency_cases"]
    assert set(other) == {"agency_id", "reference", "status"}
    assert other["agency_id"] == "water"
    assert other["status"] == "open"
    assert [case["reference"] for case in profile["cases"]] == [proven_citizen["reference"]]


def test_profile_unknown_citizen_is_404(client, agent_headers):
    response = _profile(client, agent_headers, "0" * 32)

    assert response.status_code == 404
    assert _body(response)["error"] == {
        "code": "not_found",
        "message": f"citizen {'0' * 32!r} not found",
        "field": "citizen_id",
    }


def test_profile_other_agency_citizen_is_404(client, water_agent_headers, chat_citizen):
    citizen_id = chat_citizen["citizen_id"]

    response = _profile(client, water_agent_headers, citizen_id)

    assert response.status_code == 404
    assert _body(response)["error"] == {
        "code": "not_found",
        "message": f"citizen {citizen_id!r} not found",
        "field": "citizen_id",
    }


def test_profile_malformed_id_is_400(client, agent_headers):
    response = _profile(client, agent_headers, "not-an-id")

    assert response.status_code == 400
    assert _body(response)["error"]["field"] == "citizen_id"


def test_profile_includes_merged_profile(client, agent_headers, demo_agency, sms_outbox):
    receive_sms(client, sender=PHONE, to=demo_agency["sms_number"], body="Hola", message_id="s-1")
    survivor = _body(_search(client, agent_headers, phone=PHONE))["matches"][0]["citizen_id"]
    session = open_chat(client, name="María")
    answer = post_chat(client, session, "Reporto una luminaria", "c-1")
    merged = _citizen_of(session)
    quote = f"Soy yo, caso {answer['case_reference']}"
    receive_sms(client, sender=PHONE, to=demo_agency["sms_number"], body=quote, message_id="s-2")

    profile = _body(_profile(client, agent_headers, survivor))
    merged_view = _body(_profile(client, agent_headers, merged))
    pages = _walk(client, agent_headers, survivor, 100)

    assert profile["merged_from"] == [merged]
    assert {case["citizen_id"] for case in profile["cases"]} == {survivor, merged}
    assert merged_view["merged_into"] == survivor
    citizens = {contact["citizen_id"] for contact in pages[0]["contacts"]}
    assert citizens == {survivor, merged}
    texts = [contact["text"] for contact in pages[0]["contacts"]]
    assert "Reporto una luminaria" in texts


def test_timeline_is_newest_first(client, agent_headers, proven_citizen):
    response = _timeline(client, agent_headers, proven_citizen["citizen_id"])

    contacts = _body(response)["contacts"]
    times = [contact["occurred_at"] for contact in contacts]
    assert times == sorted(times, reverse=True)
    assert contacts[0]["channel"] == "sms"
    assert contacts[0]["text"] == f"Sigo esperando, caso {proven_citizen['reference']}"
    assert contacts[-1]["text"] == "Hay un bache frente a mi casa"


def test_timeline_excludes_other_agency(client, agent_headers, proven_citizen, other_agency):
    receive_sms(
        client, sender=PHONE, to=other_agency["sms_number"], body="Fuga de agua", message_id="w-3"
    )

    contacts = _body(_timeline(client, agent_headers, proven_citizen["citizen_id"]))["contacts"]

    assert {contact["text"] for contact in contacts}.isdisjoint({"Fuga de agua"})
    assert len(contacts) == 3


def test_timeline_water_sees_no_demo_contacts(
    client, water_agent_headers, proven_citizen, other_agency
):
    receive_sms(
        client, sender=PHONE, to=other_agency["sms_number"], body="Fuga de agua", message_id="w-4"
    )

    response = _timeline(client, water_agent_headers, proven_citizen["citizen_id"])

    contacts = _body(response)["contacts"]
    assert response.status_code == 200
    assert contacts
    assert all(contact["case_reference"] != proven_citizen["reference"] for contact in contacts)
    assert "Hay un bache frente a mi casa" not in {contact["text"] for contact in contacts}


def test_timeline_other_agency_citizen_is_404(client, water_agent_headers, chat_citizen):
    response = _timeline(client, water_agent_headers, chat_citizen["citizen_id"])

    assert response.status_code == 404


@pytest.fixture
def busy_citizen(client):
    """A chat citizen with 31 contacts: 30 messages and the case notice."""
    session = open_chat(client, name="Rosa")
    for number in range(30):
        post_chat(client, session, f"Mensaje {number}", f"m-{number}")
    return _citizen_of(session)


def test_timeline_default_page_is_25(client, agent_headers, busy_citizen):
    page = _body(_timeline(client, agent_headers, busy_citizen))

    assert len(page["contacts"]) == 25
    assert page["next_cursor"] is not None


def test_timeline_cursor_walk_covers_all(client, agent_headers, busy_citizen):
    pages = _walk(client, agent_headers, busy_citizen, 7)

    contacts = [contact for page in pages for contact in page["contacts"]]
    ids = [contact["contact_id"] for contact in contacts]
    assert [len(page["contacts"]) for page in pages] == [7, 7, 7, 7, 3]
    assert len(set(ids)) == 31
    keys = [(contact["occurred_at"], contact["contact_id"]) for contact in contacts]
    assert keys == sorted(keys, reverse=True)
    assert contacts[-1]["text"] == "Mensaje 0"


def test_timeline_filter_pages_past_other_agency(
    client, agent_headers, demo_agency, other_agency, sms_outbox
):
    receive_sms(client, sender=PHONE, to=demo_agency["sms_number"], body="Bache", message_id="d-0")
    for number in range(6):
        water = f"Agua {number}"
        receive_sms(
            client,
            sender=PHONE,
            to=other_agency["sms_number"],
            body=water,
            message_id=f"w-{number}",
        )
    receive_sms(client, sender=PHONE, to=demo_agency["sms_number"], body="Sigue", message_id="d-1")
    citizen_id = _body(_search(client, agent_headers, phone=PHONE))["matches"][0]["citizen_id"]

    pages = _walk(client, agent_headers, citizen_id, 1)

    texts = [contact["text"] for page in pages for contact in page["contacts"]]
    assert "Sigue" in texts
    assert "Bache" in texts
    assert not [text for text in texts if text.startswith("Agua")]
    assert all(page["contacts"] for page in pages)
    assert len(texts) == 3


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten"])
def test_timeline_limit_out_of_bounds_is_400(client, agent_headers, chat_citizen, limit):
    response = _timeline(client, agent_headers, chat_citizen["citizen_id"], f"?limit={limit}")

    assert response.status_code == 400
    assert _body(response)["error"]["field"] == "query.limit"


def test_timeline_limit_100_is_allowed(client, agent_headers, chat_citizen):
    response = _timeline(client, agent_headers, chat_citizen["citizen_id"], "?limit=100")

    assert response.status_code == 200


def _cursor(document):
    text = json.dumps(document).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def test_timeline_garbage_cursor_is_400(client, agent_headers, busy_citizen):
    response = _timeline(client, agent_headers, busy_citizen, "?cursor=garbage!!")

    assert response.status_code == 400
    assert _body(response)["error"]["field"] == "cursor"


def test_timeline_cursor_of_other_citizen_is_400(client, agent_headers, busy_citizen, chat_citizen):
    cursor = _body(_timeline(client, agent_headers, busy_citizen, "?limit=2"))["next_cursor"]

    response = _timeline(client, agent_headers, chat_citizen["citizen_id"], f"?cursor={cursor}")

    assert response.status_code == 400
    assert "another timeline" in _body(response)["error"]["message"]


def test_timeline_edited_cursor_is_400(client, agent_headers, busy_citizen):
    cursor = _body(_timeline(client, agent_headers, busy_citizen, "?limit=2"))["next_cursor"]
    document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    document["sk"] = "PROFILE"

    response = _timeline(client, agent_headers, busy_citizen, f"?cursor={_cursor(document)}")

    assert response.status_code == 400


def test_journey_reads_back_every_channel(client, agent_headers, demo_agency, sms_outbox):
    session = open_chat(client, name="María López", phone=PHONE)
    answer = post_chat(client, session, "Hay un bache frente a mi casa", "msg-1")
    quote = f"Sigo esperando, caso {answer['case_reference']}"
    receive_sms(client, sender=PHONE, to=demo_agency["sms_number"], body=quote, message_id="j-1")
    call = identify_call(
        client,
        caller=PHONE,
        instance_arn=demo_agency["connect_instance_arn"],
        contact_id="6a1b2c3d-0000-4000-8000-00000000ca11",
    )

    (match,) = _body(_search(client, agent_headers, phone=PHONE))["matches"]
    profile = _body(_profile(client, agent_headers, match["citizen_id"]))
    contacts = _body(_timeline(client, agent_headers, match["citizen_id"]))["contacts"]

    assert call["known_caller"] == "true"
    assert match["match"] == "verified"
    assert match["citizen_id"] == _citizen_of(session)
    assert [case["reference"] for case in profile["cases"]] == [answer["case_reference"]]
    assert [contact["channel"] for contact in contacts] == ["voice", "sms", "chat", "chat"]
    assert contacts[0]["kind"] == "call"
    assert contacts[0]["actions"] == ["identify"]
    assert contacts[1]["identity_verified"] is True
    assert sms_outbox == []


def test_reads_write_one_audit_each(client, agent_headers, chat_citizen, audit_records):
    citizen_id = chat_citizen["citizen_id"]

    _search(client, agent_headers, phone=PHONE)
    _profile(client, agent_headers, citizen_id)
    _timeline(client, agent_headers, citizen_id)

    records = audit_records()
    assert [record["action"] for record in records] == [
        "citizen.search",
        "citizen.read",
        "citizen.timeline",
    ]
    assert [record["resource"] for record in records] == [
        "citizens/search/phone",
        f"citizens/{citizen_id}",
        f"citizens/{citizen_id}/timeline",
    ]
    for record in records:
        assert record["actor"] == "agent-demo-0001"
        assert record["role"] == "agent"
        assert record["agency"] == "demo"
        assert record["outcome"] == "success"
        assert record["reason"]
    assert records[0]["citizen_ids"] == [citizen_id]
    assert records[1]["citizen_id"] == citizen_id


def test_hidden_citizen_read_audits_denial(
    client, water_agent_headers, chat_citizen, audit_records
):
    _profile(client, water_agent_headers, chat_citizen["citizen_id"])

    (record,) = audit_records()
    assert record["actor"] == "agent-water-0001"
    assert record["agency"] == "water"
    assert record["outcome"] == "denied"
    assert record["reason"] == "citizen has no case or contact at the agent's agency"


def test_invalid_search_audits_invalid(client, agent_headers, audit_records):
    _search(client, agent_headers, phone="12")

    (record,) = audit_records()
    assert record["action"] == "citizen.search"
    assert record["outcome"] == "invalid"


def test_audit_lines_hold_no_personal_data(client, agent_headers, proven_citizen, audit_records):
    citizen_id = proven_citizen["citizen_id"]

    _search(client, agent_headers, phone=PHONE)
    _search(client, agent_headers, email="maria@example.org")
    _profile(client, agent_headers, citizen_id)
    _timeline(client, agent_headers, citizen_id)

    text = json.dumps(audit_records())
    assert len(audit_records()) == 4
    for secret in ("5541637145", "maria@example.org", "María", "bache", "Sigo esperando"):
        assert secret not in text

"""Inbound email: SES receipt notifications through SNS to the `inbound_email` function."""

import base64
from datetime import UTC, datetime

import pytest

from chalicelib.errors import NotFoundError, ValidationError
from tests import support
from tests import support_webhooks as hooks

ANA = "ana.lopez@example.org"
ANA_MESSAGE_ID = "<CAF8x2Lq0a9Bv3Kd@mail.example.org>"
# A sender who reuses Ana's Message-ID to take over her thread.
ATTACKER = "intruso@example.com"
# The Message-IDs SES gave two emails the agency sent, which the reply's headers cite.
SENT_REPLIED_TO = (
    "<0100019391b4c5d6-7e8f9a0b-1c2d-4e3f-9a4b-5c6d7e8f9a0b-000000@email.amazonses.com>"
)
SENT_FIRST = "<0100019391a2b3c4-5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f-000000@email.amazonses.com>"


@pytest.fixture(autouse=True)
def local_only(monkeypatch):
    hooks.refuse_remote_sockets(monkeypatch)


def deliver(client, event):
    return hooks.invoke(client, "inbound_email", event)


def ses_event(name, replace=None, sns_message_id=None):
    """Load an SES event, replacing text in its raw MIME content (UTF-8 or Base64)."""
    event = support.load_event(name)
    message = hooks.sns_message(event)
    if replace:
        base64_content = message["receipt"]["action"]["encoding"] == "BASE64"
        content = message["content"]
        if base64_content:
            content = base64.b64decode(content).decode()
        for old, new in replace.items():
            assert old in content, old
            content = content.replace(old, new)
        if base64_content:
            content = base64.b64encode(content.encode()).decode()
        message["content"] = content
    return hooks.sns_event(name, message, sns_message_id)


def only(items):
    assert len(items) == 1, items
    return items[0]


def email_contacts():
    return support.contacts("inbound", "email")


def open_whatsapp_case(client, demo_agency):
    """Open a case for Ana by WhatsApp and return it."""
    raw = hooks.raw_event("whatsapp_text")
    response = hooks.post_signed(
        client, hooks.WHATSAPP_PATH, raw, demo_agency["whatsapp_app_secret"]
    )
    assert response.status_code == 200
    case_id = only(support.contacts("inbound", "whatsapp"))["case_id"]
    return support.case_item(case_id)


def email_from(sender, ses_message_id, message_id, in_reply_to=None, recipient=None):
    """Return the sample UTF-8 email from `sender`, with other ids and optionally to `recipient`."""
    event = hooks.email_event(ses_message_id, message_id, in_reply_to)
    text = event["Records"][0]["Sns"]["Message"].replace("mgomez@example.net", sender)
    if recipient is not None:
        text = text.replace("atencion@demo.ventanilla.example", recipient)
    event["Records"][0]["Sns"]["Message"] = text
    return event


def contact_of(ses_message_id):
    """Return the inbound email contact recorded for the SES message `ses_message_id`."""
    return only([item for item in email_contacts() if item["external_id"] == ses_message_id])


def point_at_case(message_id, case):
    """Write the pointer of an email the agency sent about `case`, as the notify service does."""
    from chalicelib.clock import isoformat_z
    from chalicelib.store.models import EmailReference, email_reference_key

    EmailReference(
        email_reference_key(message_id),
        "CASE",
        case_id=case["case_id"],
        reference=case["reference"],
        agency_id=case["agency_id"],
        citizen_id=case["citizen_id"],
        recorded_at=isoformat_z(datetime.now(UTC)),
        direction="outbound",
    ).save()


# A received email


def test_email_base64_content_is_decoded(client):
    deliver(client, support.load_event("ses_received_base64"))

    contact = only(email_contacts())
    assert contact["body"].startswith("Solicitud de constancia de número oficial\n\nBuenos días")
    assert contact["occurred_at"] == "2026-12-04T18:00:00.512Z"
    assert contact["agency_id"] == "demo"


def test_email_verified_sender_is_linked(client):
    deliver(client, support.load_event("ses_received_base64"))

    link = support.get_item(f"IDENTITY#email#{ANA}", "LINK")
    assert link["verified"] is True
    assert link["citizen_id"] == only(email_contacts())["citizen_id"]
    assert support.profile(link["citizen_id"])["provisional"] is False


def test_email_opens_case_and_sends_notice(client):
    deliver(client, support.load_event("ses_received_base64"))

    contact = only(email_contacts())
    notice = only(support.contacts("outbound", "email"))
    assert support.case_item(contact["case_id"])["channel"] == "email"
    assert notice["kind"] == "notice"
    assert notice["case_id"] == contact["case_id"]


def test_email_message_id_points_at_case(client):
    deliver(client, support.load_event("ses_received_base64"))

    pointer = support.get_item(f"EMAILREF#{ANA_MESSAGE_ID}", "CASE")
    assert pointer["case_id"] == only(email_contacts())["case_id"]
    assert pointer["agency_id"] == "demo"


def test_email_redelivery_is_recorded_once(client):
    deliver(client, support.load_event("ses_received_base64"))
    deliver(client, support.load_event("ses_received_base64"))

    assert len(email_contacts()) == 1
    assert len(support.contacts("outbound", "email")) == 1


# Quarantine


def test_email_spam_fail_is_quarantined(client):
    deliver(client, support.load_event("ses_received_spam_fail"))

    item = support.get_item("QUARANTINE#1q3s5u7w9y1a3c5e7g9i1k3m5o7q9s1u3w5y7a03", "EMAIL")
    assert item["agency_id"] == "demo"
    assert item["sender_domain"] == "promo.example.com"
    assert item["verdicts"]["spam"] == "FAIL"
    assert item["verdicts"]["virus"] == "PASS"
    assert item["message_id"] == "<9f8e7d6c5b4a@promo.example.com>"
    assert "expires_at" in item


def test_email_quarantine_keeps_no_content(client):
    deliver(client, support.load_event("ses_received_spam_fail"))

    item = support.get_item("QUARANTINE#1q3s5u7w9y1a3c5e7g9i1k3m5o7q9s1u3w5y7a03", "EMAIL")
    stored = repr(item)
    assert "premios@promo.example.com" not in stored
    assert "Ha ganado un premio" not in stored
    assert "reclamar" not in stored


def test_email_quarantine_writes_nothing_else(client):
    before = support.scan_items()

    deliver(client, support.load_event("ses_received_spam_fail"))

    added = [item for item in support.scan_items() if item not in before]
    assert [item["pk"].split("#")[0] for item in added] == ["QUARANTINE"]
    assert support.contacts() == []


def test_email_virus_fail_is_quarantined(client):
    event = support.load_event("ses_received_utf8")
    message = hooks.sns_message(event)
    message["receipt"]["virusVerdict"]["status"] = "FAIL"

    deliver(client, hooks.sns_event("ses_received_utf8", message))

    assert support.contacts() == []
    assert len(support.items_of_kind("QUARANTINE#", "EMAIL")) == 1


# Threads


def test_email_reply_threads_by_in_reply_to(client, demo_agency):
    case = open_whatsapp_case(client, demo_agency)
    point_at_case(SENT_REPLIED_TO, case)

    deliver(client, support.load_event("ses_reply_with_in_reply_to"))

    contact = only(email_contacts())
    assert contact["case_id"] == case["case_id"]
    assert len(support.items_of_kind("CASE#", "CASE")) == 1
    assert support.case_item(case["case_id"])["last_channel"] == "email"


def test_email_reply_threads_by_references(client, demo_agency):
    case = open_whatsapp_case(client, demo_agency)
    point_at_case(SENT_FIRST, case)

    deliver(client, support.load_event("ses_reply_with_in_reply_to"))

    assert only(email_contacts())["case_id"] == case["case_id"]


def test_email_reply_to_own_received_email_joins_its_case(client):
    deliver(client, email_from(ANA, "ses-ana-1", ANA_MESSAGE_ID))
    first_case = only(email_contacts())["case_id"]

    deliver(client, email_from(ANA, "ses-ana-2", "<ana-2@mail.example.org>", ANA_MESSAGE_ID))

    other = [item for item in email_contacts() if item["case_id"] != first_case]
    assert other == []
    assert len(support.items_of_kind("CASE#", "CASE")) == 1


def test_email_reply_to_other_senders_email_opens_case(client):
    deliver(client, support.load_event("ses_received_base64"))
    first_case = only(email_contacts())["case_id"]
    event = ses_event(
        "ses_received_utf8",
        replace={"Subject: Caso": f"In-Reply-To: {ANA_MESSAGE_ID}\r\nSubject: Re: Caso"},
    )

    deliver(client, event)

    other = [item for item in email_contacts() if item["case_id"] != first_case]
    assert len(other) == 1
    assert len(support.items_of_kind("CASE#", "CASE")) == 2


def test_email_reused_message_id_keeps_pointer(client):
    deliver(client, email_from(ANA, "ses-ana-1", ANA_MESSAGE_ID))
    ana_case = only(email_contacts())["case_id"]

    deliver(client, email_from(ATTACKER, "ses-attacker-1", ANA_MESSAGE_ID))

    pointer = support.get_item(f"EMAILREF#{ANA_MESSAGE_ID}", "CASE")
    assert pointer["case_id"] == ana_case
    assert pointer["sender"] == ANA


def test_email_reused_id_other_agency_keeps_thread(client, other_agency):
    deliver(client, email_from(ANA, "ses-ana-1", ANA_MESSAGE_ID))
    ana_case = only(email_contacts())["case_id"]
    deliver(
        client,
        email_from(
            ATTACKER, "ses-attacker-1", ANA_MESSAGE_ID, recipient=other_agency["email_address"]
        ),
    )

    deliver(client, email_from(ANA, "ses-ana-2", "<ana-2@mail.example.org>", ANA_MESSAGE_ID))

    pointer = support.get_item(f"EMAILREF#{ANA_MESSAGE_ID}", "CASE")
    assert pointer["agency_id"] == "demo"
    assert pointer["case_id"] == ana_case
    reply = contact_of("ses-ana-2")
    assert reply["case_id"] == ana_case
    assert reply["agency_id"] == "demo"


def test_email_reused_id_same_agency_keeps_thread(client):
    deliver(client, email_from(ANA, "ses-ana-1", ANA_MESSAGE_ID))
    ana_case = only(email_contacts())["case_id"]
    deliver(client, email_from(ATTACKER, "ses-attacker-1", ANA_MESSAGE_ID))
    attacker_case = contact_of("ses-attacker-1")["case_id"]

    deliver(client, email_from(ANA, "ses-ana-2", "<ana-2@mail.example.org>", ANA_MESSAGE_ID))

    assert attacker_case != ana_case
    assert contact_of("ses-ana-2")["case_id"] == ana_case


def test_email_quoting_others_id_opens_own_case(client):
    deliver(client, email_from(ANA, "ses-ana-1", ANA_MESSAGE_ID))
    ana_case = only(email_contacts())["case_id"]

    deliver(
        client,
        email_from(ATTACKER, "ses-attacker-1", "<attacker-1@example.com>", ANA_MESSAGE_ID),
    )

    assert contact_of("ses-attacker-1")["case_id"] != ana_case
    assert support.case_item(ana_case)["contact_count"] == 1


def test_email_unknown_thread_opens_case(client):
    deliver(client, support.load_event("ses_reply_with_in_reply_to"))

    contact = only(email_contacts())
    assert support.case_item(contact["case_id"])["contact_count"] == 1
    assert len(support.items_of_kind("CASE#", "CASE")) == 1


def test_email_reference_in_subject_joins_case(client, demo_agency):
    case = open_whatsapp_case(client, demo_agency)
    digits = case["reference"]
    formatted = f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    event = ses_event("ses_received_utf8", replace={"482-193-058": formatted})

    deliver(client, event)

    assert only(email_contacts())["case_id"] == case["case_id"]


# Senders the channel did not verify


def test_email_dmarc_fail_sender_is_a_claim(client):
    deliver(client, support.load_event("ses_received_html_dmarc_fail"))

    contact = only(email_contacts())
    claims = support.items_of_kind("IDENTITY#email#laura.ruiz@example.org", "CLAIM#")
    assert support.get_item("IDENTITY#email#laura.ruiz@example.org", "LINK") is None
    assert only(claims)["citizen_id"] == contact["citizen_id"]
    assert support.profile(contact["citizen_id"])["provisional"] is True
    assert contact["identity_verified"] is False


def test_email_claim_reuses_provisional_profile(client):
    deliver(client, support.load_event("ses_received_html_dmarc_fail"))
    event = ses_event(
        "ses_received_html_dmarc_fail",
        replace={"html-only-3f2a@": "html-only-4b7c@"},
    )
    message = hooks.sns_message(event)
    message["mail"]["messageId"] = "3d5f7h9j1l3n5p7r9t1v3x5z7b9d1f3h5j7l9n99"

    deliver(client, hooks.sns_event("ses_received_html_dmarc_fail", message))

    citizens = {item["citizen_id"] for item in email_contacts()}
    cases = {item["case_id"] for item in email_contacts()}
    assert len(email_contacts()) == 2
    assert len(citizens) == 1
    assert len(cases) == 1


# Events that are not valid


def test_email_missing_content_writes_nothing(client):
    before = support.scan_items()

    with pytest.raises(ValidationError) as raised:
        deliver(client, support.load_event("ses_missing_content"))

    assert raised.value.field == "Records[0].Sns.Message.content"
    assert support.scan_items() == before


def test_email_unknown_recipient_is_not_found(client):
    event = support.load_event("ses_received_utf8")
    message = hooks.sns_message(event)
    message["receipt"]["recipients"] = ["buzon@otra.example"]
    before = support.scan_items()

    with pytest.raises(NotFoundError) as raised:
        deliver(client, hooks.sns_event("ses_received_utf8", message))

    assert raised.value.field == "Records[0].Sns.Message.receipt.recipients"
    assert support.scan_items() == before

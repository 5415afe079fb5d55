"""Consent keywords on inbound SMS, WhatsApp and Messenger: opt-out, opt-in, HELP."""

import json
from datetime import UTC, datetime

import pytest
from aws_lambda_powertools.utilities import parameters

from chalicelib.agencies import get_agency
from chalicelib.clock import isoformat_z
from chalicelib.journey.consent import confirmation_text
from chalicelib.notify import sender
from infra.local.seed import DEMO_AGENCY, OTHER_AGENCY
from tests import support
from tests import support_notify as notify_support
from tests.support import CITIZEN_PHONE
from tests.support_notify import PSID, WHATSAPP_ID

OPT_OUT_ES = confirmation_text("opt_out", "es")
OPT_IN_ES = confirmation_text("opt_in", "es")
DEMO_NUMBER = DEMO_AGENCY["sms_number"]
WATER_NUMBER = OTHER_AGENCY["sms_number"]


@pytest.fixture
def sms(aws):
    return support.SmsOutbox.attach()


@pytest.fixture
def graph(aws, monkeypatch):
    with notify_support.graph_fake() as fake:
        monkeypatch.setenv("VENTANILLA_META_GRAPH_URL", fake.url)
        notify_support.reload_settings()
        parameters.clear_caches()
        yield fake
    notify_support.reload_settings()
    parameters.clear_caches()


def text_in(client, body, message_id, sns_message_id=None, to=DEMO_NUMBER):
    """Deliver an SMS from the citizen's phone to an agency's number through `inbound_sms`."""
    event = support.sms_event(
        "sms_first_message",
        messageBody=body,
        inboundMessageId=message_id,
        destinationNumber=to,
        sns_message_id=sns_message_id or f"sns-{message_id}",
        timestamp=isoformat_z(datetime.now(UTC)),
    )
    support.invoke_sms(client, event)


def texts_from(sms, agency_number):
    """Return the bodies of the SMS sent from one agency's number, oldest first."""
    return [
        request["MessageBody"]
        for request in sms.sent
        if request["OriginationIdentity"] == agency_number
    ]


def citizen_id():
    return support.phone_link(CITIZEN_PHONE)["citizen_id"]


def consent_contacts():
    """Return the consent keywords the citizens sent, oldest first."""
    items = [item for item in support.contacts("inbound") if item["kind"] == "consent"]
    return sorted(items, key=lambda item: item["sk"])


@pytest.mark.parametrize(
    "keyword", ["stop", " Stop ", "ARRÊT", "arret!", "BAJA", "stop\u200b", "\ufeffBaja\u2060"]
)
def test_stop_spellings_opt_out_sms(client, sms, keyword):
    text_in(client, keyword, "in-stop")

    profile = support.profile(citizen_id())
    assert profile["opt_outs"] == {"demo#sms"}
    assert profile["consent_changed_at"]["demo#sms"]
    assert [request["MessageBody"] for request in sms.to(CITIZEN_PHONE)] == [OPT_OUT_ES]


def test_stop_opens_no_case(client, sms):
    text_in(client, "STOP", "in-stop")

    assert support.items_of_kind("CASE#", "CASE") == []
    assert support.phone_link(CITIZEN_PHONE)["open_cases"] == {}


def test_stop_delivered_twice_confirms_once(client, sms):
    text_in(client, "STOP", "in-stop", sns_message_id="sns-1")
    text_in(client, "STOP", "in-stop", sns_message_id="sns-2")

    assert len(sms.to(CITIZEN_PHONE)) == 1
    assert len(consent_contacts()) == 1
    confirmations = [item for item in support.contacts("outbound") if item["kind"] == "consent"]
    assert len(confirmations) == 1


def test_stop_is_on_timeline(client, sms):
    text_in(client, "Baja", "in-stop")

    keyword, confirmation = support.timeline(citizen_id())
    assert keyword["kind"] == "consent"
    assert keyword["consent_action"] == "opt_out"
    assert keyword["direction"] == "inbound"
    assert keyword["body"] == "Baja"
    assert confirmation["kind"] == "consent"
    assert confirmation["consent_action"] == "opt_out"
    assert confirmation["direction"] == "outbound"
    assert confirmation["delivery_status"] == "sent"
    assert confirmation["segments"] == 1


def test_known_citizen_stop_keeps_case(client, sms):
    text_in(client, "Hay una fuga de agua", "in-1")
    case_id = support.phone_link(CITIZEN_PHONE)["open_cases"]["demo"]["case_id"]

    text_in(client, "STOP", "in-2")

    assert support.case_item(case_id)["contact_count"] == 1
    assert support.profile(citizen_id())["opt_outs"] == {"demo#sms"}


def test_opted_out_sms_gets_no_case_notice(client, sms):
    text_in(client, "STOP", "in-stop")
    text_in(client, "Hay una fuga de agua", "in-1")

    assert [request["MessageBody"] for request in sms.sent] == [OPT_OUT_ES]
    notice = support.contacts("outbound")[-1]
    assert notice["kind"] == "notice"
    assert notice["delivery_status"] == "not_sent"
    assert notice["error_code"] == "opted_out"


def test_opted_out_sms_gets_no_notify(client, sms):
    text_in(client, "Hay una fuga de agua", "in-1")
    case_id = support.phone_link(CITIZEN_PHONE)["open_cases"]["demo"]["case_id"]
    text_in(client, "STOP", "in-2")
    sent_before = len(sms.sent)

    delivery = sender.notify_citizen(get_agency("demo"), citizen_id(), "Novedades.", case_id)

    assert len(sms.sent) == sent_before
    assert delivery.reached is False


def test_start_opts_back_in(client, sms):
    text_in(client, "STOP", "in-1")
    text_in(client, "START", "in-2")

    profile = support.profile(citizen_id())
    assert "demo#sms" not in profile.get("opt_outs", set())
    assert sms.sent[-1]["MessageBody"] == OPT_IN_ES


def test_start_lets_notices_through(client, sms):
    text_in(client, "ALTO", "in-1")
    text_in(client, "inicio", "in-2")
    text_in(client, "Hay una fuga de agua", "in-3")

    assert sms.sent[-1]["MessageBody"].startswith("Caso ")


def test_consent_changes_are_on_timeline(client, sms):
    text_in(client, "STOP", "in-1")
    text_in(client, "ALTA", "in-2")

    actions = [item["consent_action"] for item in consent_contacts()]
    assert actions == ["opt_out", "opt_in"]


def test_help_answers_with_contact_options(client, sms, demo_agency):
    text_in(client, "AYUDA", "in-help")

    expected = confirmation_text("help", "es", contact_options=demo_agency["contact_options"])
    assert sms.sent[-1]["MessageBody"] == expected
    assert "opt_outs" not in support.profile(citizen_id())
    assert consent_contacts()[0]["consent_action"] == "help"


def test_help_reaches_opted_out_channel(client, sms):
    text_in(client, "STOP", "in-1")
    text_in(client, "HELP", "in-2")

    assert len(sms.sent) == 2
    assert support.profile(citizen_id())["opt_outs"] == {"demo#sms"}


def test_confirmation_in_citizen_language(client, sms):
    text_in(client, "Hola", "in-1")
    notify_support.set_profile(citizen_id(), language="en")
    support.table().update_item(
        Key={"pk": f"IDENTITY#phone#{CITIZEN_PHONE}", "sk": "LINK"},
        UpdateExpression="SET #language = :language",
        ExpressionAttributeNames={"#language": "language"},
        ExpressionAttributeValues={":language": "en"},
    )

    text_in(client, "STOP", "in-2")

    assert sms.sent[-1]["MessageBody"] == confirmation_text("opt_out", "en")


def test_sentence_with_stop_opens_case(client, sms):
    text_in(client, "stop sending me bills please", "in-1")

    assert len(support.items_of_kind("CASE#", "CASE")) == 1
    assert "opt_outs" not in support.profile(citizen_id())


def test_whatsapp_stop_opts_out_whatsapp_only(graph, sms):
    result = notify_support.receive("whatsapp", "whatsapp", WHATSAPP_ID, "STOP", "wamid.stop")

    profile = support.profile(result.citizen_id)
    assert profile["opt_outs"] == {"demo#whatsapp"}
    assert graph.requests[-1].body["text"]["body"] == OPT_OUT_ES
    assert graph.requests[-1].body["type"] == "text"
    assert sms.sent == []


def test_whatsapp_stop_redelivered_confirms_once(graph):
    notify_support.receive("whatsapp", "whatsapp", WHATSAPP_ID, "Stop", "wamid.stop")
    notify_support.receive("whatsapp", "whatsapp", WHATSAPP_ID, "Stop", "wamid.stop")

    assert len(graph.requests) == 1


def test_whatsapp_opted_out_falls_back_to_sms(graph, sms):
    result = notify_support.receive("whatsapp", "whatsapp", WHATSAPP_ID, "Hola", "wamid.1")
    notify_support.link_identity(result.citizen_id, "phone", CITIZEN_PHONE)
    notify_support.receive("whatsapp", "whatsapp", WHATSAPP_ID, "BAJA", "wamid.2")
    requests_before = len(graph.requests)

    delivery = sender.notify_citizen(
        get_agency("demo"), result.citizen_id, "Novedades de su caso.", result.case_id
    )

    assert len(graph.requests) == requests_before
    assert delivery.final.channel == "sms"
    assert delivery.final.skipped_channels.as_dict()["whatsapp"] == "opted_out"


def test_messenger_stop_opts_out_messenger(graph):
    result = notify_support.receive("messenger", "messenger", PSID, "PARAR", "m_stop")

    assert support.profile(result.citizen_id)["opt_outs"] == {"demo#messenger"}
    body = graph.requests[-1].body
    assert body["recipient"] == {"id": PSID}
    assert body["message"]["text"] == OPT_OUT_ES
    assert body["messaging_type"] == "RESPONSE"


# Consent per agency: carriers and Meta keep opt-outs per sending number and page.


def test_stop_at_demo_keeps_water_notices(client, sms):
    text_in(client, "STOP", "in-1", to=DEMO_NUMBER)

    text_in(client, "No llega agua a mi colonia", "in-2", to=WATER_NUMBER)

    assert support.profile(citizen_id())["opt_outs"] == {"demo#sms"}
    assert texts_from(sms, DEMO_NUMBER) == [OPT_OUT_ES]
    water_texts = texts_from(sms, WATER_NUMBER)
    assert len(water_texts) == 1
    assert water_texts[0].startswith("Caso ")
    notice = support.contacts("outbound")[-1]
    assert notice["agency_id"] == "water"
    assert notice["delivery_status"] == "sent"


def test_alta_at_water_keeps_demo_opted_out(client, sms):
    text_in(client, "STOP", "in-1", to=DEMO_NUMBER)
    text_in(client, "ALTA", "in-2", to=WATER_NUMBER)

    text_in(client, "Hay una fuga de agua", "in-3", to=DEMO_NUMBER)

    profile = support.profile(citizen_id())
    assert profile["opt_outs"] == {"demo#sms"}
    assert set(profile["consent_changed_at"]) == {"demo#sms", "water#sms"}
    assert texts_from(sms, DEMO_NUMBER) == [OPT_OUT_ES]
    assert texts_from(sms, WATER_NUMBER) == [OPT_IN_ES]
    notice = support.contacts("outbound")[-1]
    assert notice["agency_id"] == "demo"
    assert notice["delivery_status"] == "not_sent"
    assert notice["error_code"] == "opted_out"


def test_stop_at_each_agency_confirmed_by_each(client, sms):
    text_in(client, "STOP", "in-1", to=DEMO_NUMBER)
    text_in(client, "BAJA", "in-2", to=WATER_NUMBER)

    assert support.profile(citizen_id())["opt_outs"] == {"demo#sms", "water#sms"}
    assert texts_from(sms, DEMO_NUMBER) == [OPT_OUT_ES]
    assert texts_from(sms, WATER_NUMBER) == [OPT_OUT_ES]


def test_help_at_water_names_water_contact_options(client, sms, other_agency):
    text_in(client, "AYUDA", "in-1", to=WATER_NUMBER)

    options = other_agency["contact_options"]
    expected = confirmation_text("help", "es", contact_options=options)
    assert texts_from(sms, WATER_NUMBER) == [expected]
    assert texts_from(sms, DEMO_NUMBER) == []


def test_whatsapp_opt_out_at_water_keeps_demo_whatsapp(graph, sms):
    result = notify_support.receive("whatsapp", "whatsapp", WHATSAPP_ID, "Hola", "wamid.1")
    notify_support.set_profile(result.citizen_id, opt_outs={"water#whatsapp"})
    requests_before = len(graph.requests)

    delivery = sender.notify_citizen(
        get_agency("demo"), result.citizen_id, "Novedades de su caso.", result.case_id
    )

    assert len(graph.requests) == requests_before + 1
    assert delivery.final.channel == "whatsapp"
    assert delivery.final.skipped_channels is None


# Repeated keywords: a change is confirmed once, and a repeat changes and sends nothing.


def test_repeated_stop_confirmed_once(client, sms):
    text_in(client, "STOP", "in-1")
    stamp = support.profile(citizen_id())["consent_changed_at"]["demo#sms"]

    text_in(client, "stop", "in-2")
    text_in(client, "BAJA", "in-3")

    assert texts_from(sms, DEMO_NUMBER) == [OPT_OUT_ES]
    profile = support.profile(citizen_id())
    assert profile["opt_outs"] == {"demo#sms"}
    assert profile["consent_changed_at"]["demo#sms"] == stamp
    keywords = consent_contacts()
    assert [item["consent_action"] for item in keywords] == ["opt_out"] * 3
    assert [item["consent_changed"] for item in keywords] == [True, False, False]


def test_repeated_stop_sends_no_outbound_contact(client, sms):
    text_in(client, "STOP", "in-1")
    text_in(client, "STOP", "in-2")

    confirmations = [item for item in support.contacts("outbound") if item["kind"] == "consent"]
    assert len(confirmations) == 1


def test_repeated_start_confirmed_once(client, sms):
    text_in(client, "START", "in-1")
    text_in(client, "START", "in-2")
    text_in(client, "Alta", "in-3")

    assert texts_from(sms, DEMO_NUMBER) == [OPT_IN_ES]
    changed = [item["consent_changed"] for item in consent_contacts()]
    assert changed == [True, False, False]


def test_start_after_known_citizen_confirmed_once(client, sms):
    text_in(client, "Hay una fuga de agua", "in-1")
    sent_before = len(sms.sent)

    text_in(client, "START", "in-2")
    text_in(client, "START", "in-3")

    assert [request["MessageBody"] for request in sms.sent[sent_before:]] == [OPT_IN_ES]
    assert "opt_outs" not in support.profile(citizen_id())


def test_stop_start_stop_each_confirmed(client, sms):
    for index, keyword in enumerate(["STOP", "STOP", "START", "START", "STOP"]):
        text_in(client, keyword, f"in-{index}")

    assert texts_from(sms, DEMO_NUMBER) == [OPT_OUT_ES, OPT_IN_ES, OPT_OUT_ES]
    changed = [item["consent_changed"] for item in consent_contacts()]
    assert changed == [True, False, True, False, True]
    assert support.profile(citizen_id())["opt_outs"] == {"demo#sms"}


def test_repeated_help_answered_each_time(client, sms):
    text_in(client, "AYUDA", "in-1")
    text_in(client, "AYUDA", "in-2")

    assert len(texts_from(sms, DEMO_NUMBER)) == 2
    assert all("consent_changed" not in item for item in consent_contacts())


def test_whatsapp_repeated_stop_confirmed_once(graph):
    notify_support.receive("whatsapp", "whatsapp", WHATSAPP_ID, "STOP", "wamid.stop-1")
    notify_support.receive("whatsapp", "whatsapp", WHATSAPP_ID, "STOP\u200b", "wamid.stop-2")

    assert len(graph.requests) == 1
    changed = [item["consent_changed"] for item in consent_contacts()]
    assert changed == [True, False]


def test_repeated_stop_on_agent_timeline(client, sms, agent_headers):
    text_in(client, "STOP", "in-1")
    text_in(client, "STOP", "in-2")

    response = client.http.get(f"/citizens/{citizen_id()}/timeline", headers=agent_headers)

    assert response.status_code == 200
    contacts = json.loads(response.body)["contacts"]
    inbound = [entry for entry in contacts if entry["direction"] == "inbound"]
    assert [entry["consent_action"] for entry in inbound] == ["opt_out", "opt_out"]
    assert [entry["consent_changed"] for entry in inbound] == [False, True]


# Opt-outs stored before consent was kept per agency, in `opted_out_channels`.


def legacy_opt_out(client, channel="sms"):
    """Make the citizen known, then store an opt-out the way profiles stored it before."""
    text_in(client, "Hay una fuga de agua", "in-0")
    notify_support.set_profile(
        citizen_id(),
        opted_out_channels={channel},
        consent_changed_at={channel: "2026-01-01T00:00:00.000Z"},
    )


def test_legacy_opt_out_stops_every_agency(client, sms):
    legacy_opt_out(client)
    sent_before = len(sms.sent)

    demo = sender.notify_citizen(get_agency("demo"), citizen_id(), "Novedades.")
    water = sender.notify_citizen(get_agency("water"), citizen_id(), "Novedades.")

    assert len(sms.sent) == sent_before
    assert demo.final.error_code == "opted_out"
    assert water.final.error_code == "opted_out"


def test_legacy_opt_out_ends_per_agency_on_start(client, sms):
    legacy_opt_out(client)
    text_in(client, "START", "in-1", to=DEMO_NUMBER)
    sent_before = len(sms.sent)

    demo = sender.notify_citizen(get_agency("demo"), citizen_id(), "Novedades.")
    water = sender.notify_citizen(get_agency("water"), citizen_id(), "Novedades.")

    assert texts_from(sms, DEMO_NUMBER)[-2] == OPT_IN_ES
    assert demo.reached is True
    assert water.final.error_code == "opted_out"
    assert len(sms.sent) == sent_before + 1


def test_legacy_opt_out_then_stop_is_confirmed(client, sms):
    legacy_opt_out(client)
    sent_before = len(sms.sent)

    text_in(client, "STOP", "in-1", to=DEMO_NUMBER)
    text_in(client, "STOP", "in-2", to=DEMO_NUMBER)

    assert [request["MessageBody"] for request in sms.sent[sent_before:]] == [OPT_OUT_ES]
    assert support.profile(citizen_id())["opt_outs"] == {"demo#sms"}

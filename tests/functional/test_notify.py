"""The notify service: each transport's request, channel choice, fallback, windows, records."""

import json
from email import message_from_bytes, policy

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from botocore.stub import Stubber
from moto.ses.models import ses_backends

from chalicelib import aws, settings
from chalicelib.agencies import get_agency
from chalicelib.notify import sender
from chalicelib.notify.segments import segment_count
from infra.local.seed import DEVELOPMENT_WHATSAPP_TOKEN, OTHER_AGENCY
from tests import support
from tests import support_notify as notify_support
from tests.support import CITIZEN_PHONE
from tests.support_notify import EMAIL, PSID, WHATSAPP_ID, JsonBytes

GRAPH_VERSION = "v23.0"
LONG_TEXT = "Su solicitud de poda fue revisada por la cuadrilla de la zona norte. " * 4


@pytest.fixture
def graph(aws, monkeypatch):
    """A Graph API on 127.0.0.1 that the product's settings point at."""
    with notify_support.graph_fake() as fake:
        monkeypatch.setenv("VENTANILLA_META_GRAPH_URL", fake.url)
        notify_support.reload_settings()
        parameters.clear_caches()
        yield fake
    notify_support.reload_settings()
    parameters.clear_caches()


@pytest.fixture
def sms(aws):
    return support.SmsOutbox.attach()


@pytest.fixture
def social(aws):
    return notify_support.SocialOutbox.attach()


@pytest.fixture
def ses(aws, demo_agency):
    client = boto3.client("ses", region_name="us-east-1")
    client.verify_email_identity(EmailAddress=demo_agency["email_address"])
    return ses_backends["123456789012"]["us-east-1"]


def sms_citizen(body="Hay una fuga de agua en mi calle", message_id="sms-in-1"):
    result = notify_support.receive("sms", "phone", CITIZEN_PHONE, body, message_id)
    return result.citizen_id, result.case_id


def whatsapp_citizen(body="Hay un bache en Hidalgo", message_id="wamid.in-1", agency_id="demo"):
    result = notify_support.receive(
        "whatsapp", "whatsapp", WHATSAPP_ID, body, message_id, agency_id=agency_id
    )
    return result.citizen_id, result.case_id


def notify(citizen_id, text, case_id=None, agency_id="demo", **options):
    return sender.notify_citizen(get_agency(agency_id), citizen_id, text, case_id, **options)


def only(items):
    assert len(items) == 1, items
    return items[0]


# SMS


def test_sms_send_request_from_agency_number(sms, demo_agency):
    citizen_id, case_id = sms_citizen()

    notify(citizen_id, "Su caso fue asignado a una cuadrilla.", case_id)

    request = sms.sent[-1]
    assert request["DestinationPhoneNumber"] == CITIZEN_PHONE
    assert request["OriginationIdentity"] == demo_agency["sms_number"]
    assert request["MessageBody"] == "Su caso fue asignado a una cuadrilla."
    assert request["MessageType"] == "TRANSACTIONAL"


def test_sms_contact_records_segments(sms):
    citizen_id, case_id = sms_citizen()

    notify(citizen_id, LONG_TEXT, case_id)

    contact = notify_support.outbound(citizen_id)[-1]
    assert contact["channel"] == "sms"
    assert contact["delivery_status"] == "sent"
    assert contact["segments"] == segment_count(LONG_TEXT)
    assert contact["segments"] == 2


def test_sms_notice_records_one_segment(sms):
    citizen_id, _ = sms_citizen()

    notice = only(notify_support.outbound(citizen_id))
    assert notice["kind"] == "notice"
    assert notice["segments"] == 1


def test_sms_send_writes_outbound_pointer(sms):
    citizen_id, case_id = sms_citizen()

    delivery = notify(citizen_id, "Su caso fue asignado.", case_id)

    contact = delivery.final
    item = notify_support.pointer("sms", contact.external_id)
    assert item["citizen_id"] == citizen_id
    assert item["contact_sk"] == contact.sk
    assert support.get_item(f"CITIZEN#{citizen_id}", item["contact_sk"])["body"] == (
        "Su caso fue asignado."
    )


# WhatsApp


def test_whatsapp_cloud_api_request_shape(graph, demo_agency):
    citizen_id, case_id = whatsapp_citizen()

    notify(citizen_id, "Su caso fue asignado.", case_id)

    request = graph.requests[-1]
    assert request.path == f"/{GRAPH_VERSION}/{demo_agency['whatsapp_phone_number_id']}/messages"
    assert request.headers["Authorization"] == f"Bearer {DEVELOPMENT_WHATSAPP_TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WHATSAPP_ID.removeprefix("+"),
        "type": "text",
        "text": {"preview_url": False, "body": "Su caso fue asignado."},
    }


def test_whatsapp_case_notice_answers_on_whatsapp(graph):
    citizen_id, _ = whatsapp_citizen()

    notice = only(notify_support.outbound(citizen_id))
    assert notice["channel"] == "whatsapp"
    assert notice["delivery_status"] == "sent"
    assert graph.requests[0].body["text"]["body"] == notice["body"]


def test_whatsapp_send_writes_pointer_of_wamid(graph):
    citizen_id, case_id = whatsapp_citizen()

    delivery = notify(citizen_id, "Su caso fue asignado.", case_id)

    assert delivery.final.external_id == f"wamid.{len(graph.requests)}"
    item = notify_support.pointer("whatsapp", delivery.final.external_id)
    assert item["contact_sk"] == delivery.final.sk


def test_whatsapp_social_request_exact_params(graph, other_agency):
    with Stubber(aws.client("socialmessaging")) as stubber:
        stubber.add_response("send_whatsapp_message", {"messageId": "notice-social-1"})
        citizen_id, case_id = whatsapp_citizen(agency_id="water")
        expected = {
            "originationPhoneNumberId": OTHER_AGENCY["whatsapp_social_phone_number_arn"],
            "message": JsonBytes(
                {
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": WHATSAPP_ID.removeprefix("+"),
                    "type": "text",
                    "text": {"preview_url": False, "body": "Su caso fue asignado."},
                }
            ),
            "metaApiVersion": GRAPH_VERSION,
        }
        stubber.add_response("send_whatsapp_message", {"messageId": "social-2"}, expected)
        delivery = notify(citizen_id, "Su caso fue asignado.", case_id, agency_id="water")
        stubber.assert_no_pending_responses()

    assert graph.requests == []
    assert delivery.final.external_id == "social-2"
    assert notify_support.pointer("whatsapp", "social-2")["citizen_id"] == citizen_id


def test_whatsapp_inside_window_sends_free_text(graph):
    citizen_id, case_id = whatsapp_citizen()
    notify_support.set_last_inbound("whatsapp", WHATSAPP_ID, "demo", hours_ago=23)

    notify(citizen_id, "Respuesta dentro de la ventana.", case_id, template="case_update")

    assert graph.requests[-1].body["type"] == "text"


def test_whatsapp_outside_window_sends_template(graph):
    citizen_id, case_id = whatsapp_citizen()
    notify_support.set_last_inbound("whatsapp", WHATSAPP_ID, "demo", hours_ago=25)
    reference = support.case_item(case_id)["reference"]

    notify(citizen_id, "Ya revisamos\nsu solicitud.", case_id, template="case_update")

    body = graph.requests[-1].body
    grouped = f"{reference[:3]}-{reference[3:6]}-{reference[6:]}"
    assert body["type"] == "template"
    assert body["template"] == {
        "name": "ventanilla_case_update",
        "language": {"code": "es_MX"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": grouped},
                    {"type": "text", "text": "Ya revisamos su solicitud."},
                ],
            }
        ],
    }
    contact = notify_support.outbound(citizen_id)[-1]
    assert contact["template"] == "ventanilla_case_update"
    assert contact["body"] == "Ya revisamos\nsu solicitud."


def test_whatsapp_template_in_citizen_language_only(graph):
    citizen_id, case_id = whatsapp_citizen()
    notify_support.set_profile(citizen_id, language="pt")
    notify_support.set_last_inbound("whatsapp", WHATSAPP_ID, "demo", hours_ago=30)

    delivery = notify(citizen_id, "Atualização do seu caso.", case_id, template="case_update")

    assert len(graph.requests) == 1
    assert delivery.reached is False
    assert delivery.final.error_code == "no_template"


def test_whatsapp_outside_window_without_template_falls_back(graph, sms):
    citizen_id, case_id = whatsapp_citizen()
    notify_support.link_identity(citizen_id, "phone", CITIZEN_PHONE)
    notify_support.set_last_inbound("whatsapp", WHATSAPP_ID, "demo", hours_ago=25)

    delivery = notify(citizen_id, "Su caso fue asignado.", case_id, template=None)

    assert len(graph.requests) == 1
    assert delivery.final.channel == "sms"
    assert delivery.final.skipped_channels.as_dict() == {
        "whatsapp": "window_closed",
        "messenger": "no_identity",
    }
    assert sms.to(CITIZEN_PHONE)[0]["MessageBody"] == "Su caso fue asignado."


def test_whatsapp_two_choices_become_reply_buttons(graph):
    citizen_id, case_id = whatsapp_citizen()
    choices = (("confirm", "Confirmar"), ("cancel", "Cancelar la cita de mañana"))

    notify(citizen_id, "¿Confirma su cita?", case_id, choices=choices)

    body = graph.requests[-1].body
    assert body["type"] == "interactive"
    assert body["interactive"]["type"] == "button"
    assert body["interactive"]["body"] == {"text": "¿Confirma su cita?"}
    buttons = body["interactive"]["action"]["buttons"]
    assert buttons[0] == {"type": "reply", "reply": {"id": "confirm", "title": "Confirmar"}}
    assert buttons[1]["reply"]["title"] == "Cancelar la cita de "


def test_whatsapp_five_choices_become_a_list(graph):
    citizen_id, case_id = whatsapp_citizen()
    choices = tuple((f"rating_{score}", str(score)) for score in range(1, 6))

    notify(citizen_id, "Califique la atención de 1 a 5.", case_id, choices=choices)

    interactive = graph.requests[-1].body["interactive"]
    assert interactive["type"] == "list"
    assert interactive["action"]["button"] == "Elegir"
    rows = interactive["action"]["sections"][0]["rows"]
    assert [row["id"] for row in rows] == [f"rating_{score}" for score in range(1, 6)]


def test_whatsapp_choices_outside_window_send_template(graph):
    citizen_id, case_id = whatsapp_citizen()
    notify_support.set_last_inbound("whatsapp", WHATSAPP_ID, "demo", hours_ago=25)

    notify(
        citizen_id,
        "¿Confirma? Responda 1 o 2.",
        case_id,
        template="case_update",
        choices=(("confirm", "Sí"),),
    )

    assert graph.requests[-1].body["type"] == "template"


def test_sms_choices_send_text_only(sms):
    citizen_id, case_id = sms_citizen()

    notify(citizen_id, "Responda 1 para confirmar.", case_id, choices=(("confirm", "Sí"),))

    assert sms.to(CITIZEN_PHONE)[-1]["MessageBody"] == "Responda 1 para confirmar."


# Messenger


def test_messenger_choices_become_quick_replies(graph):
    result = notify_support.receive("messenger", "messenger", PSID, "Hola", "m_in-1")

    notify(result.citizen_id, "¿Confirma?", result.case_id, choices=(("confirm", "Confirmar"),))

    message = graph.requests[-1].body["message"]
    assert message["quick_replies"] == [
        {"content_type": "text", "title": "Confirmar", "payload": "confirm"}
    ]


def test_messenger_inside_window_request_shape(graph, demo_agency):
    result = notify_support.receive(
        "messenger", "messenger", PSID, "Hola, necesito ayuda", "m_in-1"
    )

    notify(result.citizen_id, "Con gusto le ayudamos.")

    request = graph.requests[-1]
    page_id = demo_agency["messenger_page_id"]
    assert request.path == f"/{GRAPH_VERSION}/me/messages"
    assert request.headers["Authorization"] == f"Bearer dev-messenger-page-token-{page_id}"
    assert request.body == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Con gusto le ayudamos."},
    }


def test_messenger_outside_window_reply_uses_human_agent_tag(graph):
    result = notify_support.receive("messenger", "messenger", PSID, "Hola", "m_in-1")
    notify_support.set_last_inbound("messenger", PSID, "demo", hours_ago=48)

    notify(result.citizen_id, "Le responde un agente.", result.case_id, kind="reply")

    body = graph.requests[-1].body
    assert body["messaging_type"] == "MESSAGE_TAG"
    assert body["tag"] == "HUMAN_AGENT"


def test_messenger_outside_window_notice_is_not_sent(graph):
    result = notify_support.receive("messenger", "messenger", PSID, "Hola", "m_in-1")
    notify_support.set_last_inbound("messenger", PSID, "demo", hours_ago=48)
    requests_before = len(graph.requests)

    delivery = notify(result.citizen_id, "Aviso automático.", result.case_id)

    assert len(graph.requests) == requests_before
    assert delivery.final.delivery_status == "not_sent"
    assert delivery.final.error_code == "window_closed"


# Email


def test_email_request_with_reference_subject(ses, sms, demo_agency):
    citizen_id, case_id = sms_citizen()
    notify_support.link_identity(citizen_id, "email", EMAIL)
    notify_support.set_profile(citizen_id, opted_out_channels={"sms"})
    reference = support.case_item(case_id)["reference"]

    delivery = notify(citizen_id, "Adjuntamos el dictamen.", case_id)

    (sent,) = ses.sent_messages
    mail = message_from_bytes(sent.raw_data.encode(), policy=policy.default)
    assert sent.source == demo_agency["email_address"]
    assert set(sent.destinations) == {EMAIL}
    assert mail["To"] == EMAIL
    assert mail["Subject"] == f"Su caso {reference[:3]}-{reference[3:6]}-{reference[6:]}"
    assert demo_agency["email_address"] in mail["From"]
    assert mail.get_content().strip() == "Adjuntamos el dictamen."
    assert delivery.final.channel == "email"
    assert mail["In-Reply-To"] is None


def test_email_reply_cites_last_message_id(ses, sms):
    citizen_id, case_id = sms_citizen()
    notify_support.link_identity(citizen_id, "email", EMAIL)
    notify_support.set_profile(citizen_id, opted_out_channels={"sms"})
    support.table().update_item(
        Key={"pk": f"IDENTITY#email#{EMAIL}", "sk": "LINK"},
        UpdateExpression="SET open_cases = :cases",
        ExpressionAttributeValues={
            ":cases": {
                "demo": {
                    "case_id": case_id,
                    "reference": support.case_item(case_id)["reference"],
                    "last_activity_at": support.days_ago(1),
                    "last_message_id": "<CAB123@mail.example.org>",
                }
            }
        },
    )

    notify(citizen_id, "Respuesta a su correo.", case_id)

    mail = message_from_bytes(ses.sent_messages[0].raw_data.encode(), policy=policy.default)
    assert mail["In-Reply-To"] == "<CAB123@mail.example.org>"
    assert mail["References"] == "<CAB123@mail.example.org>"


def test_email_send_points_message_id_at_case(ses, sms):
    citizen_id, case_id = sms_citizen()
    notify_support.link_identity(citizen_id, "email", EMAIL)
    notify_support.set_profile(citizen_id, opted_out_channels={"sms"})

    delivery = notify(citizen_id, "Respuesta.", case_id)

    message_id = delivery.final.external_id
    reference = support.get_item(f"EMAILREF#<{message_id}@email.amazonses.com>", "CASE")
    assert reference["case_id"] == case_id
    assert notify_support.pointer("email", message_id)["citizen_id"] == citizen_id


def test_email_unverified_sender_address_fails_and_is_recorded(aws, sms):
    citizen_id, case_id = sms_citizen()
    notify_support.link_identity(citizen_id, "email", EMAIL)
    notify_support.set_profile(citizen_id, opted_out_channels={"sms"})

    delivery = notify(citizen_id, "Respuesta.", case_id)

    failed = delivery.contacts[0]
    assert failed.channel == "email"
    assert failed.delivery_status == "failed"
    assert failed.error_code == "MessageRejected"
    assert failed.skipped_channels.as_dict() == {
        "sms": "opted_out",
        "whatsapp": "no_identity",
        "messenger": "no_identity",
    }
    assert delivery.final.channel == "chat"
    assert delivery.final.error_code == "no_session"


# Web chat


def test_chat_case_is_answered_in_session(client):
    session = support.open_chat(client)
    posted = support.post_chat(client, session, "Quiero reportar un bache", "m-1").json_body
    case = support.case_of_reference(posted["case_reference"])

    delivery = notify(session.citizen_id, "Ya lo estamos revisando.", case["case_id"])

    texts = [item["text"] for item in support.chat_messages(client, session).json_body["messages"]]
    assert texts[-1] == "Ya lo estamos revisando."
    assert delivery.final.channel == "chat"
    assert delivery.final.delivery_status == "delivered"


# Channel choice


def test_channel_is_last_used_for_case(graph, sms):
    citizen_id, case_id = sms_citizen()
    notify_support.link_identity(citizen_id, "whatsapp", WHATSAPP_ID)
    notify_support.set_profile(citizen_id, preferred_channel="whatsapp")

    delivery = notify(citizen_id, "Novedades de su caso.", case_id)

    assert support.case_item(case_id)["last_channel"] == "sms"
    assert delivery.final.channel == "sms"
    assert graph.requests == []


def test_channel_is_preferred_without_case(graph, sms):
    citizen_id, _ = sms_citizen()
    notify_support.link_identity(citizen_id, "whatsapp", WHATSAPP_ID)
    notify_support.set_profile(citizen_id, preferred_channel="whatsapp")
    support.table().update_item(
        Key={"pk": f"IDENTITY#whatsapp#{WHATSAPP_ID}", "sk": "LINK"},
        UpdateExpression="SET open_cases = :cases",
        ExpressionAttributeValues={
            ":cases": {
                "demo": {
                    "case_id": "0" * 32,
                    "reference": "482193058",
                    "last_activity_at": support.days_ago(0),
                    "last_inbound_at": support.days_ago(0),
                }
            }
        },
    )
    sent_before = len(sms.sent)

    delivery = notify(citizen_id, "Recordatorio general.")

    assert delivery.final.channel == "whatsapp"
    assert len(graph.requests) == 1
    assert len(sms.sent) == sent_before


def test_claimed_identity_is_never_used(client, sms):
    session = support.open_chat(client, phone="55 4163 7145", email=EMAIL)

    delivery = notify(session.citizen_id, "Datos de su caso.")

    assert sms.sent == []
    assert delivery.reached is False
    assert delivery.final.delivery_status == "not_sent"
    assert delivery.final.channel == "chat"
    assert delivery.final.error_code == "no_session"
    assert delivery.final.skipped_channels["sms"] == "no_identity"
    assert delivery.final.skipped_channels["email"] == "no_identity"


# Fallback


def test_failed_send_falls_back_with_error_code(graph, sms):
    citizen_id, case_id = whatsapp_citizen()
    notify_support.link_identity(citizen_id, "phone", CITIZEN_PHONE)
    graph.fail_next(131026, message="Message undeliverable")

    delivery = notify(citizen_id, "Su caso fue asignado.", case_id)

    failed, sent = notify_support.outbound(citizen_id)[-2:]
    assert failed["channel"] == "whatsapp"
    assert failed["delivery_status"] == "failed"
    assert failed["error_code"] == "131026"
    assert sent["channel"] == "sms"
    assert sent["delivery_status"] == "sent"
    assert delivery.final.contact_id == sent["contact_id"]
    assert [contact.channel for contact in delivery.contacts] == ["whatsapp", "sms"]


def test_failed_send_writes_no_pointer(graph, sms):
    citizen_id, case_id = whatsapp_citizen()
    notify_support.link_identity(citizen_id, "phone", CITIZEN_PHONE)
    graph.fail_next(131026)

    notify(citizen_id, "Su caso fue asignado.", case_id)

    pointers = support.items_of_kind("OUTBOUND#whatsapp#")
    assert len(pointers) == 1
    assert pointers[0]["pk"] == "OUTBOUND#whatsapp#wamid.1"


def test_opted_out_channel_falls_back(graph, sms):
    citizen_id, case_id = whatsapp_citizen()
    notify_support.link_identity(citizen_id, "phone", CITIZEN_PHONE)
    notify_support.set_profile(citizen_id, opted_out_channels={"whatsapp"})
    requests_before = len(graph.requests)

    delivery = notify(citizen_id, "Su caso fue asignado.", case_id)

    assert len(graph.requests) == requests_before
    assert delivery.final.channel == "sms"
    assert delivery.final.skipped_channels.as_dict() == {
        "whatsapp": "opted_out",
        "messenger": "no_identity",
    }


def test_opted_out_only_channel_records_not_sent(sms):
    citizen_id, case_id = sms_citizen()
    notify_support.set_profile(citizen_id, opted_out_channels={"sms"})
    sent_before = len(sms.sent)

    delivery = notify(citizen_id, "Su caso fue asignado.", case_id)

    assert len(sms.sent) == sent_before
    contact = notify_support.outbound(citizen_id)[-1]
    assert contact["delivery_status"] == "not_sent"
    assert contact["channel"] == "sms"
    assert contact["error_code"] == "opted_out"
    assert contact["skipped_channels"] == {
        "whatsapp": "no_identity",
        "messenger": "no_identity",
        "email": "no_identity",
        "chat": "no_session",
    }
    assert delivery.reached is False


def test_token_unavailable_falls_back(graph, sms):
    citizen_id, case_id = whatsapp_citizen()
    notify_support.link_identity(citizen_id, "phone", CITIZEN_PHONE)
    boto3.client("ssm", region_name="us-east-1").delete_parameter(
        Name=settings.get_settings().whatsapp_token_parameter
    )
    parameters.clear_caches()

    delivery = notify(citizen_id, "Su caso fue asignado.", case_id)

    failed = notify_support.outbound(citizen_id)[-2]
    assert failed["error_code"] == "token_unavailable"
    assert delivery.final.channel == "sms"


def test_graph_timeout_is_recorded(aws, sms, monkeypatch):
    with notify_support.graph_fake(delay_seconds=2) as fake:
        monkeypatch.setenv("VENTANILLA_META_GRAPH_URL", fake.url)
        monkeypatch.setenv("VENTANILLA_META_TIMEOUT_SECONDS", "0.3")
        notify_support.reload_settings()
        try:
            citizen_id, _ = whatsapp_citizen()
        finally:
            notify_support.reload_settings()

    notice, unsent = notify_support.outbound(citizen_id)
    assert notice["delivery_status"] == "failed"
    assert notice["error_code"] == "timed_out"
    assert unsent["delivery_status"] == "not_sent"
    assert unsent["channel"] == "messenger"


def test_attempts_are_one_transaction(graph, sms):
    from tests.support_calls import count_aws_calls

    citizen_id, case_id = whatsapp_citizen()
    notify_support.link_identity(citizen_id, "phone", CITIZEN_PHONE)
    graph.fail_next(131026)

    with count_aws_calls() as log:
        notify(citizen_id, "Su caso fue asignado.", case_id)

    (write,) = [call for call in log.calls if call.is_dynamodb_write]
    keys = [json.dumps(item) for item in write.params["TransactItems"]]
    assert write.operation == "TransactWriteItems"
    assert len(keys) == 3

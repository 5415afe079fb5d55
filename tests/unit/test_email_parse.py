import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.agencies import AgencyConfig
from chalicelib.channels.email import (
    EMAIL,
    EmailAttachment,
    EmailVerdicts,
    html_to_text,
    parse_notification,
    strip_reply,
    to_inbound,
)
from chalicelib.errors import ValidationError
from chalicelib.journey.models import Identity

EVENTS = Path(__file__).parent.parent / "events"
AGENCY_ADDRESS = "atencion@demo.ventanilla.example"
OUR_LATEST = "<0100019391b4c5d6-7e8f9a0b-1c2d-4e3f-9a4b-5c6d7e8f9a0b-000000@email.amazonses.com>"
OUR_FIRST = "<0100019391a2b3c4-5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f-000000@email.amazonses.com>"
AGENCY = AgencyConfig(
    agency_id="demo",
    name="Demo",
    country="MX",
    timezone="America/Mexico_City",
    default_language="es",
    languages=frozenset({"es"}),
    active_case_days=30,
    chat_enabled=True,
)


def notification(name):
    event = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return json.loads(event["Records"][0]["Sns"]["Message"])


def parsed(name):
    return parse_notification(notification(name))


def with_content(name, mime, encoding="UTF8"):
    message = notification(name)
    message["receipt"]["action"]["encoding"] = encoding
    message["content"] = mime
    return message


def test_email_base64_is_decoded():
    received = parsed("ses_received_base64.json")
    assert received.sender == "ana.lopez@example.org"
    assert received.sender_name == "Ana López"
    assert received.subject == "Solicitud de constancia de número oficial"
    assert received.message_id == "<CAF8x2Lq0a9Bv3Kd@mail.example.org>"
    assert received.recipient == AGENCY_ADDRESS
    assert received.ses_message_id == "5r1c8m2q7h0k4e9t3b6n1v8d2s0f5a7g9j3l1p01"
    assert received.received_at == datetime(2026, 12, 4, 18, 0, 0, 512000, tzinfo=UTC)


def test_email_prefers_text_plain_part():
    received = parsed("ses_received_base64.json")
    assert received.text.startswith("Buenos días:\n\nNecesito una constancia de número oficial")
    assert "<p>" not in received.full_text


def test_email_lists_attachments_without_bytes():
    received = parsed("ses_received_base64.json")
    assert received.attachments == (
        EmailAttachment("comprobante-domicilio.pdf", "application/pdf", 1233),
    )


def test_email_utf8_is_parsed():
    received = parsed("ses_received_utf8.json")
    assert received.sender == "mgomez@example.net"
    assert received.sender_name == "Martín Gómez"
    assert received.text == (
        "Hola, la fuga de la calle Juárez sigue igual después de la visita del martes."
    )
    assert received.attachments == ()


def test_email_utf8_full_text_keeps_signature():
    assert "Vecino de la colonia Centro" in parsed("ses_received_utf8.json").full_text


def test_email_subject_reference_is_found():
    assert parsed("ses_received_utf8.json").case_references == ("482193058",)


def test_email_reply_threading_headers():
    received = parsed("ses_reply_with_in_reply_to.json")
    assert received.in_reply_to == OUR_LATEST
    assert received.references == (OUR_FIRST, OUR_LATEST)
    assert received.subject == "Re: Su caso 482-193-058 fue registrado"


def test_email_reply_drops_spanish_quoted_history():
    received = parsed("ses_reply_with_in_reply_to.json")
    assert received.text == "Sí, puedo recibir al inspector el lunes por la mañana.\n\nAna"
    assert "escribió" in received.full_text


def test_email_html_only_is_converted_to_text():
    received = parsed("ses_received_html_dmarc_fail.json")
    assert received.text == (
        "Buenas tardes,\nmi recibo de agua llegó con un cobro doble & quisiera una aclaración."
    )


def test_email_html_head_and_style_are_hidden():
    assert parsed("ses_received_spam_fail.json").text == "Haga clic para reclamar su premio."


@pytest.mark.parametrize(
    ("event", "verified", "quarantined"),
    [
        ("ses_received_base64.json", True, False),
        ("ses_received_utf8.json", True, False),
        ("ses_reply_with_in_reply_to.json", True, False),
        ("ses_received_spam_fail.json", False, True),
        ("ses_received_html_dmarc_fail.json", False, False),
    ],
)
def test_email_sample_verdicts(event, verified, quarantined):
    received = parsed(event)
    assert received.identity == Identity(EMAIL, received.sender, verified=verified)
    assert received.is_quarantined is quarantined


def test_email_spam_verdicts_are_exposed():
    verdicts = parsed("ses_received_spam_fail.json").verdicts
    assert verdicts.spam == "FAIL"
    assert verdicts.virus == "PASS"
    assert verdicts.dmarc == "FAIL"
    assert verdicts.dmarc_policy == "reject"


@pytest.mark.parametrize(
    ("spf", "dkim", "dmarc", "verified"),
    [
        ("PASS", "PASS", "PASS", True),
        ("PASS", "FAIL", "PASS", True),
        ("FAIL", "PASS", "PASS", True),
        ("PASS", "FAIL", "GRAY", False),
        ("FAIL", "PASS", "GRAY", False),
        ("FAIL", "PASS", "PROCESSING_FAILED", False),
        ("PASS", "PASS", None, False),
        ("PASS", "PASS", "FAIL", False),
        ("FAIL", "FAIL", "PASS", False),
        ("GRAY", "GRAY", "GRAY", False),
        ("PROCESSING_FAILED", "FAIL", "GRAY", False),
        (None, None, None, False),
    ],
)
def test_email_sender_verified_rule(spf, dkim, dmarc, verified):
    verdicts = EmailVerdicts(spam="PASS", virus="PASS", spf=spf, dkim=dkim, dmarc=dmarc)
    assert verdicts.sender_verified is verified


@pytest.mark.parametrize(
    ("spam", "virus", "quarantined"),
    [
        ("PASS", "PASS", False),
        ("FAIL", "PASS", True),
        ("PASS", "FAIL", True),
        ("GRAY", "GRAY", False),
        ("PROCESSING_FAILED", "PASS", False),
        (None, None, False),
    ],
)
def test_email_quarantine_rule(spam, virus, quarantined):
    verdicts = EmailVerdicts(spam=spam, virus=virus, spf="PASS", dkim="PASS", dmarc="PASS")
    assert verdicts.is_quarantined is quarantined


def test_email_missing_content_is_invalid():
    with pytest.raises(ValidationError, match="150 KB") as caught:
        parsed("ses_missing_content.json")
    assert caught.value.field == "content"


def test_email_invalid_base64_is_invalid():
    message = with_content("ses_received_base64.json", "not*base64!", encoding="BASE64")
    with pytest.raises(ValidationError) as caught:
        parse_notification(message)
    assert caught.value.field == "content"


def test_email_unknown_encoding_is_invalid():
    message = with_content("ses_received_utf8.json", "Subject: x\r\n\r\nhola", encoding="GZIP")
    with pytest.raises(ValidationError) as caught:
        parse_notification(message)
    assert caught.value.field == "receipt.action.encoding"


def test_email_base64_with_line_breaks_is_decoded():
    mime = "From: ana.lopez@example.org\r\nSubject: Hola\r\n\r\nHola"
    encoded = base64.encodebytes(mime.encode()).decode()
    received = parse_notification(with_content("ses_received_base64.json", encoded, "BASE64"))
    assert received.text == "Hola"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda message: message.update(notificationType="Bounce"), "notificationType"),
        (lambda message: message["mail"].pop("messageId"), "mail.messageId"),
        (lambda message: message["receipt"].update(recipients=[]), "receipt.recipients"),
        (lambda message: message["mail"].update(timestamp="yesterday"), "mail.timestamp"),
    ],
)
def test_email_invalid_notification_names_the_field(change, field):
    message = notification("ses_received_utf8.json")
    change(message)
    with pytest.raises(ValidationError) as caught:
        parse_notification(message)
    assert caught.value.field == field


def test_email_without_from_header_uses_ses_copy():
    mime = "To: atencion@demo.ventanilla.example\r\nSubject: Hola\r\n\r\nHola"
    received = parse_notification(with_content("ses_received_utf8.json", mime))
    assert received.sender == "mgomez@example.net"
    assert received.sender_name == "Martín Gómez"


def test_email_without_any_from_is_invalid():
    message = with_content("ses_received_utf8.json", "Subject: Hola\r\n\r\nHola")
    message["mail"]["commonHeaders"]["from"] = ["undisclosed-recipients:;"]
    with pytest.raises(ValidationError) as caught:
        parse_notification(message)
    assert caught.value.field == "mail.commonHeaders.from"


def test_email_unknown_charset_still_yields_text():
    mime = (
        "From: ana.lopez@example.org\r\nSubject: Hola\r\n"
        'Content-Type: text/plain; charset="x-unknown"\r\n\r\nHola vecinos'
    )
    assert parse_notification(with_content("ses_received_utf8.json", mime)).text == "Hola vecinos"


def test_email_raw_utf8_subject_is_decoded():
    mime = "From: ana.lopez@example.org\r\nSubject: Fuga en la calle Juárez\r\n\r\nHola"
    received = parse_notification(with_content("ses_received_utf8.json", mime))
    assert received.subject == "Fuga en la calle Juárez"


def test_email_latin1_part_is_decoded_with_its_charset():
    mime = (
        b"From: ana.lopez@example.org\r\nSubject: Hola\r\n"
        b'Content-Type: text/plain; charset="iso-8859-1"\r\n'
        b"Content-Transfer-Encoding: 8bit\r\n\r\nMa\xf1ana a las diez"
    )
    encoded = base64.b64encode(mime).decode()
    received = parse_notification(with_content("ses_received_base64.json", encoded, "BASE64"))
    assert received.text == "Mañana a las diez"


def test_email_attached_message_is_one_attachment():
    mime = (
        "From: ana.lopez@example.org\r\nSubject: Fwd: aviso\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nLes reenvío el aviso.\r\n"
        "--b1\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
        "From: aviso@example.com\r\nSubject: Aviso\r\nContent-Type: text/plain\r\n\r\n"
        "Corte de agua\r\n"
        "--b1--\r\n"
    )
    received = parse_notification(with_content("ses_received_utf8.json", mime))
    assert [item.content_type for item in received.attachments] == ["message/rfc822"]
    assert received.text == "Les reenvío el aviso."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hola\n\nOn Fri, Dec 4, 2026 at 11:30 AM Agency <a@b.example> wrote:\n> old", "Hola"),
        ("Hola\n\nOn Fri, Dec 4, 2026 at 11:30 AM Agency <a@b.example>\nwrote:\n> old", "Hola"),
        ("Hola\n\nEl vie, 4 dic 2026 a las 11:30, Ana (<a@b.example>) escribió:\n> viejo", "Hola"),
        (
            "Olá\n\nEm sex., 4 de dez. de 2026 às 11:30, Ana <a@b.example> escreveu:\n> antigo",
            "Olá",
        ),
        ("Hola\n-----Original Message-----\nFrom: a@b.example\nSent: Friday", "Hola"),
        ("Hola\n----- Mensaje original -----\nDe: a@b.example", "Hola"),
        ("Hola\n\nDe: Atención <a@b.example>\nEnviado: viernes, 4 de diciembre\nPara: yo", "Hola"),
        ("Hola\n\nFrom: Agency <a@b.example>\nSent: Friday, December 4, 2026", "Hola"),
        ("Hola\n-- \nAna López\nTel. 55 1234 5678", "Hola"),
        ("Hola\n--\nAna", "Hola"),
        ("> cita\nRespuesta debajo\n> otra cita\nFin", "Respuesta debajo\nFin"),
        ("Primera línea\n\n\n\nSegunda línea", "Primera línea\n\nSegunda línea"),
        ("On Monday the pipe burst again.\nPlease send someone.", None),
        ("El martes se rompió la tubería.\nDe: la vecina del 3", None),
        ("Mi correo es --- ana@example.org", None),
    ],
)
def test_strip_reply(text, expected):
    assert strip_reply(text) == (text if expected is None else expected)


def test_strip_reply_of_only_history_is_empty():
    assert strip_reply("On Fri, Dec 4, 2026 Agency <a@b.example> wrote:\n> hola") == ""


def test_email_with_only_quoted_text_keeps_full_text():
    mime = "From: ana.lopez@example.org\r\nSubject: Fwd\r\n\r\n> lo que me enviaron\r\n> ayer"
    received = parse_notification(with_content("ses_received_utf8.json", mime))
    assert received.text == "> lo que me enviaron\n> ayer"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>Uno</p><p>Dos</p>", "Uno\nDos"),
        ("Uno<br>Dos<br/>Tres", "Uno\nDos\nTres"),
        ("<div>Hola &amp; adi&oacute;s&nbsp;ya</div>", "Hola & adiós ya"),
        ("<html><head><style>p {}</style></head><body>Texto</body></html>", "Texto"),
        ("<script>alert(1)</script><p>Visible</p>", "Visible"),
        (
            "<p>Nuevo</p><blockquote><p>Viejo</p><blockquote>Más viejo</blockquote></blockquote>",
            "Nuevo\n> Viejo\n> > Más viejo",
        ),
        ("<p>  muchos   espacios\n y saltos </p>", "muchos espacios y saltos"),
    ],
)
def test_html_to_text(html, expected):
    assert html_to_text(html) == expected


def test_to_inbound_starts_body_with_subject():
    inbound = to_inbound(parsed("ses_reply_with_in_reply_to.json"), AGENCY)
    assert inbound.body == (
        "Re: Su caso 482-193-058 fue registrado\n\n"
        "Sí, puedo recibir al inspector el lunes por la mañana.\n\nAna"
    )


def test_to_inbound_fields():
    received = parsed("ses_reply_with_in_reply_to.json")
    inbound = to_inbound(received, AGENCY)
    assert inbound.channel == EMAIL
    assert inbound.external_id == "6h8j0l2n4p6r8t0v2x4z6b8d0f2h4j6l8n0p2r04"
    assert inbound.sender == Identity(EMAIL, "ana.lopez@example.org", verified=True)
    assert inbound.occurred_at == received.received_at
    assert inbound.reply_to_external_id == OUR_LATEST
    assert inbound.display_name == "Ana López"
    assert inbound.content_kind == "text"


def test_to_inbound_content_lists_attachments():
    content = to_inbound(parsed("ses_received_base64.json"), AGENCY).content
    assert content["attachments"] == [
        {"filename": "comprobante-domicilio.pdf", "content_type": "application/pdf", "size": 1233}
    ]
    assert content["quarantined"] is False
    assert content["message_id"] == "<CAF8x2Lq0a9Bv3Kd@mail.example.org>"


def test_to_inbound_unverified_sender():
    inbound = to_inbound(parsed("ses_received_html_dmarc_fail.json"), AGENCY)
    assert inbound.sender == Identity(EMAIL, "laura.ruiz@example.org", verified=False)


def test_to_inbound_cuts_long_body():
    mime = "From: ana.lopez@example.org\r\nSubject: Largo\r\n\r\n" + "a" * 30_000
    inbound = to_inbound(parse_notification(with_content("ses_received_utf8.json", mime)), AGENCY)
    assert len(inbound.body) == 20_000

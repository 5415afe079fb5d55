"""Development agencies and secrets shared by `make run` and the test fixtures.

Every value here is a development value: no number, page or secret is real.
"""

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.clock import isoformat_z
from chalicelib.settings import (
    META_SECRETS,
    messenger_token_prefix,
    meta_secret_parameter,
    whatsapp_token_parameter,
)
from chalicelib.store.models import (
    Agency,
    AgencyEndpoint,
    AppointmentSlot,
    agency_key,
    endpoint_key,
    slot_sort_key,
)

# The secrets of the deployment's Meta app, which serves every agency's WhatsApp number
# and Messenger page. They are listed with the demo agency for the tests' convenience.
DEVELOPMENT_META_SECRETS = {
    "whatsapp_app_secret": "dev-whatsapp-app-secret-6f1d2c",
    "whatsapp_verify_token": "dev-whatsapp-verify-token-93ab",
    "messenger_app_secret": "dev-messenger-app-secret-0e7a45",
    "messenger_verify_token": "dev-messenger-verify-token-c28d",
}

# Access tokens that sends to the Graph API present: the WhatsApp Cloud API's, and
# one page token per Messenger page. The local stack's Graph API outbox accepts any.
DEVELOPMENT_WHATSAPP_TOKEN = "dev-whatsapp-access-token-5b7e21"  # noqa: S105 - not a real token
DEVELOPMENT_PAGE_TOKEN = "dev-messenger-page-token-{page_id}"  # noqa: S105 - not a real token

# Templates as an agency registers them with Meta, by purpose. In "case_update", `{{1}}`
# is the case reference and `{{2}}` the text, such as "Novedades de su caso {{1}}: {{2}}".
# In "chat_link", `{{1}}` is the sentence with the chat address that a call sends, such
# as "Mensaje de la oficina de atención: {{1}}".
DEMO_TEMPLATES = {
    "case_update": {
        "es": {
            "name": "ventanilla_case_update",
            "language": "es_MX",
            "parameters": ["case_reference", "text"],
        },
        "en": {
            "name": "ventanilla_case_update",
            "language": "en_US",
            "parameters": ["case_reference", "text"],
        },
    },
    "chat_link": {
        "es": {"name": "ventanilla_chat_link", "language": "es_MX", "parameters": ["text"]},
        "en": {"name": "ventanilla_chat_link", "language": "en_US", "parameters": ["text"]},
    },
}

# The reminder of an appointment, as a template the agency registers with Meta for
# reminders outside the 24-hour window: "Recordatorio de su cita {{1}}: {{2}}".
APPOINTMENT_REMINDER_TEMPLATES = {
    "appointment_reminder": {
        "es": {
            "name": "ventanilla_appointment_reminder",
            "language": "es_MX",
            "parameters": ["case_reference", "text"],
        },
        "en": {
            "name": "ventanilla_appointment_reminder",
            "language": "en_US",
            "parameters": ["case_reference", "text"],
        },
    }
}

# Services and offices of the demo agency's appointments; see chalicelib/appointments/settings.py.
DEMO_APPOINTMENTS = {
    "services": {
        "licencias": {
            "es": "Licencia de conducir",
            "en": "Driver's license",
            "pt": "Carteira de motorista",
        },
        "predial": {"es": "Pago de predial", "en": "Property tax", "pt": "Imposto predial"},
    },
    "offices": {
        "centro": {"name": "Oficina Centro", "address": "Av. Juárez 1, Centro"},
        "norte": {"name": "Oficina Norte", "address": "Calzada Vallejo 1000"},
    },
    "reminder_hours_before": 24,
    "answer_wait_hours": 4,
    "calendar": {},
}
# Seeded slots: local start times on each of the next working days, each with places.
DEMO_SLOT_TIMES = (time(9), time(11), time(13))
DEMO_SLOT_DAYS = 5
DEMO_SLOT_MINUTES = 30
DEMO_SLOT_CAPACITY = 2

DEMO_AGENCY = {
    "agency_id": "demo",
    "name": "Ayuntamiento de Demostración",
    "country": "MX",
    "timezone": "America/Mexico_City",
    "default_language": "es",
    "languages": ["es", "en", "pt"],
    "sms_number": "+525550000100",
    "connect_instance_arn": (
        "arn:aws:connect:us-east-1:123456789012:instance/0c0d0e0f-0000-4000-8000-00000000d3e0"
    ),
    # A number on Meta's Cloud API, whose webhooks Meta posts to /webhooks/whatsapp.
    "whatsapp_phone_number_id": "271093650481234",
    "whatsapp_display_number": "+525550000100",
    "whatsapp_waba_id": "318406712235577",
    "whatsapp_social_phone_number_arn": None,
    "messenger_page_id": "104837265512093",
    "email_address": "atencion@demo.ventanilla.example",
    # At most 100 GSM-7 characters, so that the SMS reply to HELP fits one segment.
    "contact_options": (
        "Llame al 55 5000 0100 (lun-vie 9-18 h) o escriba a atencion@demo.ventanilla.example"
    ),
    "whatsapp_templates": {**DEMO_TEMPLATES, **APPOINTMENT_REMINDER_TEMPLATES},
    "appointments": DEMO_APPOINTMENTS,
    "chat_url": "https://demo.ventanilla.example/chat",
    # The flow that queues callback tasks in the demo instance (development value).
    "connect_callback_flow_id": "7e3b1c2d-4a5f-4b6c-8d7e-9f0a1b2c3d4e",
    **DEVELOPMENT_META_SECRETS,
}

# A second agency of the same deployment, for cross-agency isolation.
OTHER_AGENCY = {
    "agency_id": "water",
    "name": "Servicio de Agua de Demostración",
    "country": "MX",
    "timezone": "America/Mexico_City",
    "default_language": "es",
    "languages": ["es", "en"],
    "sms_number": "+525550000200",
    "connect_instance_arn": (
        "arn:aws:connect:us-east-1:123456789012:instance/0c0d0e0f-0000-4000-8000-0000000a7e20"
    ),
    # A number linked through End User Messaging Social, whose messages arrive by SNS.
    "whatsapp_phone_number_id": "271093650489876",
    "whatsapp_display_number": "+525550000200",
    "whatsapp_waba_id": "318406712239911",
    "whatsapp_social_phone_number_arn": (
        "arn:aws:social-messaging:us-east-1:123456789012:phone-number-id/"
        "0a7e20d3e04b4c5d8e9f0a1b2c3d4e5f"
    ),
    "messenger_page_id": "104837265519911",
    "email_address": "atencion@agua.ventanilla.example",
    "contact_options": (
        "Llame al 55 5000 0200 (lun-vie 8-16 h) o escriba a atencion@agua.ventanilla.example"
    ),
}

AGENCIES = (DEMO_AGENCY, OTHER_AGENCY)


def seed_agency(agency: dict) -> None:
    """Write an agency's settings and the endpoints that route contacts to it."""
    Agency(
        agency_key(agency["agency_id"]),
        "CONFIG",
        agency_id=agency["agency_id"],
        name=agency["name"],
        country=agency["country"],
        timezone=agency["timezone"],
        default_language=agency["default_language"],
        languages=set(agency["languages"]),
        active_case_days=7,
        chat_enabled=True,
        sms_number=agency["sms_number"],
        whatsapp_phone_number_id=agency["whatsapp_phone_number_id"],
        whatsapp_display_number=agency["whatsapp_display_number"],
        whatsapp_waba_id=agency["whatsapp_waba_id"],
        whatsapp_social_phone_number_arn=agency["whatsapp_social_phone_number_arn"],
        messenger_page_id=agency["messenger_page_id"],
        email_address=agency["email_address"],
        contact_options=agency.get("contact_options"),
        whatsapp_templates=agency.get("whatsapp_templates"),
        appointments=agency.get("appointments"),
        surveys_enabled=agency.get("surveys_enabled"),
        survey_delay_seconds=agency.get("survey_delay_seconds"),
        survey_answer_seconds=agency.get("survey_answer_seconds"),
        calendar=agency.get("calendar"),
        chat_url=agency.get("chat_url"),
        connect_callback_flow_id=agency.get("connect_callback_flow_id"),
    ).save()
    endpoints = {
        "sms": agency["sms_number"],
        "connect": agency["connect_instance_arn"],
        "whatsapp": agency["whatsapp_phone_number_id"],
        "messenger": agency["messenger_page_id"],
        "email": agency["email_address"],
    }
    for kind, value in endpoints.items():
        AgencyEndpoint(
            endpoint_key(kind, value),
            "AGENCY",
            agency_id=agency["agency_id"],
            kind=kind,
            value=value,
        ).save()


def seed_slots(agency: dict, now: datetime) -> None:
    """Write slots of every service and office on the next working days after `now`."""
    appointments = agency.get("appointments")
    if not appointments:
        return
    zone = ZoneInfo(agency["timezone"])
    day = now.astimezone(zone).date()
    days: list = []
    while len(days) < DEMO_SLOT_DAYS:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    with AppointmentSlot.batch_write() as batch:
        for service in appointments["services"]:
            for office in appointments["offices"]:
                for local_day in days:
                    for wall in DEMO_SLOT_TIMES:
                        start = datetime.combine(local_day, wall, tzinfo=zone).astimezone(UTC)
                        end = start + timedelta(minutes=DEMO_SLOT_MINUTES)
                        batch.save(
                            AppointmentSlot(
                                agency_key(agency["agency_id"]),
                                slot_sort_key(service, office, isoformat_z(start)),
                                agency_id=agency["agency_id"],
                                service=service,
                                office=office,
                                starts_at=isoformat_z(start),
                                ends_at=isoformat_z(end),
                                capacity=DEMO_SLOT_CAPACITY,
                                booked=0,
                            )
                        )


def seed_all() -> None:
    for agency in AGENCIES:
        seed_agency(agency)
        seed_slots(agency, datetime.now(UTC))


def seed_secrets(ssm_client: Any, stage: str) -> None:
    """Put the development Meta secrets into SSM as SecureString, where the webhooks read them."""
    for field, secret in META_SECRETS.items():
        ssm_client.put_parameter(
            Name=meta_secret_parameter(stage, secret),
            Value=DEVELOPMENT_META_SECRETS[field.removesuffix("_parameter")],
            Type="SecureString",
            Overwrite=True,
            Description="Development value of a Ventanilla Meta secret (not a real secret)",
        )
    tokens = {whatsapp_token_parameter(stage): DEVELOPMENT_WHATSAPP_TOKEN}
    for agency in AGENCIES:
        page_id = agency["messenger_page_id"]
        name = f"{messenger_token_prefix(stage)}/{page_id}"
        tokens[name] = DEVELOPMENT_PAGE_TOKEN.format(page_id=page_id)
    for name, value in tokens.items():
        ssm_client.put_parameter(
            Name=name,
            Value=value,
            Type="SecureString",
            Overwrite=True,
            Description="Development Meta access token of Ventanilla (not a real token)",
        )

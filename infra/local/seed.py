"""Development agencies shared by `make run` and the test fixtures.

Every value here is a development value: no number, page or secret is real.
"""

from chalicelib.store.models import Agency, AgencyEndpoint, agency_key, endpoint_key

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
    ).save()
    endpoints = {"sms": agency["sms_number"], "connect": agency["connect_instance_arn"]}
    for kind, value in endpoints.items():
        AgencyEndpoint(
            endpoint_key(kind, value),
            "AGENCY",
            agency_id=agency["agency_id"],
            kind=kind,
            value=value,
        ).save()


def seed_all() -> None:
    for agency in AGENCIES:
        seed_agency(agency)

"""Survey texts per channel and language, and the send time around quiet hours."""

from datetime import UTC, datetime

import pytest

from chalicelib.agencies import AgencyConfig
from chalicelib.notify.segments import segment_count
from chalicelib.workflows import survey_messages
from chalicelib.workflows.survey_answers import parse_rating
from chalicelib.workflows.surveys import send_time

REFERENCE = "482193057"
LANGUAGES = ("es", "en", "pt")


def agency(**changes) -> AgencyConfig:
    values = {
        "agency_id": "demo",
        "name": "Ayuntamiento de Demostración",
        "country": "MX",
        "timezone": "America/Mexico_City",
        "default_language": "es",
        "languages": frozenset(LANGUAGES),
        "active_case_days": 7,
        "chat_enabled": True,
        **changes,
    }
    return AgencyConfig(**values)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("channel", ["sms", "chat", "whatsapp", "messenger"])
def test_question_fits_one_sms_segment(channel, language):
    text = survey_messages.question(channel, language, REFERENCE)

    assert "482-193-057" in text
    assert len(text) <= 70
    assert segment_count(text) == 1


@pytest.mark.parametrize("language", LANGUAGES)
def test_question_email_asks_for_number(language):
    text = survey_messages.question("email", language, REFERENCE)

    assert "482-193-057" in text
    assert "1" in text
    assert "5" in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_thanks_and_ended_fit_one_segment(language):
    assert segment_count(survey_messages.thanks(language)) == 1
    assert segment_count(survey_messages.ENDED[language]) == 1


@pytest.mark.parametrize("language", LANGUAGES)
def test_choices_are_parsed_back(language):
    choices = survey_messages.choices("whatsapp", language)

    assert [rating for rating in range(5, 0, -1)] == [
        parse_rating("", "button", {"payload": choice_id})["rating"] for choice_id, _ in choices
    ]
    assert all(len(title) <= 20 for _, title in choices)


@pytest.mark.parametrize("channel", ["sms", "email", "chat", "voice"])
def test_choices_only_on_tappable_channels(channel):
    assert survey_messages.choices(channel, "es") == ()


def test_send_time_adds_delay():
    # 16:00 UTC is 10:00 in Mexico City, so two hours later is still daytime.
    resolved_at = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)

    assert send_time(agency(), resolved_at) == datetime(2026, 12, 4, 18, 0, tzinfo=UTC)


def test_send_time_leaves_quiet_hours():
    # 02:30 UTC on the 5th is 20:30 on the 4th in Mexico City; two hours later is 22:30,
    # inside the default quiet hours, so the question waits until 08:00 (14:00 UTC).
    resolved_at = datetime(2026, 12, 5, 2, 30, tzinfo=UTC)

    assert send_time(agency(), resolved_at) == datetime(2026, 12, 5, 14, 0, tzinfo=UTC)


def test_send_time_without_quiet_hours():
    resolved_at = datetime(2026, 12, 5, 2, 30, tzinfo=UTC)
    config = agency(calendar={"quiet_hours": None}, survey_delay_seconds=0)

    assert send_time(config, resolved_at) == resolved_at

"""Reading a citizen's reply to an appointment reminder, and the times it shows or speaks."""

from datetime import UTC, datetime

import pytest

from chalicelib.appointments import answers, texts


@pytest.mark.parametrize(
    "text", ["1", "Sí", "si", "SI!", " confirmo ", "Confirmar", "yes", "Sim", "sí."]
)
def test_answer_confirm_words(text):
    assert answers.parse(text, "text", None) == {"answer": "confirm"}


@pytest.mark.parametrize("text", ["2", "No", "cancelar", "CANCELO", "não", "cancel"])
def test_answer_cancel_words(text):
    assert answers.parse(text, "text", None) == {"answer": "cancel"}


@pytest.mark.parametrize(
    "text", ["", "si pero llego tarde", "12", "482-193-058", "hola", "no sé", "1 2"]
)
def test_answer_other_text_is_no_answer(text):
    assert answers.parse(text, "text", None) is None


def test_answer_reply_button_ids():
    confirm = {"source": "button_reply", "payload": "confirm-appointment", "title": "Confirmar"}
    cancel = {"source": "button_reply", "payload": "cancel-appointment", "title": "Cancelar"}

    assert answers.parse("", "button", confirm) == {"answer": "confirm"}
    assert answers.parse("", "button", cancel) == {"answer": "cancel"}


def test_answer_template_button_title_counts():
    content = {"source": "template_button", "payload": "opaque-42", "title": "Confirmar"}

    assert answers.parse("", "button", content) == {"answer": "confirm"}


def test_answer_other_button_is_no_answer():
    content = {"source": "button_reply", "payload": "survey-5", "title": "Excelente"}

    assert answers.parse("", "button", content) is None


def test_answer_ended_text_fits_one_segment():
    for language, text in answers.ENDED_TEXT.items():
        assert len(text) <= 160, language


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("es", "7 de diciembre a las 10:30"),
        ("en", "December 7 at 10:30"),
        ("pt", "7 de dezembro às 10:30"),
    ],
)
def test_spoken_time_in_agency_zone(language, expected):
    moment = datetime(2026, 12, 7, 16, 30, tzinfo=UTC)

    assert texts.spoken_time(moment, "America/Mexico_City", language) == expected


def test_written_time_in_agency_zone():
    moment = datetime(2026, 12, 7, 16, 30, tzinfo=UTC)

    assert texts.written_time(moment, "America/Mexico_City") == "07/12/2026 10:30"

"""Ratings read out of citizens' replies, and replies that are not ratings."""

import pytest

from chalicelib.workflows.survey_answers import choice_id, parse_rating, rating_of_text


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("5", 5),
        ("1", 1),
        (" 3 ", 3),
        ("4.", 4),
        ("¡5!", 5),
        ("(2)", 2),
        ("4/5", 4),
        ("4 / 5", 4),
        ("4 de 5", 4),
        ("3 of 5", 3),
        ("4 sobre 5", 4),
        ("5 estrellas", 5),
        ("1 estrella", 1),
        ("4 stars", 4),
        ("3 estrelas", 3),
        ("cinco", 5),
        ("Cinco estrellas", 5),
        ("CUATRO", 4),
        ("uno", 1),
        ("dos", 2),
        ("five", 5),
        ("Five stars", 5),
        ("two", 2),
        ("três", 3),
        ("tres", 3),
        ("quatro", 4),
        ("duas estrelas", 2),
        ("uma estrela", 1),
        ("⭐", 1),
        ("⭐⭐⭐", 3),
        ("⭐ ⭐ ⭐ ⭐", 4),
        ("⭐️⭐️⭐️⭐️⭐️", 5),
        ("🌟🌟", 2),
        ("★★★★", 4),
        ("5️⃣", 5),
        ("2️⃣", 2),
    ],
)
def test_rating_text_forms(text, rating):
    assert rating_of_text(text) == rating


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "0",
        "6",
        "10",
        "4.5",
        "3-4",
        "4/10",
        "4 de 10",
        "seis",
        "cero",
        "hola",
        "gracias",
        "si",
        "no",
        "2 baches más en la calle",
        "5 pero tardaron mucho",
        "mi número es 5",
        "⭐⭐⭐⭐⭐⭐",
        "⭐ bien",
        "👍",
        "1 2 3",
        "482-193-057",
    ],
)
def test_rating_rejects_other_text(text):
    assert rating_of_text(text) is None


def test_rating_button_of_survey():
    assert parse_rating("", "button", {"payload": choice_id(4), "title": "4"}) == {"rating": 4}


@pytest.mark.parametrize("payload", ["confirm", "rating:0", "rating:6", "rating:", "5", None])
def test_rating_button_of_other_choice_is_none(payload):
    assert parse_rating("5", "button", {"payload": payload, "title": "5"}) is None


def test_rating_text_message():
    assert parse_rating("5", "text", None) == {"rating": 5}


@pytest.mark.parametrize("kind", ["media", "location", "reaction", "unsupported"])
def test_rating_other_content_kinds_are_none(kind):
    assert parse_rating("5", kind, {}) is None


def test_rating_email_skips_subject_line():
    subject = "Re: Califique su caso 482-193-057"
    body = f"{subject}\n\n4"

    assert parse_rating(body, "text", {"subject": subject}) == {"rating": 4}


def test_rating_email_subject_digits_are_not_rating():
    subject = "Re: 5"

    assert parse_rating(f"{subject}\n\nEl bache sigue ahí", "text", {"subject": subject}) is None

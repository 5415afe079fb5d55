"""Read a satisfaction rating of 1 to 5 out of a citizen's reply, from any channel.

A reply is an answer only when all of it is the rating, because a message such as
"2 baches más" during the answer window is a new report, not a score. These forms
are answers:

- a digit, alone or as "4/5", "4 de 5", "4 of 5", "4 estrellas", "4 stars", or a keycap
  emoji such as 4️⃣;
- a number word in Spanish, English or Portuguese ("cuatro", "four", "quatro"), with
  the same optional suffixes;
- one to five star emoji (⭐, 🌟 or ★) and nothing else;
- the id of a rating button or list row that the survey sent (`rating:4`), as a
  WhatsApp interactive reply or a Messenger quick reply carries it.

Every other text is not an answer, so the journey keeps it as a normal message.
"""

import re
import unicodedata

# The id of each rating choice, which WhatsApp and Messenger send back when it is tapped.
CHOICE_PREFIX = "rating:"
RATINGS = (1, 2, 3, 4, 5)

_NUMBER_WORDS = {
    # Spanish
    "uno": 1,
    "una": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    # English
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    # Portuguese, where it differs from Spanish
    "um": 1,
    "uma": 1,
    "dois": 2,
    "duas": 2,
    "quatro": 4,
}
# Words that may follow the number: "4 estrellas", "five stars", "3 pontos".
_UNITS = r"(?:estrellas?|estrelas?|stars?|puntos?|pontos?|points?)"
# "4/5", "4 de 5", "4 of 5" and "4 sobre 5" name the scale, which must be 5.
_SCALE = r"(?:/\s*5|(?:de|of|sobre|em)\s+(?:5|cinco|five))"
_NUMBER = r"(?P<number>[1-5]|[a-z]+)"
_ANSWER = re.compile(rf"{_NUMBER}(?:\s*{_SCALE})?(?:\s+{_UNITS})?")
_STARS = frozenset("⭐🌟★")
_KEYCAP = "\u20e3"
_VARIATION_SELECTORS = frozenset("\ufe0e\ufe0f")
# Punctuation a citizen may put around the answer: "5.", "¡5!", "(5)".
_SURROUNDING = " \t\r\n.,;:!¡?¿()[]\"'«»"


def choice_id(rating: int) -> str:
    """Return the id of the choice that stands for `rating`."""
    return f"{CHOICE_PREFIX}{rating}"


def parse_rating(text: str, content_kind: str, content: dict | None) -> dict | None:
    """Return `{"rating": n}` when a reply is a rating, else None.

    A button reply counts only when its id is one of the survey's own choices, because
    other workflows send buttons too. An email body starts with its subject line, which
    `content["subject"]` names, so that line is left out before reading the text.
    """
    if content_kind == "button":
        rating = _button_rating(content)
    elif content_kind == "text" and text:
        subject = (content or {}).get("subject")
        if subject and text.startswith(subject):
            text = text[len(subject) :]
        rating = rating_of_text(text)
    else:
        rating = None
    return {"rating": rating} if rating is not None else None


def rating_of_text(text: str) -> int | None:
    """Return the rating that all of `text` states, or None when it states no rating."""
    cleaned = _normalize(text)
    if not cleaned:
        return None
    stars = _star_count(cleaned)
    if stars is not None:
        return stars
    cleaned = _keycaps_to_digits(cleaned)
    match = _ANSWER.fullmatch(cleaned)
    if match is None:
        return None
    number = match.group("number")
    if number.isdigit():
        return int(number)
    return _NUMBER_WORDS.get(number)


def _button_rating(content: dict | None) -> int | None:
    payload = str((content or {}).get("payload") or "")
    if not payload.startswith(CHOICE_PREFIX):
        return None
    value = payload.removeprefix(CHOICE_PREFIX)
    if value not in {str(rating) for rating in RATINGS}:
        return None
    return int(value)


def _normalize(text: str) -> str:
    """Lower-case, drop accents and surrounding punctuation, and collapse spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    # Combining accents go, but the keycap mark stays: it turns "5" into 5️⃣.
    letters = "".join(
        char for char in decomposed if not unicodedata.combining(char) or char == _KEYCAP
    )
    letters = "".join(char for char in letters if char not in _VARIATION_SELECTORS)
    return " ".join(letters.strip(_SURROUNDING).split())


def _star_count(text: str) -> int | None:
    """Return how many stars a text of star emoji only contains, or None for any other text."""
    compact = text.replace(" ", "")
    if not compact or any(char not in _STARS for char in compact):
        return None
    return len(compact) if len(compact) in RATINGS else None


def _keycaps_to_digits(text: str) -> str:
    return text.replace(_KEYCAP, "")

"""Citizens' answers to a reminder, from any channel: confirm or cancel.

A reply counts as an answer only when the whole message is one of the words below
(after trimming, lower-casing and dropping accents and punctuation), a WhatsApp reply
button or template quick reply with one of the reminder's ids, or keypad digit 1 or 2.
Anything longer is an ordinary message for the case.
"""

import re
import unicodedata

from chalicelib.appointments import reminders, texts
from chalicelib.journey.prompts import LANGUAGES
from chalicelib.workflows import waits

CONFIRM = "confirm"
CANCEL = "cancel"

CONFIRM_WORDS = frozenset(
    {"1", "si", "confirmo", "confirmar", "confirmado", "confirm", "confirmed", "yes", "sim"}
)
CANCEL_WORDS = frozenset({"2", "no", "cancelar", "cancelo", "cancela", "cancel", "nao"})
BUTTON_IDS = {reminders.CONFIRM_CHOICE: CONFIRM, reminders.CANCEL_CHOICE: CANCEL}

_PUNCTUATION = re.compile(r"[^\w\s]")


def normalize(text: str) -> str:
    """Return text lower-cased, without accents, punctuation or surrounding spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(_PUNCTUATION.sub(" ", letters).split())


def parse(text: str | None, content_kind: str, content: dict | None) -> dict | None:
    """Return `{"answer": "confirm"}` or `{"answer": "cancel"}`, or None when it is no answer."""
    if content_kind == "button":
        payload = (content or {}).get("payload")
        if payload in BUTTON_IDS:
            return {"answer": BUTTON_IDS[payload]}
        text = (content or {}).get("title") or text
    word = normalize(text or "")
    if word in CONFIRM_WORDS:
        return {"answer": CONFIRM}
    if word in CANCEL_WORDS:
        return {"answer": CANCEL}
    return None


ENDED_TEXT = {language: texts.text("answer_ended", language) for language in LANGUAGES}

waits.register_answers(reminders.KIND, parse, ENDED_TEXT)

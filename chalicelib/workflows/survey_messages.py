"""What the satisfaction survey sends, in each language and in the form each channel shows.

WhatsApp and Messenger get a short question with five choices, which the notify service
sends as a WhatsApp list (inside the 24-hour window) or as Messenger quick replies.
Every channel's text also asks for a digit, because web chat, SMS, email and WhatsApp
templates carry only the text. SMS and chat texts stay within 70 characters, so an SMS
fits one segment even in UCS-2.
"""

from chalicelib.journey.models import EMAIL, MESSENGER, SMS, WHATSAPP
from chalicelib.journey.references import format_reference
from chalicelib.workflows.survey_answers import RATINGS, choice_id

# Channels whose notices can carry tappable choices.
CHOICE_CHANNELS = frozenset({WHATSAPP, MESSENGER})

_QUESTION = {
    "es": "¿Cómo atendimos su caso {reference}? Responda de 1 a 5.",
    "en": "How did we handle case {reference}? Reply 1 to 5.",
    "pt": "Como atendemos seu caso {reference}? Responda de 1 a 5.",
}
_QUESTION_DIGIT = {
    "es": "Califique la atención de su caso {reference}: responda 1 a 5.",
    "en": "Rate how we handled case {reference}: reply 1 to 5.",
    "pt": "Avalie o atendimento do caso {reference}: responda 1 a 5.",
}
_QUESTION_EMAIL = {
    "es": (
        "¿Cómo atendimos su caso {reference}? Responda a este correo con un número "
        "del 1 (muy mal) al 5 (excelente)."
    ),
    "en": (
        "How did we handle case {reference}? Reply to this email with a number "
        "from 1 (very poor) to 5 (excellent)."
    ),
    "pt": (
        "Como atendemos seu caso {reference}? Responda a este e-mail com um número "
        "de 1 (muito ruim) a 5 (excelente)."
    ),
}
# Choice titles: WhatsApp list rows allow 24 characters, reply buttons 20.
_CHOICE_TITLES = {
    "es": {1: "1 Muy mal", 2: "2 Mal", 3: "3 Regular", 4: "4 Bien", 5: "5 Excelente"},
    "en": {1: "1 Very poor", 2: "2 Poor", 3: "3 Fair", 4: "4 Good", 5: "5 Excellent"},
    "pt": {1: "1 Muito ruim", 2: "2 Ruim", 3: "3 Regular", 4: "4 Bom", 5: "5 Excelente"},
}
THANKS = {
    "es": "¡Gracias por calificarnos! Su opinión nos ayuda a mejorar.",
    "en": "Thank you for your rating! It helps us improve.",
    "pt": "Obrigado pela avaliação! Sua opinião nos ajuda a melhorar.",
}
# The reply to a rating that comes after the answer window closed.
ENDED = {
    "es": "Gracias. La encuesta de este caso ya cerró.",
    "en": "Thank you. The survey for this case has closed.",
    "pt": "Obrigado. A pesquisa deste caso já foi encerrada.",
}


def question(channel: str, language: str, reference: str) -> str:
    """Return the survey question for `channel`, naming the case by its grouped reference."""
    texts = {SMS: _QUESTION_DIGIT, EMAIL: _QUESTION_EMAIL}.get(channel, _QUESTION)
    return _in(texts, language).format(reference=format_reference(reference))


def choices(channel: str, language: str) -> tuple[tuple[str, str], ...]:
    """Return the (id, title) rating choices, best first, or () for a channel without them."""
    if channel not in CHOICE_CHANNELS:
        return ()
    titles = _in(_CHOICE_TITLES, language)
    return tuple((choice_id(rating), titles[rating]) for rating in reversed(RATINGS))


def thanks(language: str) -> str:
    return _in(THANKS, language)


def _in(texts: dict, language: str):
    return texts.get(language, texts["es"])

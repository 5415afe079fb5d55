"""Consent keywords in inbound texts (STOP, BAJA, START, AYUDA...) and their confirmations.

Only a message that consists of the keyword alone counts. "stop sending me bills please"
is a sentence about something else, and reading it as an opt-out would silence a
citizen who is asking for help, so it is classified as None. Case, accents and the
punctuation, whitespace and invisible format characters around the keyword are ignored,
so "¡Alto!", " arrêt. " and "STOP" followed by a zero-width space count. Format
characters (Unicode category Cf: U+200B zero-width space, U+2060 word joiner, U+FEFF
byte order mark, direction marks) are invisible, so a text that shows only STOP may
carry them.
"""

import unicodedata

OPT_OUT = "opt_out"
OPT_IN = "opt_in"
HELP = "help"

KEYWORDS = {
    "STOP": OPT_OUT,
    "BAJA": OPT_OUT,
    "ALTO": OPT_OUT,
    "PARAR": OPT_OUT,
    "CANCELAR": OPT_OUT,
    "SAIR": OPT_OUT,
    "ARRET": OPT_OUT,
    "START": OPT_IN,
    "ALTA": OPT_IN,
    "INICIO": OPT_IN,
    "HELP": HELP,
    "AYUDA": HELP,
}

# Longer texts cannot be a keyword with its punctuation, so they are not normalized at all.
_MAX_KEYWORD_TEXT_LENGTH = 40

# Every text is in the GSM 7-bit alphabet, so one SMS segment carries 160 characters.
# The longest help text leaves room for this many GSM 7-bit characters of contact options.
# One character outside that alphabet in the contact options switches the SMS to UCS-2,
# and then the whole help text must fit in 70 characters.
MAX_CONTACT_OPTIONS_LENGTH = 100

_CONFIRMATIONS = {
    OPT_OUT: {
        "es": "Listo: ya no le enviaremos mensajes. Para volver a recibirlos, responda ALTA.",
        "en": "You will no longer get messages from us. Reply START to receive them again.",
        "pt": "Pronto: as mensagens foram canceladas. Para voltar a receber, responda INICIO.",
    },
    OPT_IN: {
        "es": "Listo: volveremos a enviarle mensajes. Para dejar de recibirlos, responda BAJA.",
        "en": "You will get messages from us again. Reply STOP to stop them.",
        "pt": "Pronto: as mensagens foram reativadas. Para cancelar, responda SAIR.",
    },
    HELP: {
        "es": "Ayuda: {contact_options}. Para dejar de recibir mensajes, responda BAJA.",
        "en": "Help: {contact_options}. Reply STOP to stop receiving messages.",
        "pt": "Ajuda: {contact_options}. Para cancelar as mensagens, responda SAIR.",
    },
}


def classify(text: str | None) -> str | None:
    """Return "opt_out", "opt_in" or "help" when the whole text is one keyword, else None."""
    if not text or len(text) > _MAX_KEYWORD_TEXT_LENGTH:
        return None
    return KEYWORDS.get(_normalize(text))


def confirmation_text(kind: str, language: str, contact_options: str | None = None) -> str:
    """Return the reply that confirms a consent keyword, in language ("es", "en" or "pt").

    The help text names the agency's contact options, such as a phone number and opening
    hours, so contact_options is required for "help". Raises ValueError for an unknown
    kind or language, or a help text without contact options.
    """
    texts = _CONFIRMATIONS.get(kind)
    if texts is None:
        expected = ", ".join(_CONFIRMATIONS)
        raise ValueError(f"unknown consent kind {kind!r}, expected one of {expected}")
    template = texts.get(language)
    if template is None:
        raise ValueError(f"unknown language {language!r}, expected one of {', '.join(texts)}")
    if kind != HELP:
        return template
    if not contact_options:
        raise ValueError("contact_options is required for the help text")
    return template.format(contact_options=contact_options.strip())


def _normalize(text: str) -> str:
    """Return text in upper case, without accents or the padding `_is_padding` matches around it."""
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    start, end = 0, len(letters)
    while start < end and _is_padding(letters[start]):
        start += 1
    while end > start and _is_padding(letters[end - 1]):
        end -= 1
    return letters[start:end].upper()


def _is_padding(character: str) -> bool:
    """Return whether a character is whitespace, punctuation or an invisible format character."""
    category = unicodedata.category(character)
    return character.isspace() or category.startswith("P") or category == "Cf"

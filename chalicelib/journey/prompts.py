"""Sentences Ventanilla sends or speaks, in every language it serves.

Automatic notices stay within 70 characters so that an SMS fits one segment
even when an accented letter forces UCS-2 encoding.
"""

LANGUAGES = ("es", "en", "pt")

_TEXTS = {
    # The label of the button that opens a WhatsApp list of choices (20 characters at most).
    "choose_option": {
        "es": "Elegir",
        "en": "Choose",
        "pt": "Escolher",
    },
    "case_opened": {
        "es": "Caso {reference} registrado. Cítelo en cualquier canal.",
        "en": "Case {reference} opened. Quote it on any channel.",
        "pt": "Caso {reference} registrado. Cite-o em qualquer canal.",
    },
    "email_subject_case": {
        "es": "Su caso {reference}",
        "en": "Your case {reference}",
        "pt": "Seu caso {reference}",
    },
    "email_subject": {
        "es": "Mensaje de {agency}",
        "en": "Message from {agency}",
        "pt": "Mensagem de {agency}",
    },
    "greeting_known": {
        "es": "Hola {first_name}, gracias por llamar.",
        "en": "Hello {first_name}, thank you for calling.",
        "pt": "Olá {first_name}, obrigado por ligar.",
    },
    "greeting_known_no_name": {
        "es": "Hola, gracias por llamar de nuevo.",
        "en": "Hello, thank you for calling again.",
        "pt": "Olá, obrigado por ligar novamente.",
    },
    "greeting_unknown": {
        "es": "Hola, gracias por llamar.",
        "en": "Hello, thank you for calling.",
        "pt": "Olá, obrigado por ligar.",
    },
    "open_cases": {
        "es": "Tiene {count} casos abiertos.",
        "en": "You have {count} open cases.",
        "pt": "Você tem {count} casos abertos.",
    },
    "open_case_one": {
        "es": "Tiene un caso abierto.",
        "en": "You have one open case.",
        "pt": "Você tem um caso aberto.",
    },
    "case_status": {
        "es": "Su caso {reference} está {status}.",
        "en": "Your case {reference} is {status}.",
        "pt": "Seu caso {reference} está {status}.",
    },
    "case_not_found": {
        "es": "No encontramos un caso con ese número.",
        "en": "We could not find a case with that number.",
        "pt": "Não encontramos um caso com esse número.",
    },
    "reference_invalid": {
        "es": "Ese número de caso no es válido.",
        "en": "That case number is not valid.",
        "pt": "Esse número de caso não é válido.",
    },
    "action_unavailable": {
        "es": "Esa opción todavía no está disponible.",
        "en": "That option is not available yet.",
        "pt": "Essa opção ainda não está disponível.",
    },
    "error": {
        "es": "Lo sentimos, no podemos atenderle ahora.",
        "en": "Sorry, we cannot help you right now.",
        "pt": "Desculpe, não podemos atendê-lo agora.",
    },
}

_STATUS_WORDS = {
    "open": {"es": "abierto", "en": "open", "pt": "aberto"},
    "waiting_citizen": {
        "es": "en espera de su respuesta",
        "en": "waiting for your reply",
        "pt": "aguardando sua resposta",
    },
    "resolved": {"es": "resuelto", "en": "resolved", "pt": "resolvido"},
    "closed": {"es": "cerrado", "en": "closed", "pt": "encerrado"},
}


def text(key: str, language: str, **values: object) -> str:
    """Return the sentence `key` in `language` (Spanish when it is not served)."""
    variants = _TEXTS[key]
    return variants.get(language, variants["es"]).format(**values)


def status_word(status: str, language: str) -> str:
    words = _STATUS_WORDS.get(status, _STATUS_WORDS["open"])
    return words.get(language, words["es"])


def spoken_reference(reference: str) -> str:
    """Spell a reference digit by digit in groups, as a text-to-speech engine reads it."""
    groups = [reference[index : index + 3] for index in range(0, len(reference), 3)]
    return ", ".join(" ".join(group) for group in groups)

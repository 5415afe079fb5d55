"""Sentences of appointments that citizens read or hear, in every language Ventanilla serves."""

from datetime import datetime
from zoneinfo import ZoneInfo

_TEXTS = {
    "booked": {
        "es": "Cita {reference}: {service}, {office}, {when}.",
        "en": "Appointment {reference}: {service}, {office}, {when}.",
        "pt": "Agendamento {reference}: {service}, {office}, {when}.",
    },
    "reminder": {
        "es": "Recordatorio de su cita {reference}: {service}, {office}, {when}. "
        "Responda 1 para confirmar o 2 para cancelar.",
        "en": "Reminder of your appointment {reference}: {service}, {office}, {when}. "
        "Reply 1 to confirm or 2 to cancel.",
        "pt": "Lembrete do seu agendamento {reference}: {service}, {office}, {when}. "
        "Responda 1 para confirmar ou 2 para cancelar.",
    },
    "choice_confirm": {"es": "Confirmar", "en": "Confirm", "pt": "Confirmar"},
    "choice_cancel": {"es": "Cancelar", "en": "Cancel", "pt": "Cancelar"},
    "confirmed": {
        "es": "Su cita {reference} está confirmada. Le esperamos.",
        "en": "Your appointment {reference} is confirmed. See you then.",
        "pt": "Seu agendamento {reference} está confirmado. Até lá.",
    },
    "cancelled": {
        "es": "Su cita {reference} fue cancelada.",
        "en": "Your appointment {reference} was cancelled.",
        "pt": "Seu agendamento {reference} foi cancelado.",
    },
    # Sent when an answer comes after the reminder stopped waiting for one.
    "answer_ended": {
        "es": "Gracias. Esta cita ya no espera respuesta; llámenos si necesita cambiarla.",
        "en": "Thank you. This appointment no longer awaits a reply; call us to change it.",
        "pt": "Obrigado. Este agendamento não aguarda resposta; ligue-nos para alterá-lo.",
    },
    "phone_confirmed": {
        "es": "Su cita del {when} está confirmada.",
        "en": "Your appointment on {when} is confirmed.",
        "pt": "Seu agendamento de {when} está confirmado.",
    },
    "phone_cancelled": {
        "es": "Su cita del {when} fue cancelada.",
        "en": "Your appointment on {when} was cancelled.",
        "pt": "Seu agendamento de {when} foi cancelado.",
    },
    "phone_booked": {
        "es": "Su cita quedó reservada para el {when}. Su número de caso es {reference}.",
        "en": "Your appointment is booked for {when}. Your case number is {reference}.",
        "pt": "Seu agendamento ficou marcado para {when}. O número do caso é {reference}.",
    },
    "phone_no_slot": {
        "es": "No hay citas disponibles para ese trámite en los próximos días.",
        "en": "There are no appointments available for that service in the coming days.",
        "pt": "Não há horários disponíveis para esse serviço nos próximos dias.",
    },
    "phone_booking_conflict": {
        "es": "No pudimos reservar esa cita. Le comunicamos con un agente.",
        "en": "We could not book that appointment. We will connect you with an agent.",
        "pt": "Não conseguimos marcar esse horário. Vamos transferi-lo para um atendente.",
    },
    "phone_booking_needs_caller_id": {
        "es": "Para reservar por teléfono necesitamos ver su número. Llame sin ocultarlo.",
        "en": "To book by phone we need to see your number. Please call without hiding it.",
        "pt": "Para agendar por telefone precisamos ver seu número. Ligue sem ocultá-lo.",
    },
    "phone_no_appointment": {
        "es": "Ese caso no tiene una cita pendiente.",
        "en": "That case has no pending appointment.",
        "pt": "Esse caso não tem agendamento pendente.",
    },
    "phone_already_cancelled": {
        "es": "Esa cita ya estaba cancelada.",
        "en": "That appointment was already cancelled.",
        "pt": "Esse agendamento já estava cancelado.",
    },
}

_MONTHS = {
    "es": (
        "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre"
    ),
    "en": "January February March April May June July August September October November December",
    "pt": (
        "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro"
    ),
}
_SPOKEN_DATE = {
    "es": "{day} de {month} a las {time}",
    "en": "{month} {day} at {time}",
    "pt": "{day} de {month} às {time}",
}


def text(key: str, language: str, **values: object) -> str:
    """Return the sentence `key` in `language` (Spanish when it is not served)."""
    variants = _TEXTS[key]
    return variants.get(language, variants["es"]).format(**values)


def local_time(moment: datetime, timezone: str) -> datetime:
    return moment.astimezone(ZoneInfo(timezone))


def written_time(moment: datetime, timezone: str) -> str:
    """Format a time as a message shows it in the agency's time zone: `07/12/2026 10:30`."""
    return local_time(moment, timezone).strftime("%d/%m/%Y %H:%M")


def spoken_time(moment: datetime, timezone: str, language: str) -> str:
    """Format a time as a text-to-speech engine reads it: `7 de diciembre a las 10:30`."""
    local = local_time(moment, timezone)
    months = _MONTHS.get(language, _MONTHS["es"]).split()
    template = _SPOKEN_DATE.get(language, _SPOKEN_DATE["es"])
    return template.format(day=local.day, month=months[local.month - 1], time=f"{local:%H:%M}")

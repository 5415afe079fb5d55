import pytest

from chalicelib.journey.consent import (
    HELP,
    KEYWORDS,
    MAX_CONTACT_OPTIONS_LENGTH,
    OPT_IN,
    OPT_OUT,
    classify,
    confirmation_text,
)
from chalicelib.journey.prompts import LANGUAGES
from chalicelib.notify.segments import GSM_7, encoding_of, fits_one_segment

KINDS = (OPT_OUT, OPT_IN, HELP)
# As long as the help texts allow, with digits, letters, spaces and punctuation.
LONGEST_CONTACT_OPTIONS = "Llame al 800 123 4567 (lun-vie 9-18 h) o escriba a atencion@agencia.mx"
LONGEST_CONTACT_OPTIONS = LONGEST_CONTACT_OPTIONS.ljust(MAX_CONTACT_OPTIONS_LENGTH, ".")


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        "Stop",
        "  STOP  ",
        "STOP.",
        "stop!",
        "¡Stop!",
        "BAJA",
        "baja",
        "ALTO",
        "¡Alto!",
        "PARAR",
        "parar...",
        "CANCELAR",
        "Cancelar.",
        "SAIR",
        "sair",
        "ARRET",
        "ARRÊT",
        "arrêt",
        " Arrêt ! ",
        "\tBAJA\n",
    ],
)
def test_consent_opt_out_keyword(text):
    assert classify(text) == OPT_OUT


@pytest.mark.parametrize("text", ["START", "start", "Alta", "ALTA.", "INICIO", "Início", "inicio!"])
def test_consent_opt_in_keyword(text):
    assert classify(text) == OPT_IN


@pytest.mark.parametrize("text", ["HELP", "help?", "AYUDA", "¿Ayuda?", "ayúda", " Help. "])
def test_consent_help_keyword(text):
    assert classify(text) == HELP


@pytest.mark.parametrize(
    "text",
    [
        "stop sending me bills please",
        "Quiero darme de baja",
        "STOP STOP",
        "STOPP",
        "S T O P",
        "ALTOS",
        "baja la tarifa",
        "no",
        "SI",
        "",
        "   ",
        "!!!",
        None,
        "STOP" + " " * 100,
        "482-193-058",
    ],
)
def test_consent_other_text_is_none(text):
    assert classify(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "stop\u200b",
        "\u200bSTOP",
        "\ufeffstop",
        "STOP\ufeff",
        "\u2060stop\u2060",
        "\u00a0STOP\u00a0",
        "stop\u202f",
        "\u3000STOP",
        "STOP\u200e",
        "\u200fSTOP",
        "stop\u00ad",
        "\u200b\u00a0 Stop. \u200d",
        "ARRÊT\u200b",
        "baja\u2028",
    ],
)
def test_consent_keyword_with_invisible_padding(text):
    assert classify(text) == OPT_OUT


@pytest.mark.parametrize(
    "text",
    [
        "stop\u200bsending me bills",
        "stop\u00a0sending me bills",
        "STOP\u200bSTOP",
        "\u200bquiero darme de baja\u200b",
        "\u200b",
        "\ufeff\u00a0",
    ],
)
def test_consent_invisible_characters_make_no_keyword(text):
    assert classify(text) is None


def test_consent_keywords_are_upper_case_without_accents():
    assert all(keyword == keyword.upper() and keyword.isascii() for keyword in KEYWORDS)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_confirmation_fits_one_segment(kind, language):
    text = confirmation_text(kind, language, LONGEST_CONTACT_OPTIONS)
    assert fits_one_segment(text)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_confirmation_is_gsm_7(kind, language):
    assert encoding_of(confirmation_text(kind, language, "800 123 4567")) == GSM_7


def keyword_kinds(text):
    """Return the consent kinds of the upper-case words in text, the keywords a reply names."""
    words = (word.strip(".,:;!?") for word in text.split())
    return {classify(word) for word in words if word.isupper()}


@pytest.mark.parametrize("language", LANGUAGES)
def test_opt_out_confirmation_names_an_opt_in_keyword(language):
    assert keyword_kinds(confirmation_text(OPT_OUT, language)) == {OPT_IN}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", (OPT_IN, HELP))
def test_confirmation_names_an_opt_out_keyword(kind, language):
    assert keyword_kinds(confirmation_text(kind, language, "800 123 4567")) == {OPT_OUT}


@pytest.mark.parametrize("language", LANGUAGES)
def test_help_confirmation_includes_contact_options(language):
    assert "800 123 4567" in confirmation_text(HELP, language, " 800 123 4567 ")


def test_help_confirmation_without_contact_options_raises():
    with pytest.raises(ValueError, match="contact_options"):
        confirmation_text(HELP, "es")


@pytest.mark.parametrize(("kind", "language"), [("unsubscribe", "es"), (OPT_OUT, "fr")])
def test_confirmation_of_unknown_kind_or_language_raises(kind, language):
    with pytest.raises(ValueError, match="unknown"):
        confirmation_text(kind, language)

"""Phone number normalization, so one subscriber line gets one E.164 identity on every channel."""

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberType, ValidationResult

# E.164 numbers have at most 15 digits, so 32 characters leave room for formatting and
# bound the work done on untrusted input.
MAX_INPUT_LENGTH = 32

# ASCII digits and the punctuation people type between them, with at most one "+" in front.
_ALLOWED_TEXT = re.compile(r"\+?[0-9().\-\s]+", re.ASCII)

_PARSE_ERROR_MESSAGES = {
    NumberParseException.INVALID_COUNTRY_CODE: "phone number has an unknown country calling code",
    NumberParseException.NOT_A_NUMBER: "phone number has too few digits",
    NumberParseException.TOO_SHORT_AFTER_IDD: "phone number is too short after the country prefix",
    NumberParseException.TOO_SHORT_NSN: "phone number is too short",
    NumberParseException.TOO_LONG: "phone number is too long",
}

_IMPOSSIBLE_MESSAGES = {
    ValidationResult.INVALID_COUNTRY_CODE: "phone number has an unknown country calling code",
    ValidationResult.TOO_SHORT: "phone number is too short for country code +{code}",
    ValidationResult.TOO_LONG: "phone number is too long for country code +{code}",
    ValidationResult.INVALID_LENGTH: (
        "phone number has an impossible length for country code +{code}"
    ),
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "phone number is missing its area code",
}

# A Brazilian mobile written before the ninth digit: area code without zeros, then an
# 8-digit subscriber number starting 6-9. Subscribers starting 2-5 are landlines.
_BRAZIL_OLD_MOBILE = re.compile(r"[1-9]{2}[6-9][0-9]{7}")


class PhoneNumberError(ValueError):
    """Invalid phone number input, with a message that never contains the number."""


def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """Return the E.164 form of a phone number, unifying the forms `phonenumbers` keeps apart.

    Raises PhoneNumberError for empty, over-long, lettered or impossible input, and
    ValueError for a default_region that phonenumbers does not support.
    """
    _check_region(default_region)
    text = _clean_text(raw)
    number = _parse_possible(text, default_region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def same_line(a: str, b: str, default_region: str | None = None) -> bool:
    """Return whether two phone numbers normalize to one line, or False if either is invalid."""
    try:
        return normalize_phone(a, default_region) == normalize_phone(b, default_region)
    except PhoneNumberError:
        return False


def _check_region(default_region: str | None) -> None:
    if default_region is not None and default_region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"unsupported default region {default_region!r}, expected None or an uppercase "
            "ISO 3166-1 alpha-2 code such as 'MX'"
        )


def _clean_text(raw: str) -> str:
    """Strip raw, raising PhoneNumberError for empty, over-long or non-numeric text."""
    if len(raw) > MAX_INPUT_LENGTH:
        raise PhoneNumberError(f"phone number is longer than {MAX_INPUT_LENGTH} characters")
    text = raw.strip()
    if not text:
        raise PhoneNumberError("phone number is empty")
    if any(character.isalpha() for character in text):
        raise PhoneNumberError("phone number contains letters")
    if not any(character in "0123456789" for character in text):
        raise PhoneNumberError("phone number contains no digits")
    if not _ALLOWED_TEXT.fullmatch(text):
        raise PhoneNumberError(
            "phone number contains an invalid character. Use only digits, spaces, dashes, "
            "dots, parentheses and a leading +"
        )
    return text


def _parse_possible(text: str, default_region: str | None) -> PhoneNumber:
    """Parse text into a unified, possible number, or raise the first reading's PhoneNumberError."""
    errors: list[PhoneNumberError] = []
    for candidate in _candidate_texts(text, default_region):
        try:
            number = _unify(_parse(candidate, default_region))
            _check_possible(number)
        except PhoneNumberError as error:
            errors.append(error)
            continue
        return number
    raise errors[0]


def _candidate_texts(text: str, default_region: str | None) -> list[str]:
    """List the readings of text to try, reading a leading "00" as "+" first.

    "00" is the international prefix of most countries, MX, AR and ES among them, so it
    is read as "+" even when the default region dials abroad another way. The text as
    typed is tried second, so the region's own prefix still works where "00" is only
    its start: "0011" in Australia, or "00" plus a carrier code in Brazil.
    """
    if not text.startswith("00"):
        return [text]
    international = "+" + text[2:]
    if default_region is None:
        return [international]
    return [international, text]


def _parse(text: str, default_region: str | None) -> PhoneNumber:
    try:
        return phonenumbers.parse(text, default_region)
    except NumberParseException as error:
        if error.error_type == NumberParseException.INVALID_COUNTRY_CODE and not (
            default_region or text.startswith("+")
        ):
            message = "phone number needs a leading + and country code because no region is set"
        else:
            message = _PARSE_ERROR_MESSAGES.get(error.error_type, "phone number is invalid")
        raise PhoneNumberError(message) from None


def _check_possible(number: PhoneNumber) -> None:
    """Raise PhoneNumberError unless the number has a possible full length for its country."""
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == ValidationResult.IS_POSSIBLE:
        return
    template = _IMPOSSIBLE_MESSAGES.get(reason, "phone number is not possible")
    raise PhoneNumberError(template.format(code=number.country_code))


def _unify(number: PhoneNumber) -> PhoneNumber:
    """Rewrite the country-specific variants of one line into a single national number."""
    national = phonenumbers.national_significant_number(number)
    if number.country_code == 52:
        unified = _unify_mexico(national)
    elif number.country_code == 54:
        unified = _unify_argentina(national)
    elif number.country_code == 55:
        unified = _unify_brazil(national)
    else:
        return number
    if unified == national:
        return number
    return PhoneNumber(country_code=number.country_code, national_number=int(unified))


def _unify_mexico(national: str) -> str:
    """Drop the "1" that Mexican mobiles carried after +52 until Mexico's 2019 numbering change."""
    # Mexican national numbers are 10 digits and never start with 0, so an 11-digit "1[1-9]..."
    # is the old mobile form. The rule holds whether or not phonenumbers drops the "1" itself.
    if len(national) == 11 and national[0] == "1" and national[1] != "0":
        return national[1:]
    return national


def _unify_argentina(national: str) -> str:
    """Rewrite an Argentine number to the mobile form with "9" when it may be a mobile.

    The canonical form is +54 9 <area code> <subscriber>, because WhatsApp and SMS
    gateways send that form. phonenumbers already turns the domestic "0 <area> 15
    <subscriber>" form into it for the area codes in its metadata.
    """
    if len(national) == 12 or (len(national) == 13 and national[0] == "9"):
        national = _drop_mobile_prefix_15(national.removeprefix("9")) or national
    # A 10-digit number without "9" can be a landline or a mobile written without the
    # "9"; phonenumbers cannot tell them apart. The project treats "with and without the
    # 9" as one line, so the "9" is added whenever its metadata types that form as MOBILE.
    # NOTE: this also adds the "9" to landlines in ranges that overlap mobile ranges, such
    # as Buenos Aires (11): the result identifies the line but is not a voice-dialable form.
    if len(national) == 10 and _is_argentine_mobile("9" + national):
        return "9" + national
    return national


def _drop_mobile_prefix_15(national: str) -> str | None:
    """Return "9" + area + subscriber for "<area> 15 <subscriber>", or None if no split fits.

    Covers area codes missing from phonenumbers' metadata and the doubled "9 ... 15" form.
    Argentine area code and subscriber together are 10 digits, and area codes have 2 to 4.
    """
    for area_length in (2, 3, 4):
        if national[area_length : area_length + 2] != "15":
            continue
        mobile = "9" + national[:area_length] + national[area_length + 2 :]
        if _is_argentine_mobile(mobile):
            return mobile
    return None


def _is_argentine_mobile(national: str) -> bool:
    number = PhoneNumber(country_code=54, national_number=int(national))
    return phonenumbers.number_type(number) == PhoneNumberType.MOBILE


def _unify_brazil(national: str) -> str:
    """Insert the ninth digit that every Brazilian mobile has carried since 2016."""
    if _BRAZIL_OLD_MOBILE.fullmatch(national):
        return national[:2] + "9" + national[2:]
    return national

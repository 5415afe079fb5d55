import re

import phonenumbers
import pytest

from chalicelib.identity.phones import PhoneNumberError, normalize_phone, same_line

BUENOS_AIRES_MOBILE = "+5491123456789"


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+5491123456789", None),
        ("+541123456789", None),
        ("011 15 2345-6789", "AR"),
        ("+54 9 11 2345-6789", None),
        ("0054 9 11 2345 6789", None),
        ("0054 9 11 2345 6789", "AR"),
        ("+54 11 15 2345 6789", None),
        ("11 2345-6789", "AR"),
    ],
)
def test_argentine_forms_are_one_line(raw, region):
    assert normalize_phone(raw, region) == BUENOS_AIRES_MOBILE


def test_argentine_domestic_form_is_mobile_line():
    assert normalize_phone("011 15 2345-6789", "AR") == BUENOS_AIRES_MOBILE


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0351 15 423-4567", "+5493514234567"),
        ("0221 15 412-3456", "+5492214123456"),
        ("02202 15 42-3456", "+5492202423456"),
        ("02966 15 42-3456", "+5492966423456"),
    ],
)
def test_argentine_domestic_form_with_longer_area_codes(raw, expected):
    assert normalize_phone(raw, "AR") == expected


def test_argentine_number_with_both_9_and_15():
    assert normalize_phone("+54 9 11 15 2345 6789") == BUENOS_AIRES_MOBILE


def test_argentine_number_without_9_gets_it():
    assert normalize_phone("+54 351 423-4567") == "+5493514234567"


def test_argentine_toll_free_number_keeps_form():
    assert normalize_phone("+54 800 222 1234") == "+548002221234"


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+52 1 55 4163 7145", None),
        ("+5215541637145", None),
        ("+525541637145", None),
        ("+52 55 4163 7145", None),
        ("55 4163 7145", "MX"),
        ("(55) 4163-7145", "MX"),
        ("0052 1 55 4163 7145", "MX"),
    ],
)
def test_mexican_mobile_forms_are_one_line(raw, region):
    assert normalize_phone(raw, region) == "+525541637145"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+52 55 5555 1234", "+525555551234"),
        ("+52 81 8123 4567", "+528181234567"),
        ("33 3615 0000", "+523336150000"),
    ],
)
def test_mexican_landline_keeps_form(raw, expected):
    assert normalize_phone(raw, "MX") == expected


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+55 31 8888 7777", None),
        ("+55 31 98888 7777", None),
        ("(31) 8888-7777", "BR"),
        ("(31) 98888-7777", "BR"),
        ("0 21 31 8888 7777", "BR"),
    ],
)
def test_brazilian_mobile_gets_ninth_digit(raw, region):
    assert normalize_phone(raw, region) == "+5531988887777"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+55 31 3333 4444", "+553133334444"),
        ("+55 11 2345 6789", "+551123456789"),
        ("+55 21 5555 1234", "+552155551234"),
    ],
)
def test_brazilian_landline_is_untouched(raw, expected):
    assert normalize_phone(raw) == expected


def test_brazilian_toll_free_number_is_untouched():
    assert normalize_phone("0800 123 4567", "BR") == "+558001234567"


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+34 612 34 56 78", None),
        ("+34 612.345.678", None),
        ("0034 612 345 678", None),
        ("612 345 678", "ES"),
        ("0034 612 345 678", "ES"),
    ],
)
def test_spanish_mobile(raw, region):
    assert normalize_phone(raw, region) == "+34612345678"


def test_spanish_landline():
    assert normalize_phone("91 123 45 67", "ES") == "+34911234567"


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+1 (202) 555-0143", None),
        ("+1 202.555.0143", None),
        ("(202) 555-0143", "US"),
        ("1 202 555 0143", "US"),
        ("00 1 202 555 0143", "MX"),
    ],
)
def test_us_number(raw, region):
    assert normalize_phone(raw, region) == "+12025550143"


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("00 34 612 345 678", None),
        ("00 34 612 345 678", "US"),
        ("00 34 612 345 678", "BR"),
        ("0011 34 612 345 678", "AU"),
        ("0021 34 612 345 678", "BR"),
    ],
)
def test_leading_00_is_international_prefix(raw, region):
    assert normalize_phone(raw, region) == "+34612345678"


def test_region_international_prefix_is_used():
    assert normalize_phone("011 34 612 345 678", "US") == "+34612345678"


def test_surrounding_whitespace_is_ignored():
    assert normalize_phone("  +34 612 345 678\t") == "+34612345678"


def test_possible_but_invalid_number_is_kept():
    raw = "+1 202 000 0000"
    assert not phonenumbers.is_valid_number(phonenumbers.parse(raw))
    assert normalize_phone(raw) == "+12020000000"


@pytest.mark.parametrize(
    ("raw", "region", "message"),
    [
        ("", None, "phone number is empty"),
        ("   ", "MX", "phone number is empty"),
        ("abc", "MX", "phone number contains letters"),
        ("+52 55 CALL NOW", None, "phone number contains letters"),
        ("1-800-FLOWERS", "US", "phone number contains letters"),
        ("+1 202 555 0143 ext 12", None, "phone number contains letters"),
        ("+1 202 555 0143 " + "0" * 20, None, "longer than 32 characters"),
        (" " * 33, None, "longer than 32 characters"),
        ("+", None, "contains no digits"),
        ("(-)", "MX", "contains no digits"),
        ("++34 612 345 678", None, "invalid character"),
        ("+34 612/345/678", None, "invalid character"),
        ("*34#", "ES", "invalid character"),
        ("55 4163 7145", None, "needs a leading + and country code"),
        ("+999 123 4567", None, "unknown country calling code"),
        ("5", "MX", "too few digits"),
        ("+1 23", None, "too short"),
        ("12", "MX", "too short"),
        ("+1 202 555 01433", None, "too long"),
        ("+52 55 4163 71455", None, "too long for country code +52"),
        ("+47 123 456", None, "impossible length for country code +47"),
        ("4321-1234", "AR", "missing its area code"),
    ],
)
def test_invalid_phone_is_rejected(raw, region, message):
    with pytest.raises(PhoneNumberError, match=re.escape(message)):
        normalize_phone(raw, region)


def test_rejection_message_omits_number():
    with pytest.raises(PhoneNumberError) as excinfo:
        normalize_phone("+1 202 555 01433")
    assert "555" not in str(excinfo.value)


def test_phone_number_error_is_value_error():
    assert issubclass(PhoneNumberError, ValueError)


@pytest.mark.parametrize("region", ["XX", "mx", "MEX", ""])
def test_unsupported_region_raises_value_error(region):
    with pytest.raises(ValueError, match="unsupported default region"):
        normalize_phone("+34612345678", region)


@pytest.mark.parametrize(
    ("a", "b", "region"),
    [
        ("+5491123456789", "+541123456789", None),
        ("011 15 2345-6789", "+54 9 11 2345-6789", "AR"),
        ("+52 1 55 4163 7145", "55 4163 7145", "MX"),
        ("+55 31 8888 7777", "+55 31 98888 7777", None),
        ("0034 612 345 678", "+34612345678", None),
    ],
)
def test_same_line_for_forms_of_one_number(a, b, region):
    assert same_line(a, b, region)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("+5491123456789", "+5491123456780"),
        ("+525541637145", "+5491123456789"),
        ("+553133334444", "+5531933334444"),
        ("+34612345678", ""),
        ("abc", "abc"),
        ("", ""),
    ],
)
def test_same_line_false_for_different_or_invalid(a, b):
    assert not same_line(a, b)


def test_same_line_raises_for_unsupported_region():
    with pytest.raises(ValueError, match="unsupported default region"):
        same_line("+34612345678", "+34612345678", "XX")

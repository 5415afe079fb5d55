import random
import string

import pytest

from chalicelib.journey import references
from chalicelib.journey.references import (
    damm_check_digit,
    find_references,
    format_reference,
    is_valid_reference,
    new_reference,
    parse_reference,
)

# "48219305" has Damm check digit 8, so "482193057" is a one-digit typo of it.
VALID = "482193058"
OTHER_VALID = "391417773"
SAMPLE_SIZE = 2000


def sample_references():
    source = random.Random(20240601)
    return [new_reference(source) for _ in range(SAMPLE_SIZE)]


def test_damm_table_is_latin_square_with_zero_diagonal():
    table = references._DAMM_TABLE
    digits = set(range(10))
    assert all(set(row) == digits for row in table)
    assert all({row[column] for row in table} == digits for column in range(10))
    assert all(table[digit][digit] == 0 for digit in range(10))


def test_damm_table_is_weakly_totally_anti_symmetric():
    table = references._DAMM_TABLE
    violations = [
        (c, x, y)
        for c in range(10)
        for x in range(10)
        for y in range(10)
        if x != y and table[table[c][x]][y] == table[table[c][y]][x]
    ]
    assert violations == []


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("572", "4"),
        ("00572", "4"),
        ("5724", "0"),
        ("0", "0"),
        ("48219305", "8"),
        ("39141777", "3"),
    ],
)
def test_damm_check_digit_known_vectors(digits, expected):
    assert damm_check_digit(digits) == expected


@pytest.mark.parametrize("digits", ["", "12a", "12 3", "-12", "١٢٣", "１２３"])
def test_damm_check_digit_rejects_non_digits(digits):
    with pytest.raises(ValueError, match="ASCII digits"):
        damm_check_digit(digits)


def test_appended_check_digit_makes_checksum_zero():
    source = random.Random(7)
    bodies = ["".join(source.choices(string.digits, k=8)) for _ in range(SAMPLE_SIZE)]
    failures = [body for body in bodies if damm_check_digit(body + damm_check_digit(body)) != "0"]
    assert failures == []


def test_single_digit_errors_are_detected():
    undetected = []
    for reference in sample_references():
        for position in range(len(reference)):
            for digit in string.digits:
                if digit == reference[position]:
                    continue
                typo = reference[:position] + digit + reference[position + 1 :]
                if is_valid_reference(typo):
                    undetected.append(typo)
    assert undetected == []


def test_adjacent_transpositions_are_detected():
    undetected = []
    for reference in sample_references():
        for position in range(len(reference) - 1):
            left, right = reference[position], reference[position + 1]
            if left == right:
                continue
            swapped = reference[:position] + right + left + reference[position + 2 :]
            if is_valid_reference(swapped):
                undetected.append(swapped)
    assert undetected == []


@pytest.mark.parametrize("digits", [VALID, OTHER_VALID, "000000000"])
def test_is_valid_reference_accepts_valid(digits):
    assert is_valid_reference(digits)


@pytest.mark.parametrize(
    "digits",
    ["482193057", "5724", "4821930588", "", "482-193-058", "48219305a", "４８２１９３０５８"],
)
def test_is_valid_reference_rejects_invalid(digits):
    assert not is_valid_reference(digits)


def test_new_reference_shape_and_validity():
    drawn = sample_references()
    assert all(len(reference) == 9 for reference in drawn)
    assert all(reference.isascii() and reference.isdigit() for reference in drawn)
    assert all(reference[0] != "0" for reference in drawn)
    assert all(is_valid_reference(reference) for reference in drawn)


def test_new_reference_uses_every_leading_digit():
    assert {reference[0] for reference in sample_references()} == set("123456789")


def test_new_reference_default_source_is_valid():
    reference = new_reference()
    assert is_valid_reference(reference)
    assert reference[0] != "0"


def test_new_reference_is_reproducible_with_seeded_source():
    assert new_reference(random.Random(3)) == new_reference(random.Random(3))


def test_format_reference_groups_of_three():
    assert format_reference(VALID) == "482-193-058"


@pytest.mark.parametrize("digits", ["48219305a", "482-193-058", "", " 482193058"])
def test_format_reference_rejects_non_digits(digits):
    with pytest.raises(ValueError, match="ASCII digits"):
        format_reference(digits)


@pytest.mark.parametrize("digits", ["48219305", "4821930588"])
def test_format_reference_rejects_wrong_length(digits):
    with pytest.raises(ValueError, match="must have 9 digits"):
        format_reference(digits)


@pytest.mark.parametrize(
    "text",
    [
        "482-193-058",
        "482 193 058",
        "482193058",
        "482.193.058",
        "  482-193-058  ",
        "482-193 058",
        "482193058#",
        " 482193058#\n",
    ],
)
def test_parse_reference_accepts_typed_forms(text):
    assert parse_reference(text) == VALID


@pytest.mark.parametrize(
    "text",
    [
        "482-193-057",
        "482193057#",
        "#482193058",
        "ref 482193058",
        "caso 482-193-058",
        "482--193-058",
        "482  193 058",
        "4821-93-058",
        "4821930588",
        "48219305",
        "482193058##",
        "",
        "   ",
    ],
)
def test_parse_reference_rejects_other_text(text):
    assert parse_reference(text) is None


def test_find_references_in_chat_message():
    text = "Hola, sobre mi caso 482-193-058 no tuve respuesta"
    assert find_references(text) == [VALID]


@pytest.mark.parametrize(
    "text",
    [
        "ref 482193058",
        "referencia: 482.193.058.",
        "protocolo #482 193 058, gracias",
        "(482-193-058)",
        "caso482193058",
    ],
)
def test_find_references_accepts_written_forms(text):
    assert find_references(text) == [VALID]


def test_find_references_two_references_in_order():
    text = f"caso {OTHER_VALID} y también el 482-193-058"
    assert find_references(text) == [OTHER_VALID, VALID]


def test_find_references_drops_repeats():
    text = f"482-193-058, {OTHER_VALID} y otra vez 482193058"
    assert find_references(text) == [VALID, OTHER_VALID]


@pytest.mark.parametrize(
    "text",
    [
        "mi número es +5215541637145",
        f"llámame al +52155{VALID}",
        f"llámame al +{VALID}",
        f"mi número es +52 1 {format_reference(VALID)}",
        f"cuenta 1{VALID}",
        f"cuenta {VALID}7",
        f"cuenta {VALID}-12",
        f"saldo 1.{VALID[:3]}.{VALID[3:6]}.{VALID[6:]}",
    ],
)
def test_find_references_ignores_digits_inside_longer_numbers(text):
    assert find_references(text) == []


def test_find_references_ignores_invalid_check_digit():
    assert find_references("sobre mi caso 482-193-057") == []


def test_find_references_rejects_double_separators():
    assert find_references("caso 482--193--058") == []

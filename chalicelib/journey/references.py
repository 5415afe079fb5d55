"""Case references: nine digits whose last is a Damm check digit, shown as 482-193-058.

Digits alone keep one reference usable when spoken, typed in a chat, sent by SMS or keyed
on a phone keypad. The Damm check digit detects every single-digit error and every
transposition of two adjacent digits.
"""

import re
import secrets
from collections.abc import Sequence
from typing import Protocol

REFERENCE_LENGTH = 9

# Damm's operation table: a weakly totally anti-symmetric quasigroup of order 10 with a zero
# diagonal, from H. Michael Damm's 2004 dissertation as printed in the Wikipedia article
# "Damm algorithm". The interim digit starts at 0 and a number is valid when it ends at 0.
_DAMM_TABLE = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

# Three groups of three digits, each pair of groups joined by at most one "-", " " or ".".
_GROUPED_DIGITS = r"([0-9]{3})[-. ]?([0-9]{3})[-. ]?([0-9]{3})"

# Keypad input from Amazon Connect may end with the "#" that terminates it.
_TYPED_REFERENCE = re.compile(_GROUPED_DIGITS + r"#?")

# Inside free text a reference must not touch other digits, directly or across one
# separator, and must not follow "+", so phone numbers and longer numbers yield nothing.
_EMBEDDED_REFERENCE = re.compile(
    r"(?<![0-9+])(?<![0-9][-. ])" + _GROUPED_DIGITS + r"(?![0-9])(?![-. ][0-9])"
)


class RandomSource(Protocol):
    """Source of random choices, such as the `secrets` module or a `random.Random`."""

    def choice(self, seq: Sequence[str]) -> str: ...


def damm_check_digit(digits: str) -> str:
    """Return the Damm check digit of digits, or raise ValueError unless they are ASCII digits."""
    _require_digits(digits)
    return str(_damm_interim(digits))


def is_valid_reference(digits: str) -> bool:
    """Return whether digits is nine ASCII digits whose last is their Damm check digit."""
    if len(digits) != REFERENCE_LENGTH or not _is_ascii_digits(digits):
        return False
    return _damm_interim(digits) == 0


def new_reference(random_source: RandomSource = secrets) -> str:
    """Return a new valid reference: eight random digits, not starting with 0, and a check digit."""
    # A leading 0 is dropped by phone keypad menus and spreadsheets, so the first digit is 1-9.
    body = random_source.choice("123456789")
    body += "".join(random_source.choice("0123456789") for _ in range(REFERENCE_LENGTH - 2))
    return body + damm_check_digit(body)


def format_reference(digits: str) -> str:
    """Return nine digits as three groups joined by "-", or raise ValueError for other input."""
    _require_digits(digits)
    if len(digits) != REFERENCE_LENGTH:
        raise ValueError(f"reference must have {REFERENCE_LENGTH} digits, got {len(digits)} digits")
    return f"{digits[0:3]}-{digits[3:6]}-{digits[6:9]}"


def parse_reference(text: str) -> str | None:
    """Return the nine digits of one reference typed by a person, or None if it is not valid.

    Accepts surrounding whitespace, groups joined by "-", " " or ".", and a trailing "#".
    Any other text, such as "ref" or a leading "#", makes it invalid, so free text goes
    through find_references instead.
    """
    match = _TYPED_REFERENCE.fullmatch(text.strip())
    if match is None:
        return None
    digits = "".join(match.groups())
    return digits if is_valid_reference(digits) else None


def find_references(text: str) -> list[str]:
    """Return the Damm-valid references in free text, in order of appearance, without repeats."""
    found: dict[str, None] = {}
    for match in _EMBEDDED_REFERENCE.finditer(text):
        digits = "".join(match.groups())
        if is_valid_reference(digits):
            found[digits] = None
    return list(found)


def _damm_interim(digits: str) -> int:
    interim = 0
    for digit in digits:
        interim = _DAMM_TABLE[interim][int(digit)]
    return interim


def _is_ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _require_digits(digits: str) -> None:
    if not digits or not _is_ascii_digits(digits):
        raise ValueError(f"expected a non-empty string of ASCII digits 0-9, got {digits!r:.40}")

"""National identity numbers (CURP, DNI, CPF and the like) in one stored form.

People write these numbers with spaces, dashes or dots between groups and in
either case, so the stored form keeps only the letters and digits, upper-cased.
Every writer of a `national_id` identity must store it in this form.
"""

import re

# Mexico's CURP has 18 characters, Brazil's CPF 11 digits and Argentina's DNI 8.
# A limit of 32 leaves room for other countries' ids and bounds the work on untrusted input.
MAX_LENGTH = 32
MIN_LENGTH = 4

_SEPARATORS = re.compile(r"[\s.\-/]")
_STORED_FORM = re.compile(r"^[A-Z0-9]+$")


class NationalIdError(ValueError):
    """Invalid national id input, with a message that never contains the id."""


def normalize_national_id(raw: str) -> str:
    """Return the stored form of a national id; raises NationalIdError for invalid input."""
    if len(raw) > MAX_LENGTH * 2:
        raise NationalIdError(f"national id is longer than {MAX_LENGTH} characters")
    value = _SEPARATORS.sub("", raw).upper()
    if not value:
        raise NationalIdError("national id is empty")
    if not value.isascii() or not _STORED_FORM.match(value):
        raise NationalIdError(
            "national id contains an invalid character; use letters, digits, spaces, dots, "
            "dashes or slashes"
        )
    if not MIN_LENGTH <= len(value) <= MAX_LENGTH:
        raise NationalIdError(
            f"national id must have {MIN_LENGTH} to {MAX_LENGTH} letters and digits"
        )
    return value

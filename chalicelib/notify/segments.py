"""SMS segment counting as carriers do it, with the GSM 03.38 alphabet (3GPP TS 23.038).

A message written only in the GSM 7-bit default alphabet carries 160 septets in one
segment, or 153 per segment when it is split, because the concatenation header takes
the rest. One character outside the alphabet sends the whole message as UCS-2: 70 UTF-16
code units in one segment, or 67 per segment when split. Characters of the extension
table take two septets, an escape and the character. Segments are counted without
splitting that pair or a UTF-16 surrogate pair, because a split pair would arrive as two
broken characters.
"""

GSM_7 = "GSM-7"
UCS_2 = "UCS-2"

GSM_SINGLE_SEGMENT = 160
GSM_MULTIPART_SEGMENT = 153
UCS2_SINGLE_SEGMENT = 70
UCS2_MULTIPART_SEGMENT = 67

# The default alphabet in code order, 0x00 to 0x7F, eight code points per string.
# 0x1B is the escape to the extension table and is not a character of its own.
_BASIC_TABLE = (
    "@£$¥èéùì"  # 0x00
    "òÇ\nØø\rÅå"  # 0x08
    "Δ_ΦΓΛΩΠΨ"  # 0x10
    "ΣΘΞ\x1bÆæßÉ"  # 0x18
    " !\"#¤%&'"  # 0x20
    "()*+,-./"  # 0x28
    "01234567"  # 0x30
    "89:;<=>?"  # 0x38
    "¡ABCDEFG"  # 0x40
    "HIJKLMNO"  # 0x48
    "PQRSTUVW"  # 0x50
    "XYZÄÖÑÜ§"  # 0x58
    "¿abcdefg"  # 0x60
    "hijklmno"  # 0x68
    "pqrstuvw"  # 0x70
    "xyzäöñüà"  # 0x78
)

GSM_BASIC = frozenset(_BASIC_TABLE.replace("\x1b", ""))

# The extension table: each character is sent as 0x1B followed by the code shown.
GSM_EXTENSION_CODES = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
GSM_EXTENSION = frozenset(GSM_EXTENSION_CODES)


def encoding_of(text: str) -> str:
    """Return "GSM-7" when every character is in the GSM 03.38 tables, else "UCS-2"."""
    if all(character in GSM_BASIC or character in GSM_EXTENSION for character in text):
        return GSM_7
    return UCS_2


def segment_count(text: str) -> int:
    """Return the number of SMS segments that carry text. An empty text takes one segment."""
    units = _unit_sizes(text)
    if encoding_of(text) == GSM_7:
        single, multipart = GSM_SINGLE_SEGMENT, GSM_MULTIPART_SEGMENT
    else:
        single, multipart = UCS2_SINGLE_SEGMENT, UCS2_MULTIPART_SEGMENT
    if sum(units) <= single:
        return 1
    return _pack(units, multipart)


def fits_one_segment(text: str) -> bool:
    """Return whether text is sent as a single SMS segment."""
    return segment_count(text) == 1


def _unit_sizes(text: str) -> list[int]:
    """Size of each character in its encoding: septets for GSM-7, UTF-16 code units for UCS-2."""
    if encoding_of(text) == GSM_7:
        return [2 if character in GSM_EXTENSION else 1 for character in text]
    return [2 if ord(character) > 0xFFFF else 1 for character in text]


def _pack(units: list[int], capacity: int) -> int:
    """Count segments of `capacity` filled in order, never splitting one character's units."""
    segments, used = 1, 0
    for size in units:
        if used + size > capacity:
            segments, used = segments + 1, 0
        used += size
    return segments

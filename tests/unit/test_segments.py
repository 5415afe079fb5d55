import pytest

from chalicelib.notify.segments import (
    _BASIC_TABLE,
    GSM_7,
    GSM_BASIC,
    GSM_EXTENSION,
    GSM_EXTENSION_CODES,
    UCS_2,
    encoding_of,
    fits_one_segment,
    segment_count,
)

# 3GPP TS 23.038 default alphabet, written out row by row as the standard's table shows it.
BASIC_BY_CODE = {
    0x00: "@", 0x01: "£", 0x02: "$", 0x03: "¥", 0x04: "è", 0x05: "é", 0x06: "ù", 0x07: "ì",
    0x08: "ò", 0x09: "Ç", 0x0A: "\n", 0x0B: "Ø", 0x0C: "ø", 0x0D: "\r", 0x0E: "Å", 0x0F: "å",
    0x10: "Δ", 0x11: "_", 0x12: "Φ", 0x13: "Γ", 0x14: "Λ", 0x15: "Ω", 0x16: "Π", 0x17: "Ψ",
    0x18: "Σ", 0x19: "Θ", 0x1A: "Ξ", 0x1C: "Æ", 0x1D: "æ", 0x1E: "ß", 0x1F: "É",
    0x20: " ", 0x21: "!", 0x22: '"', 0x23: "#", 0x24: "¤", 0x25: "%", 0x26: "&", 0x27: "'",
    0x28: "(", 0x29: ")", 0x2A: "*", 0x2B: "+", 0x2C: ",", 0x2D: "-", 0x2E: ".", 0x2F: "/",
    0x30: "0", 0x31: "1", 0x32: "2", 0x33: "3", 0x34: "4", 0x35: "5", 0x36: "6", 0x37: "7",
    0x38: "8", 0x39: "9", 0x3A: ":", 0x3B: ";", 0x3C: "<", 0x3D: "=", 0x3E: ">", 0x3F: "?",
    0x40: "¡", 0x41: "A", 0x42: "B", 0x43: "C", 0x44: "D", 0x45: "E", 0x46: "F", 0x47: "G",
    0x48: "H", 0x49: "I", 0x4A: "J", 0x4B: "K", 0x4C: "L", 0x4D: "M", 0x4E: "N", 0x4F: "O",
    0x50: "P", 0x51: "Q", 0x52: "R", 0x53: "S", 0x54: "T", 0x55: "U", 0x56: "V", 0x57: "W",
    0x58: "X", 0x59: "Y", 0x5A: "Z", 0x5B: "Ä", 0x5C: "Ö", 0x5D: "Ñ", 0x5E: "Ü", 0x5F: "§",
    0x60: "¿", 0x61: "a", 0x62: "b", 0x63: "c", 0x64: "d", 0x65: "e", 0x66: "f", 0x67: "g",
    0x68: "h", 0x69: "i", 0x6A: "j", 0x6B: "k", 0x6C: "l", 0x6D: "m", 0x6E: "n", 0x6F: "o",
    0x70: "p", 0x71: "q", 0x72: "r", 0x73: "s", 0x74: "t", 0x75: "u", 0x76: "v", 0x77: "w",
    0x78: "x", 0x79: "y", 0x7A: "z", 0x7B: "ä", 0x7C: "ö", 0x7D: "ñ", 0x7E: "ü", 0x7F: "à",
}  # fmt: skip

EXTENSION_BY_CODE = {
    0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\",
    0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€",
}  # fmt: skip

# Characters a Spanish, Portuguese or French text is likely to contain.
IN_GSM_7 = [*"éñüÑÜ¿¡àèùìòÇØøÅåÆæßÉÄÖäö", *"ΔΦΓΛΩΠΨΣΘΞ"]
NOT_IN_GSM_7 = [*"áíóúçÁÍÓÚãõâêôÂÊÔÃÕœ`", "😀", "“", "”", "’", "–", "\t"]


def test_basic_table_has_127_characters_and_escape():
    assert len(_BASIC_TABLE) == 128
    assert _BASIC_TABLE[0x1B] == "\x1b"
    assert len(GSM_BASIC) == 127


@pytest.mark.parametrize(("code", "character"), sorted(BASIC_BY_CODE.items()))
def test_basic_table_position(code, character):
    assert _BASIC_TABLE[code] == character


@pytest.mark.parametrize(("code", "character"), sorted(EXTENSION_BY_CODE.items()))
def test_extension_table_code(code, character):
    assert GSM_EXTENSION_CODES[character] == code


def test_extension_table_has_ten_characters():
    assert frozenset(EXTENSION_BY_CODE.values()) == GSM_EXTENSION


@pytest.mark.parametrize("character", sorted(BASIC_BY_CODE.values()))
def test_basic_character_is_one_septet(character):
    assert encoding_of(character) == GSM_7
    assert segment_count(character * 160) == 1
    assert segment_count(character * 161) == 2


@pytest.mark.parametrize("character", IN_GSM_7)
def test_listed_character_is_gsm_7(character):
    assert encoding_of(f"Hola {character}") == GSM_7


@pytest.mark.parametrize("character", NOT_IN_GSM_7)
def test_listed_character_forces_ucs_2(character):
    assert encoding_of(f"Hola {character}") == UCS_2


@pytest.mark.parametrize("character", sorted(EXTENSION_BY_CODE.values()))
def test_extension_character_is_two_septets(character):
    assert encoding_of(character) == GSM_7
    assert segment_count("a" * 158 + character) == 1
    assert segment_count("a" * 159 + character) == 2


def test_escape_character_itself_is_not_gsm_7():
    assert encoding_of("\x1b") == UCS_2


@pytest.mark.parametrize(
    ("length", "segments"),
    [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm_7_segment_count(length, segments):
    assert segment_count("a" * length) == segments


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs_2_segment_count(length, segments):
    assert segment_count("á" * length) == segments


def test_escape_pair_is_not_split_across_segments():
    # 306 septets would fill two parts of 153, but "€" cannot start at septet 153.
    text = "a" * 152 + "€" + "a" * 152
    assert segment_count(text) == 3


def test_escape_pair_that_fits_stays_in_its_segment():
    assert segment_count("a" * 151 + "€" + "a" * 153) == 2


@pytest.mark.parametrize(("count", "segments"), [(1, 1), (35, 1), (36, 2), (66, 2), (67, 3)])
def test_emoji_is_two_utf16_units(count, segments):
    assert segment_count("😀" * count) == segments


def test_surrogate_pair_is_not_split_across_segments():
    # 134 code units would fill two parts of 67, but the emoji cannot start at unit 67.
    text = "á" * 66 + "😀" + "á" * 66
    assert segment_count(text) == 3


def test_one_ucs_2_character_switches_whole_message():
    text = "a" * 100 + "ó"
    assert encoding_of(text) == UCS_2
    assert segment_count(text) == 2


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("", True),
        ("a" * 160, True),
        ("a" * 161, False),
        ("€" * 80, True),
        ("€" * 81, False),
        ("ó" * 70, True),
        ("ó" * 71, False),
        ("Su caso 482-193-058 está en revisión.", True),
    ],
)
def test_fits_one_segment(text, fits):
    assert fits_one_segment(text) is fits

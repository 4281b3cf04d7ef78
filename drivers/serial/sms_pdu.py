"""SMS-SUBMIT PDUs (3GPP TS 23.040) in UCS2, split into concatenated parts when long.

Why PDU mode and not text mode: text mode with ``AT+CSCS="UCS2"`` carries Chinese, but a
text longer than one message (70 UCS2 characters) can only be split into parts the
handset joins again with a User Data Header (IEI 0x00, 8-bit reference), which text mode
cannot send. So every message goes out as a PDU with data coding scheme 0x08 (UCS2):
70 UTF-16 code units in a single message, 67 per part with the 6-octet UDH. Characters
outside the BMP take two code units and are never split between parts.

Pure functions, no I/O: the modem (drivers/serial/modem.py) and its simulator
(drivers/serial/simulator/modem_sim.py) share them, so encoding and decoding are tested
against each other and against a known PDU from the specification's examples.
"""

from __future__ import annotations

from dataclasses import dataclass

SINGLE_UNITS = 70  # UTF-16 code units in one UCS2 message (140 octets)
PART_UNITS = 67  # with a 6-octet concatenation header
MAX_PARTS = 255
DCS_UCS2 = 0x08


class PduError(ValueError):
    """A PDU that does not parse, or a number or text that cannot be encoded."""


@dataclass(frozen=True, slots=True)
class SubmitPdu:
    """One part as it goes to ``AT+CMGS``: hex text and the TPDU length it announces."""

    hex: str
    tpdu_length: int  # octets after the (empty) SMSC field, what AT+CMGS=<n> expects


@dataclass(frozen=True, slots=True)
class DecodedPdu:
    number: str
    text: str
    ref: int | None = None
    total: int = 1
    index: int = 1


def _utf16_units(text: str) -> list[bytes]:
    """The text as UTF-16BE, one item per character (2 or 4 octets)."""
    return [ch.encode("utf-16-be") for ch in text]


def split_units(text: str) -> list[bytes]:
    """UTF-16BE payloads of the parts ``text`` needs (one when it fits in 70 units)."""
    chars = _utf16_units(text)
    if sum(len(c) for c in chars) <= SINGLE_UNITS * 2:
        return [b"".join(chars)]
    parts: list[bytes] = []
    current = b""
    for c in chars:
        if len(current) + len(c) > PART_UNITS * 2:
            parts.append(current)
            current = b""
        current += c
    if current:
        parts.append(current)
    if len(parts) > MAX_PARTS:
        raise PduError(f"text needs {len(parts)} parts; at most {MAX_PARTS}")
    return parts


def _address(number: str) -> bytes:
    digits = number.removeprefix("+")
    if not digits.isdigit() or not 3 <= len(digits) <= 20:
        raise PduError(f"not a phone number: {number!r}")
    kind = 0x91 if number.startswith("+") else 0x81  # international / unknown, ISDN plan
    padded = digits + ("F" if len(digits) % 2 else "")
    swapped = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
    return bytes([len(digits), kind]) + bytes.fromhex(swapped)


def encode_submit(number: str, text: str, ref: int) -> list[SubmitPdu]:
    """The PDUs of ``text`` to ``number``; ``ref`` (0..255) ties the parts together."""
    parts = split_units(text)
    out: list[SubmitPdu] = []
    for i, payload in enumerate(parts, start=1):
        if len(parts) > 1:
            udh = bytes([0x05, 0x00, 0x03, ref & 0xFF, len(parts), i])
            first, user_data = 0x41, udh + payload  # SMS-SUBMIT with UDHI
        else:
            first, user_data = 0x01, payload
        tpdu = (
            bytes([first, 0x00])  # first octet, message reference (the modem sets it)
            + _address(number)
            + bytes([0x00, DCS_UCS2, len(user_data)])  # PID, DCS, UDL (octets for UCS2)
            + user_data
        )
        out.append(SubmitPdu(hex="00" + tpdu.hex().upper(), tpdu_length=len(tpdu)))
    return out


def _read_address(data: bytes, pos: int) -> tuple[str, int]:
    n_digits, kind = data[pos], data[pos + 1]
    n_octets = (n_digits + 1) // 2
    raw = data[pos + 2 : pos + 2 + n_octets].hex().upper()
    digits = "".join(raw[i + 1] + raw[i] for i in range(0, len(raw), 2))[:n_digits]
    return ("+" if kind == 0x91 else "") + digits, pos + 2 + n_octets


def decode_submit(hex_text: str) -> DecodedPdu:
    """Parse an SMS-SUBMIT PDU as ``encode_submit`` writes it (the simulator's side)."""
    try:
        data = bytes.fromhex(hex_text.strip())
        pos = 1 + data[0]  # skip the SMSC field
        first = data[pos]
        if first & 0x03 != 0x01:
            raise PduError("not an SMS-SUBMIT")
        number, pos = _read_address(data, pos + 2)
        dcs = data[pos + 1]
        vpf = (first >> 3) & 0x03
        pos += 2 + {0: 0, 2: 1}.get(vpf, 7)
        udl = data[pos]
        user_data = data[pos + 1 : pos + 1 + udl]
    except (IndexError, ValueError) as exc:
        raise PduError(f"malformed PDU: {exc}") from None
    if dcs != DCS_UCS2:
        raise PduError(f"data coding scheme {dcs:#04x} is not UCS2")
    ref, total, index = None, 1, 1
    if first & 0x40:
        hlen = user_data[0]
        header, user_data = user_data[1 : 1 + hlen], user_data[1 + hlen :]
        if len(header) >= 5 and header[0] == 0x00:
            ref, total, index = header[2], header[3], header[4]
    return DecodedPdu(number, user_data.decode("utf-16-be"), ref, total, index)

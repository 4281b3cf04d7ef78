"""What can go wrong on a serial port or in a frame, without importing pyserial."""

from __future__ import annotations


class PortUnavailableError(Exception):
    """The port cannot be opened or went away (unplugged, busy): the driver restarts."""


class CodecError(ValueError):
    """A frame handed to ``decode``/``encode`` does not fit the codec.

    ``feed`` never raises it: bad bytes there are counted and skipped. ``decode`` raises
    it only for a frame that ``feed`` did not produce (wrong header, length or checksum).
    """

"""What can go wrong on one read, as the pure scheduler sees it (no pymodbus here)."""

from __future__ import annotations


class ReadError(Exception):
    """A read did not yield values. ``kind`` names the counter it increments."""

    kind = "error"


class NoResponseError(ReadError):
    """The device did not answer within the per-request timeout."""

    kind = "timeout"


class ExceptionReplyError(ReadError):
    """The device answered with a Modbus exception (e.g. 2 illegal address, 4 failure)."""

    kind = "exception"

    def __init__(self, code: int) -> None:
        super().__init__(f"Modbus exception code {code}")
        self.code = code


class MalformedReplyError(ReadError):
    """A reply arrived but did not fit the request (garbage, wrong length, wrong ids)."""

    kind = "malformed"


class BusUnavailableError(Exception):
    """The bus itself is unusable (port gone, TCP refused): the driver must restart."""

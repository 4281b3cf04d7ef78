"""Is the wall clock disciplined by NTP? Probed through adjtimex(2) via ctypes.

Kept out of agent/events.py so the event base layer stays pure Python (stdlib data
handling only); the composition root hands :func:`clock_is_synchronised` to the outbox.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

_TIME_ERROR = 5
_CLOCK_RECHECK_S = 5.0
_clock_cache: tuple[float, bool] | None = None


@functools.lru_cache(maxsize=1)
def _adjtimex() -> Any:
    """A call of adjtimex(2) that changes nothing; ctypes is imported on the first probe,
    not with the outbox at start-up (issue 19 item 2)."""
    import ctypes

    class Timex(ctypes.Structure):
        # struct timex is 208 bytes on 64-bit Linux; only ``modes`` (first) is set, to 0.
        _fields_ = [("modes", ctypes.c_uint), ("_rest", ctypes.c_byte * 204)]

    libc = ctypes.CDLL(None, use_errno=True)
    return lambda: int(libc.adjtimex(ctypes.byref(Timex())))


def _kernel_says_synchronised() -> bool:
    # systemd-timesyncd's flag file works even where the unit's ProtectClock= forbids
    # adjtimex(2).
    if os.path.exists("/run/systemd/timesync/synchronized"):  # noqa: PTH110
        return True
    try:
        state = int(_adjtimex()())
    except (OSError, AttributeError):
        return False
    return state not in (-1, _TIME_ERROR)


def clock_is_synchronised() -> bool:
    """Whether the wall clock is disciplined by NTP (checked at most every 5 s).

    A Raspberry Pi has no RTC: until NTP syncs, its clock may be hours or years off, and
    every event says so. Where we cannot tell, we say "unsynchronised".
    """
    global _clock_cache  # a tiny cache of a slow system query
    if os.environ.get("EDGE_AGENT_ASSUME_CLOCK_SYNC") == "1":
        return True
    now = time.monotonic()
    if _clock_cache is None or now - _clock_cache[0] > _CLOCK_RECHECK_S:
        _clock_cache = (now, _kernel_says_synchronised())
    return _clock_cache[1]

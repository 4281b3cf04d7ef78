"""A message the broker answers by dropping the connection: found, sent alone, set aside.

A broker refuses a publish it will not take with a negative PUBACK (MQTT v5 §3.4.2.1),
and the forwarder dead-letters that row. Some do not: Debian's Mosquitto 2.0.11 with
``max_queued_messages 0`` sends the PUBACK 0x87 of an ACL-denied publish and closes the
socket before the client reads it, some brokers drop a client for an unauthorised
topic, and a content-inspecting firewall resets the connection on a payload it
dislikes. The row stays pending and is sent again, early, after every reconnect, so
the uplink stalls for good: nothing is lost, and nothing, not even an entrapment alarm,
is delivered.

So: when the same row is the oldest unacknowledged publish at ``strikes`` connection
losses in a row, the forwarder goes carefully: one message on the wire at a time, for
twice as many outcomes as were on the wire at the last loss. If the connection is lost
twice in a row while the same message is alone on the wire (the next connection sends
it first, alone, so a poison message meets this at once, while a link that resets at
random rarely hits the same message twice), that message is convicted: the forwarder
dead-letters it (kept, with a ``gateway.forward.rejected`` alarm; ``edge-agent buffer
requeue-dead`` sends it again) and the rest of the outbox flows at full speed again.
A loss because a PUBACK never came (the publish deadline, a keepalive timeout: a broker
or link gone silent) or one the broker explains (shutting down, busy, session taken
over, administrative action, …: ``EXPLAINED``) says nothing about any message and is
not counted. An outcome for the tracked row
outside careful mode (it was delivered or refused after all) ends the watch.

Pure: the forwarder reports connection losses and outcomes; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Collection

STRIKES = 3
# DISCONNECT reason codes (MQTT v5 §3.14.2.1) that say why without blaming a message:
# normal, with will, server busy, shutting down, keepalive timeout, session taken over,
# receive maximum, quota, administrative action, use another server, server moved,
# connection rate, maximum connect time. A socket simply closed is 0x80 (paho's
# "Unspecified error"), which is what a poison message gets.
EXPLAINED = frozenset(
    {0x00, 0x04, 0x89, 0x8B, 0x8D, 0x8E, 0x93, 0x97, 0x98, 0x9C, 0x9D, 0x9F, 0xA0}
)


class PoisonWatch:
    """Tracks the oldest unacknowledged row across connection losses."""

    def __init__(self, strikes: int = STRIKES) -> None:
        self.strikes = strikes
        self._row: int | None = None  # oldest open row at the last counted losses
        self._losses = 0
        self._careful_left = 0  # outcomes still to see one message at a time
        self._alone: int | None = None  # alone on the wire at the last careful loss

    @property
    def careful(self) -> bool:
        """Send one message at a time (a suspect is among the next ones)."""
        return self._careful_left > 0

    @property
    def tracked(self) -> int | None:
        return self._row

    def lost(self, oldest: int | None, on_wire: int, *, silent: bool) -> int | None:
        """A connection was lost with ``oldest`` the oldest of ``on_wire`` open publishes;
        the row to set aside, when convicted. ``silent``: lost because no PUBACK came in
        time, which is not a message's doing."""
        if silent or oldest is None:
            return None
        if self.careful:
            if on_wire != 1:
                return None
            if oldest == self._alone:
                self.clear()
                return oldest
            self._alone = oldest
            self._careful_left = max(self._careful_left, 2)
            return None
        if oldest == self._row:
            self._losses += 1
        else:
            self._row, self._losses = oldest, 1
        if self._losses >= self.strikes:
            self._careful_left = max(2, 2 * on_wire)
        return None

    def settled(self, row_ids: Collection[int]) -> None:
        """Outcomes (a PUBACK, a refusal) arrived for ``row_ids``."""
        if self.careful:
            self._careful_left -= len(row_ids)
            if self._careful_left <= 0:
                self.clear()  # went through carefully with no loss: a flaky link, not a row
        elif self._row is not None and self._row in row_ids:
            self.clear()
        if self._alone is not None and self._alone in row_ids:
            self._alone = None  # it had an outcome after all: start again

    def clear(self) -> None:
        self._row, self._losses, self._careful_left, self._alone = None, 0, 0, None

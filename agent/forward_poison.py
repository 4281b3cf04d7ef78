"""A message the broker answers by dropping the connection: found, sent alone, set aside.

A broker refuses a publish it will not take with a negative PUBACK (MQTT v5 §3.4.2.1),
and the forwarder dead-letters that row. Some do not: Debian's Mosquitto 2.0.11 with
``max_queued_messages 0`` sends the PUBACK 0x87 of an ACL-denied publish and closes the
socket before the client reads it, some brokers drop a client for an unauthorised
topic, and a content-inspecting firewall resets the connection on a payload it
dislikes. The row stays pending and is sent again, early, after every reconnect, so
the uplink stalls for good: nothing is lost, and nothing, not even an entrapment alarm,
is delivered.

So: after ``strikes`` connection losses in a row, each before as many outcomes as were
on the wire at the loss before it (the same row oldest every time, or a crawl of a row or
two per connection, as through a firewall that passes what precedes the poison and no
more), the forwarder goes carefully: one message on the wire at a time, for twice as
many outcomes as were on the wire at the last loss. If the connection is lost twice in a
row while the same message is alone on the wire (the next connection sends it first,
alone, so a poison message meets this at once, while a link that resets at random rarely
hits the same message twice), that message is convicted: the forwarder dead-letters it
(kept, with a ``gateway.forward.rejected`` alarm; ``edge-agent buffer requeue-dead``
sends it again) and the rest of the outbox flows at full speed again. A loss because a
PUBACK never came (the publish deadline, a keepalive timeout: a broker or link gone
silent) or one the broker explains (shutting down, busy, session taken over,
administrative action, …: ``EXPLAINED``) says nothing about any message and is not
counted. A window's worth of outcomes after a loss, outside careful mode, ends the
series: a link that resets at random gets that far between its resets.

A broker that drops the connection for one message usually does so for its whole topic
(an ACL without the gateway's ``snapshots/#``; a category the platform forgot). So a
conviction also marks the message's topic family (``family``: ``events/elevator``,
``telemetry/vitals``, ``snapshots``) suspect: its next messages go alone on the wire, and
one loss with a suspect alone convicts it, one reconnect instead of five per message; an
alarm still needs two losses alone (life-safety first: a random reset must not cost an
entrapment alarm). The first outcome for a suspect (a PUBACK, a refusal: the broker
answers on that topic now) clears the family. Nothing is set aside unsent: each suspect
meets the broker alone. "Alone" counts the outbox's publishes: a command reply or a
status message may share the wire (they are rare, and they are never set aside).

Pure: the forwarder reports connection losses and outcomes; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

STRIKES = 3
# Outcomes between two losses that still count as "no progress": a firewall that passes
# what precedes the poison lets a row or two through per connection; a slow link that
# resets at random gets more than this through between its resets.
CRAWL = 3
MAX_FAMILIES = 32  # suspect topic families kept (a gateway publishes on a dozen or so)
# DISCONNECT reason codes (MQTT v5 §3.14.2.1) that say why without blaming a message:
# normal, with will, server busy, shutting down, keepalive timeout, session taken over,
# receive maximum, quota, administrative action, use another server, server moved,
# connection rate, maximum connect time. A socket simply closed is 0x80 (paho's
# "Unspecified error"), which is what a poison message gets.
EXPLAINED = frozenset(
    {0x00, 0x04, 0x89, 0x8B, 0x8D, 0x8E, 0x93, 0x97, 0x98, 0x9C, 0x9D, 0x9F, 0xA0}
)


def family(topic: str) -> str:
    """The topic family an ACL would name: ``snapshots`` for every snapshot (each has
    its event id in the topic), else the first two levels (``events/elevator``)."""
    first, _, rest = topic.partition("/")
    if first == "snapshots" or not rest:
        return first
    return f"{first}/{rest.partition('/')[0]}"


class PoisonWatch:
    """Tracks the oldest unacknowledged row across connection losses."""

    def __init__(self, strikes: int = STRIKES) -> None:
        self.strikes = strikes
        self._row: int | None = None  # oldest open row at the last counted loss
        self._losses = 0  # losses in the current series
        self._crawl = 0  # outcomes that still make the next loss a strike
        self._careful_left = 0  # outcomes still to see one message at a time
        self._alone: int | None = None  # alone on the wire at the last careful loss
        self._sent: tuple[int, str] | None = None  # the last row sent alone, its family
        self._suspect_out: _Suspect | None = None  # a suspect alone on the wire
        self.families: dict[str, None] = {}  # suspect families, oldest first
        self._why = ""

    @property
    def careful(self) -> bool:
        """Send one message at a time (a suspect is among the next ones, or on the wire)."""
        return self._careful_left > 0 or self._suspect_out is not None

    @property
    def watching(self) -> bool:
        """Whether outcomes matter to the watch (the forwarder skips ``settled`` if not)."""
        return self._row is not None or self.careful

    @property
    def tracked(self) -> int | None:
        return self._row

    def suspect(self, topic: str) -> bool:
        """Whether ``topic`` must go alone on the wire (its family had a conviction)."""
        return bool(self.families) and family(topic) in self.families

    def sending(self, row: int, topic: str, *, alarm: bool = False) -> None:
        """The forwarder has put ``row`` alone on the wire (careful mode, or a suspect)."""
        fam = family(topic)
        self._sent = (row, fam)
        if fam in self.families:
            self._suspect_out = _Suspect(row, fam, alarm)

    def ended(self) -> None:
        """The connection ended: nothing is on the wire any more."""
        self._suspect_out = None

    def lost(self, oldest: int | None, on_wire: int, *, silent: bool) -> int | None:
        """A connection was lost with ``oldest`` the oldest of ``on_wire`` open publishes;
        the row to set aside, when convicted. ``silent``: lost because no PUBACK came in
        time, which is not a message's doing."""
        suspect = self._suspect_out
        self.ended()
        if silent or oldest is None:
            return None
        if suspect is not None and on_wire == 1 and oldest == suspect.row:
            # An alarm is never set aside on one loss: it needs two alone, as any row.
            if not suspect.alarm or oldest == self._alone:
                self._convicted(oldest, suspect)
                return oldest
            self._alone = oldest
            return None
        if self._careful_left > 0:
            if on_wire != 1:
                return None
            if oldest == self._alone:
                self._convicted(oldest, None)
                return oldest
            self._alone = oldest
            self._careful_left = max(self._careful_left, 2)
            return None
        # A strike: no outcome, or a crawl of a row or two, since the last loss.
        self._losses = self._losses + 1 if self._row is not None and self._crawl > 0 else 1
        self._row, self._crawl = oldest, min(on_wire, CRAWL)
        if self._losses >= self.strikes:
            self._careful_left = max(2, 2 * on_wire)
        return None

    def settled(self, row_ids: Collection[int]) -> None:
        """Outcomes (a PUBACK, a refusal) arrived for ``row_ids``."""
        if self._careful_left > 0:
            self._careful_left -= len(row_ids)
            if self._careful_left <= 0:
                self.clear()  # went through carefully with no loss: a flaky link, not a row
        elif self._row is not None:
            self._crawl -= len(row_ids)
            if self._crawl <= 0:
                self.clear()  # more than a crawl went through: the series is over
        if self._alone is not None and self._alone in row_ids:
            self._alone = None  # it had an outcome after all: start again
        if self._suspect_out is not None and self._suspect_out.row in row_ids:
            # The broker answered on that family: it no longer drops the connection.
            self.families.pop(self._suspect_out.family, None)
            self._suspect_out = None

    def _convicted(self, row: int, suspect: _Suspect | None) -> None:
        fam = self._sent[1] if self._sent is not None and self._sent[0] == row else None
        if suspect is None:
            self._why = f"sent alone twice, after {self.strikes} connection losses in a row"
        else:
            twice = "an alarm sent alone twice" if suspect.alarm else "sent alone"
            self._why = f"{twice}, after another publish on {fam} was set aside for the same"
        if fam is not None:
            self.families.pop(fam, None)
            self.families[fam] = None  # the newest last
            while len(self.families) > MAX_FAMILIES:
                del self.families[next(iter(self.families))]
        if suspect is not None and self._row != row:
            self._alone = None
            return  # the three-strike count is about another row: it goes on
        self.clear()

    def reason(self) -> str:
        """Why the last convicted row was set aside (the dead letter's reason)."""
        return (
            "the broker closed the connection instead of acknowledging this publish"
            f" ({self._why})"
        )

    def clear(self) -> None:
        """End the three-strike watch (suspect families stay until they are answered)."""
        self._row, self._losses, self._careful_left, self._alone = None, 0, 0, None
        self._crawl = 0


@dataclass(frozen=True, slots=True)
class _Suspect:
    row: int
    family: str
    alarm: bool

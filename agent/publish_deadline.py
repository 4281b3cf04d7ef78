"""The deadline of each publish attempt, and the ledger of how every attempt ended.

An attempt is one QoS 1 PUBLISH of an outbox row (or of the status message) on one
connection, from the moment it is handed to paho inside the window until its PUBACK,
its deadline, or the end of its connection. The rule (issue 16; anchors-reliability.md
§7 item 9, "each publish attempt ends within its deadline"):

* An attempt's deadline is ``mqtt.timeout_s`` after it became the oldest unacknowledged
  attempt on its connection (after it was sent, or after the attempt ahead of it ended,
  whichever is later). TCP and the broker keep order, so the oldest attempt is the next
  one the broker owes us a PUBACK for: a broker that acknowledges slowly but steadily
  never trips the rule (a fixed "sent + timeout" would, with 64 in flight on a slow
  link, and then again after every reconnect), while a PUBACK that never comes, for one
  message or for all of them, ends the attempt within ``timeout_s``. Every attempt
  therefore ends at the latest ``window * timeout_s`` after it was sent.
* An attempt that reaches its deadline ends there: the connection is given up and every
  other attempt on it ends with it. Nothing leaves the outbox without a PUBACK, so the
  rows are sent again on the next connection (requeued, never lost).

The ledger counts the outcomes and keeps how late any attempt ended after its deadline
and the peak numbers on the wire and held in memory; its summary line is logged at
shutdown (``publish attempts: …``), which is what the reliability tests read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AttemptLedger:
    deadline_s: float
    started: int = 0
    acknowledged: int = 0  # a PUBACK came, positive or negative
    expired: int = 0  # reached their deadline: the connection was given up
    with_connection: int = 0  # ended with their connection (lost, given up, shutdown)
    late_max_s: float = 0.0  # the latest any attempt ended after its deadline
    wire_peak: int = 0  # attempts awaiting a PUBACK at once (bounded by mqtt.inflight)
    held_peak: int = 0  # rows read from the outbox and not yet settled (the forwarder's)

    def late(self, by_s: float) -> None:
        if by_s > self.late_max_s:
            self.late_max_s = by_s

    @property
    def open(self) -> int:
        return self.started - self.acknowledged - self.expired - self.with_connection

    def summary(self) -> str:
        return (
            f"publish attempts: {self.started} started, {self.acknowledged} acknowledged, "
            f"{self.expired} ended at their deadline, {self.with_connection} ended with "
            f"their connection, {self.open} open; latest end {self.late_max_s * 1000:.0f} ms "
            f"after a deadline of {self.deadline_s:g} s; peak {self.wire_peak} on the wire, "
            f"{self.held_peak} held"
        )

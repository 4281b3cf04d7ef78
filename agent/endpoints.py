"""Which broker the forwarder dials next: ``mqtt.host:port``, then ``mqtt.failover`` in turn.

Issue 16 item 2 (broker failover). Round-robin, with the reconnect backoff
(agent/backoff.py) between full rounds rather than per broker: when one broker dies the
next is dialled at once, so a dead broker in the list costs one refused connect, not a
backoff delay. Only when every broker failed since the last connection that came up (or
since the last backoff) does the forwarder wait. A broker that accepts and drops us at
once therefore still backs off, every N attempts for N brokers. TLS settings,
credentials, the birth message and the last will are the same for every broker; they go
to whichever is current. With no ``failover`` list this is the single-broker behaviour
the forwarder always had: every failure backs off.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Endpoints:
    """The brokers, the one to dial now, and how many failed in this round."""

    brokers: list[tuple[str, int]]
    index: int = 0
    failed_in_round: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not self.brokers:
            raise ValueError("no broker to connect to")

    @property
    def current(self) -> tuple[str, int]:
        return self.brokers[self.index]

    def __str__(self) -> str:
        host, port = self.current
        return f"{host}:{port}"

    def connected(self) -> None:
        """The current broker came up: the next failure starts a new round."""
        self.failed_in_round = 0

    def failed(self) -> bool:
        """The current broker failed or dropped us: move to the next one. True when the
        round is complete and the caller should back off before dialling again."""
        self.failed_in_round += 1
        self.index = (self.index + 1) % len(self.brokers)
        if self.failed_in_round >= len(self.brokers):
            self.failed_in_round = 0
            return True
        return False

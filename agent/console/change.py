"""The ``gateway.console.change`` event: every login, logout and saved change in the console.

Its ``data`` is :class:`ConsoleChange` (``model_dump(mode="json")``), so the event contract
can be generated from the model. No password, hash, cookie or CSRF token is ever in it; the
client is the peer address the request came from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agent.events import Event, EventData, Priority, Severity

CONSOLE_CHANGE = "gateway.console.change"
Outcome = Literal["ok", "refused", "applied", "rolled_back", "invalid"]


class ConsoleChange(EventData):
    """What happened in the console, by whom (peer address) and with what outcome."""

    action: Literal["login", "logout", "zones.save"]
    outcome: Outcome
    client: str = Field(description="Peer address of the browser.")
    target: str = Field(default="", description="What was changed, e.g. 'camera:lobby-cam'.")
    detail: str = Field(default="", description="Why refused or rolled back, in words.")
    config_sha256: str | None = Field(default=None, description="Config live afterwards.")
    previous_sha256: str | None = None


def change_event(change: ConsoleChange, source: str) -> Event:
    bad = change.outcome in ("refused", "rolled_back", "invalid")
    return Event(
        type=CONSOLE_CHANGE,
        subject=change.target or "console",
        data=change.model_dump(mode="json"),
        priority=Priority.EVENT,
        severity=Severity.WARNING if bad else Severity.INFO,
        source=source,
    )

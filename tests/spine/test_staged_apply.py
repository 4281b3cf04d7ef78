"""Staged apply: validated like ``config check``, swapped atomically, rolled back when unhealthy.

Real drivers under the real supervisor: ``synthetic`` entries are the healthy ones, a
``serial`` entry on a port that does not exist is the one that breaks (it raises at open,
the supervisor marks it failing).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from pathlib import Path

import pytest

from agent.config import HealthConfig, load_config
from agent.driver import DriverConfigBase, DriverContext
from agent.registry import create_driver
from agent.staged_apply import ApplyResult, StagedApply
from agent.supervisor import Supervisor
from tests.sinks import ListSink

BASE = """\
gateway: {id: gw-apply}
mqtt: {host: 127.0.0.1, insecure: true}
buffer: {path: %(dir)s/outbox.db}
supervisor: {restart_base_s: 0.05, restart_max_s: 0.2, healthy_after_s: 1}
drivers:
  - {name: keep, kind: synthetic, count: 0, rate_hz: 5}
  - {name: tick, kind: synthetic, count: 0, rate_hz: %(rate)s}
"""

BROKEN = """\
  - name: band
    kind: serial
    port: %(dir)s/no-such-tty
    codec: bracelet
    devices: [{id: band-1, resident: r-0001, frame_id: "0000ABCD"}]
"""


def _doc(tmp: Path, rate: float = 5, extra: str = "") -> str:
    return BASE % {"dir": tmp, "rate": rate} + (extra % {"dir": tmp} if extra else "")


async def _with_agent(tmp: Path, body):  # type: ignore[no-untyped-def]
    live = tmp / "config.yaml"
    live.write_text(_doc(tmp))
    loaded = load_config(live)
    context = DriverContext(gateway_id="gw-apply", state_dir=tmp)

    def make(cfg: DriverConfigBase):  # type: ignore[no-untyped-def]
        return create_driver(cfg, context)

    sup = Supervisor(
        loaded.config.drivers,
        make,
        ListSink(),
        gateway_id="gw-apply",
        health=HealthConfig(restart_base_s=0.05, restart_max_s=0.2, healthy_after_s=1),
    )
    task = asyncio.create_task(sup.run())
    try:
        await asyncio.sleep(0)
        return await body(StagedApply(loaded, sup), sup, live)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_a_healthy_change_goes_live_and_only_the_changed_driver_restarts(tmp_path: Path) -> None:
    async def body(staged: StagedApply, sup: Supervisor, live: Path) -> ApplyResult:
        keep_task = sup._tasks["keep"]
        new = _doc(tmp_path, rate=20)
        result = await staged.apply(new, health_s=10)
        assert sup._tasks["keep"] is keep_task  # untouched
        assert sup.health["tick"].state == "running"
        assert live.read_text() == new
        assert (tmp_path / "config.yaml.previous").read_text() == _doc(tmp_path)
        assert staged.current.sha256 == hashlib.sha256(new.encode()).hexdigest()
        return result

    result = asyncio.run(_with_agent(tmp_path, body))
    assert result.ok and result.stage == "applied" and not result.rolled_back
    assert result.restarted == ("tick",)
    assert result.sha256 == hashlib.sha256(_doc(tmp_path, rate=20).encode()).hexdigest()
    assert not (tmp_path / "config.yaml.staged").exists()


def test_a_change_that_breaks_a_driver_rolls_back_on_its_own(tmp_path: Path) -> None:
    async def body(staged: StagedApply, sup: Supervisor, live: Path) -> ApplyResult:
        before = live.read_text()
        result = await staged.apply(_doc(tmp_path, extra=BROKEN), health_s=10)
        assert live.read_text() == before
        assert "band" not in sup.health and set(sup.health) == {"keep", "tick"}
        assert staged.current.sha256 == hashlib.sha256(before.encode()).hexdigest()
        return result

    result = asyncio.run(_with_agent(tmp_path, body))
    assert not result.ok and result.rolled_back and result.stage == "health"
    assert result.restarted == ("band",)
    assert "band" in result.unhealthy and "failed" in result.unhealthy["band"]
    assert result.sha256 == result.previous_sha256


@pytest.mark.parametrize(
    ("text", "stage", "needle"),
    [
        ("drivers: [}", "validate", "config.yaml:1"),
        (
            BASE.replace("rate_hz: %(rate)s", "rate_hz: -1"),
            "validate",
            "drivers[1].rate_hz",
        ),
        (BASE.replace("gw-apply", "gw-other"), "scope", "gateway"),
    ],
)
def test_invalid_or_out_of_scope_changes_are_refused_and_nothing_is_written(
    tmp_path: Path, text: str, stage: str, needle: str
) -> None:
    async def body(staged: StagedApply, sup: Supervisor, live: Path) -> ApplyResult:
        before = live.read_text()
        result = await staged.apply(text % {"dir": tmp_path, "rate": 5}, health_s=5)
        assert live.read_text() == before
        assert not (tmp_path / "config.yaml.previous").exists()
        return result

    result = asyncio.run(_with_agent(tmp_path, body))
    assert not result.ok and result.stage == stage and not result.rolled_back
    assert needle in " ".join(result.problems) + result.reason


def test_restart_driver_restarts_one_driver_in_place(tmp_path: Path) -> None:
    async def body(staged: StagedApply, sup: Supervisor, live: Path) -> None:
        keep_task, tick_task = sup._tasks["keep"], sup._tasks["tick"]
        await staged.restart_driver("tick")
        assert sup._tasks["keep"] is keep_task and sup._tasks["tick"] is not tick_task
        assert tick_task.cancelled()
        with pytest.raises(KeyError):
            await staged.restart_driver("nope")

    asyncio.run(_with_agent(tmp_path, body))

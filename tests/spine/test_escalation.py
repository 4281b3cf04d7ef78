"""Local escalation end to end: the real agent process, the modem simulator on a pty in
its own process, a pymodbus server for the siren and a real Mosquitto that is stopped
(issue 13: uplink down, SIGKILL during a send, modem faults)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.broker import Subscriber
from tests.spine.agentproc import AgentProcess, synthetic, wait_for, write_config
from tests.spine.escalation_harness import (
    NUMBER,
    ModemProcess,
    PersistentMosquitto,
    PlatformSubscriber,
    SirenBox,
    receipts_section,
    siren_bus,
    sos,
    wearables,
)

SOS_TEXT = re.compile(
    r"【紧急呼叫】临汾路小区3号楼2单元 设备band-1 于\d\d-\d\d \d\d:\d\d按下SOS，请立即上门查看。"  # noqa: RUF001
)
SMS = f"sms:{NUMBER}"


def of_type(sub: Subscriber, suffix: str) -> list[dict[str, Any]]:
    return [e for e in sub.events() if e["type"] == suffix]


def sos_ids(sub: Subscriber) -> set[str]:
    return {e["id"] for e in of_type(sub, "resident.alarm") if e["data"]["key"] == "SOS"}


def escalation_rows(db: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(conn.execute("SELECT channel, state FROM escalation ORDER BY channel"))
    finally:
        conn.close()


@pytest.fixture
def siren() -> Iterator[SirenBox]:
    box = SirenBox().start()
    yield box
    box.stop()


def test_uplink_down_sos_gives_one_sms_one_siren_write_and_all_events_arrive_later(
    tmp_path: Path, siren: SirenBox
) -> None:
    import subprocess
    import sys

    from tests.shared_data import REPO

    broker = PersistentMosquitto(tmp_path).start()
    sub = PlatformSubscriber(broker.port)
    broker.stop()  # the uplink is down before the alarm
    modem = ModemProcess(tmp_path).start()
    link = tmp_path / "wearable"
    cfg = write_config(
        tmp_path / "agent.yaml", port=broker.port, buffer=tmp_path / "outbox.db",
        drivers=[wearables(link), siren_bus(siren)], extra={"receipts": receipts_section(modem)},
    )  # fmt: skip
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    assert wait_for(lambda: "running as" in agent.log(), 60), agent.log()
    # A resident presses SOS on a bracelet: real frames on a pty (drivers/serial). Started
    # once the agent runs (its serial driver retries the port until it appears), so the
    # press, 12 s in, is not played to a port nobody has open yet.
    wearable = subprocess.Popen(
        [sys.executable, "-m", "agent", "simulate", "wearable", "--link", str(link),
         "--scenario", "sos", "--speed", "10", "--duration", "3600"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert wait_for(lambda: bool(modem.sent() and siren.siren_writes()), 90), agent.log()
        assert wait_for(lambda: len(escalation_rows(tmp_path / "outbox.db")) == 2, 30)
        assert wait_for(
            lambda: all(s == "sent" for _, s in escalation_rows(tmp_path / "outbox.db")), 30
        )
        broker.start()  # the uplink returns
        assert sub.wait(lambda s: {d["data"]["channel"] for d in
                                   of_type(s, "gateway.escalation.sent")} == {SMS, "output:siren"},
                        60), agent.log()  # fmt: skip
        assert sub.wait(lambda s: sos_ids(s), 30)
        (sms,) = modem.sent()
        assert SOS_TEXT.fullmatch(sms["text"]), sms["text"]
        assert "r0001" not in sms["text"]  # the resident's reference stays off the SMS
        assert sms["to"] == NUMBER and sms["parts"] == 1
        assert siren.siren_writes() == [[True]]
        alarm_ids = sos_ids(sub)
        sent = of_type(sub, "gateway.escalation.sent")
        assert {d["data"]["alarm_id"] for d in sent} <= alarm_ids and len(alarm_ids) == 1
        assert all(d["data"]["confirmed"] for d in sent)
    finally:
        agent.terminate()
        wearable.terminate()
        wearable.wait(10)
        modem.stop()
        sub.close()
        broker.stop()


def test_sigkill_between_the_sms_and_its_commit_sends_no_second_sms(
    tmp_path: Path,
) -> None:
    broker = PersistentMosquitto(tmp_path).start()
    sub = PlatformSubscriber(broker.port)
    # The network takes the message at once but the modem's +CMGS reply comes late: the
    # agent is killed while it waits, with the SMS already out.
    modem = ModemProcess(tmp_path, extra=["--cmgs-delay-s", "120"]).start()
    db = tmp_path / "outbox.db"
    cfg = write_config(
        tmp_path / "agent.yaml", port=broker.port, buffer=db, drivers=[sos("sos-1")],
        extra={"receipts": receipts_section(modem, outputs=False)},
    )  # fmt: skip
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        assert wait_for(lambda: len(modem.sent()) == 1, 60), agent.log()
        agent.kill()
        assert escalation_rows(db) == [(SMS, "sending")]
        agent = AgentProcess(cfg, tmp_path / "agent2.log").start()
        assert sub.wait(lambda s: of_type(s, "gateway.escalation.sent"), 60), agent.log()
        (sent,) = of_type(sub, "gateway.escalation.sent")
        assert (sent["data"]["channel"], sent["data"]["confirmed"]) == (SMS, False)
        assert escalation_rows(db) == [(SMS, "sent")]
        # The alarm is still open (no receipt): re-announced, and still not texted twice.
        n = len(of_type(sub, "synthetic.alarm"))
        assert sub.wait(lambda s: len(of_type(s, "synthetic.alarm")) >= n + 2, 30)
        assert len(modem.sent()) == 1
    finally:
        agent.terminate()
        modem.stop()
        sub.close()
        broker.stop()


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [("no-sim", "no_sim"), ("no-signal", "no_signal"), ("cms-error", "cms_error"),
     ("unplugged", "absent")],
)  # fmt: skip
def test_a_modem_fault_is_reported_once_and_retried_with_backoff(
    tmp_path: Path, scenario: str, reason: str
) -> None:
    broker = PersistentMosquitto(tmp_path).start()
    sub = PlatformSubscriber(broker.port)
    unplugged = scenario == "unplugged"
    modem = ModemProcess(tmp_path, "normal" if unplugged else scenario,
                         extra=[] if unplugged else ["--fault-for-s", "8"])  # fmt: skip
    if not unplugged:
        modem.start()
    cfg = write_config(
        tmp_path / "agent.yaml", port=broker.port, buffer=tmp_path / "outbox.db",
        drivers=[sos("sos-1"), synthetic(50, 10.0, name="telemetry")],
        extra={"receipts": receipts_section(modem, outputs=False)},
    )  # fmt: skip
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()

    def channel(s: Subscriber, state: str) -> list[dict[str, Any]]:
        events = of_type(s, "gateway.escalation.channel")
        return [e for e in events if e["data"]["state"] == state]

    try:
        assert sub.wait(lambda s: channel(s, "fault"), 60), agent.log()
        if unplugged:
            # Plugged in only after an escalation attempt failed for want of it.
            assert sub.wait(lambda s: of_type(s, "gateway.escalation.failed"), 60), agent.log()
            modem.start()
        assert sub.wait(lambda s: of_type(s, "gateway.escalation.sent"), 90), agent.log()
        assert sub.wait(lambda s: channel(s, "ok"), 30)
        (fault,) = channel(sub, "fault")
        assert (fault["data"]["channel"], fault["data"]["reason"]) == ("sms", reason)
        (failed,) = of_type(sub, "gateway.escalation.failed")
        assert (failed["data"]["channel"], failed["data"]["reason"]) == (SMS, reason)
        (sent,) = of_type(sub, "gateway.escalation.sent")
        assert sent["data"]["attempts"] >= 2 and sent["data"]["confirmed"]
        assert len(modem.sent()) == 1
        # Other drivers went on as if nothing happened.
        assert sub.wait(lambda s: len(of_type(s, "synthetic.sample")) >= 50, 30)
    finally:
        agent.terminate()
        modem.stop()
        sub.close()
        broker.stop()


def test_an_elevator_entrapment_from_the_simulator_is_texted_once_with_the_uplink_down(
    tmp_path: Path, siren: SirenBox
) -> None:
    import subprocess
    import sys

    from tests.shared_data import REPO

    sim = subprocess.Popen(
        [sys.executable, "-m", "agent", "simulate", "elevator", "--port", "0", "--unit",
         "2=entrapment-level", "--profile", "gb-monitor-box", "--speed", "10"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert sim.stdout is not None
    match = re.search(r"TCP on 127\.0\.0\.1:(\d+)", sim.stdout.readline())
    assert match
    broker = PersistentMosquitto(tmp_path).start()
    sub = PlatformSubscriber(broker.port)
    broker.stop()
    modem = ModemProcess(tmp_path).start()
    lifts = {"name": "lifts", "kind": "modbus", "port": int(match.group(1)),
             "devices": [{"id": "lift-2", "unit_id": 2, "profile": "gb-monitor-box",
                          "time_speed": 10, "poll_periods_ms": {"fast": 100}}]}  # fmt: skip
    receipts = receipts_section(modem)
    receipts["escalation"]["locations"] = {"lift-2": "7号楼1单元"}
    cfg = write_config(
        tmp_path / "agent.yaml", port=broker.port, buffer=tmp_path / "outbox.db",
        drivers=[lifts, siren_bus(siren)], extra={"receipts": receipts},
    )  # fmt: skip
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        assert wait_for(lambda: bool(modem.sent() and siren.siren_writes()), 90), agent.log()
        broker.start()

        def entrapment(s: Subscriber) -> list[str]:
            return [e["data"]["state"] for e in of_type(s, "elevator.alarm")
                    if e["data"]["key"] == "ENTRAP_LEVEL"]  # fmt: skip

        # The passenger got out (cleared): a clear is never texted.
        assert sub.wait(lambda s: "cleared" in entrapment(s), 90), agent.log()
        assert sub.wait(lambda s: len(of_type(s, "gateway.escalation.sent")) == 2, 30)
        (sms,) = modem.sent()
        assert sms["text"].startswith("【电梯困人】临汾路小区7号楼1单元 电梯lift-2 于"), sms
        assert sms["text"].endswith("发生平层困人，请立即救援。"), sms  # noqa: RUF001
        assert siren.siren_writes() == [[True]]
    finally:
        agent.terminate()
        modem.stop()
        sub.close()
        broker.stop()
        sim.terminate()
        sim.wait(10)

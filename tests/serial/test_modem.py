"""The SMS modem (drivers/serial/modem.py) against its simulator on a real pty, and the
PDU encoding both share (drivers/serial/sms_pdu.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.serial.modem import AtModem, ModemError, csq_to_dbm
from drivers.serial.simulator.modem_sim import ModemSim
from drivers.serial.simulator.runner import open_pty
from drivers.serial.sms_pdu import decode_submit, encode_submit, split_units
from tests.shared_data import REPO
from tests.spine.agentproc import wait_for

TEXT = "【电梯困人】临汾路小区3号楼2单元 电梯lift-1 于12-02 09:15发生平层困人，请立即救援。"  # noqa: RUF001


def test_a_known_pdu_from_the_specification_examples() -> None:
    # "你好" to +8613800138000 in UCS2 (the form in SIM800/EC20 application notes).
    (pdu,) = encode_submit("+8613800138000", "你好", ref=1)
    assert pdu.hex == "0001000D91683108108300F0000804" + "4F60597D"
    assert pdu.tpdu_length == len(bytes.fromhex(pdu.hex)) - 1


def test_long_text_is_split_into_joined_parts_and_never_splits_a_character() -> None:
    text = "报警" * 40 + "🚨" + "请救援" * 30  # 80 + 1 astral + 90 characters
    parts = encode_submit("13800138000", text, ref=7)
    assert len(parts) == len(split_units(text)) > 1
    decoded = [decode_submit(p.hex) for p in parts]
    assert all(d.ref == 7 and d.total == len(parts) and d.number == "13800138000" for d in decoded)
    assert "".join(d.text for d in sorted(decoded, key=lambda d: d.index)) == text
    assert all(len(p.encode("utf-16-be")) <= 134 for p in (d.text for d in decoded))


def test_signal_in_dbm() -> None:
    assert (csq_to_dbm(0), csq_to_dbm(21), csq_to_dbm(31), csq_to_dbm(99)) == (-113, -71, -51, None)


@contextlib.asynccontextmanager
async def simulated(scenario: str = "normal", **kw: float) -> AsyncIterator[tuple[ModemSim, str]]:
    master, slave, path = open_pty()
    sim = ModemSim(master, scenario, **kw)  # type: ignore[arg-type]
    task = asyncio.create_task(sim.run())
    try:
        yield sim, path
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for fd in (master, slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def test_sms_arrives_decoded_with_chinese_intact() -> None:
    async def main() -> list[dict[str, object]]:
        async with simulated() as (sim, path), AtModem(path, timeout_s=5) as modem:
            status = await modem.ready()
            assert status.signal_dbm == -71 and status.registration == "home"
            refs = await modem.send_sms("+8613800138000", TEXT * 2, ref=3)
            assert len(refs) == 2
            return sim.sent

    sent = asyncio.run(main())
    assert sent == [{"t": sent[0]["t"], "to": "+8613800138000", "text": TEXT * 2, "parts": 2}]


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [("no-sim", "no_sim"), ("no-signal", "no_signal"), ("cms-error", "cms_error")],
)
def test_each_fault_is_a_modem_error_with_its_reason(scenario: str, reason: str) -> None:
    async def main() -> str:
        async with simulated(scenario) as (_sim, path), AtModem(path, timeout_s=5) as modem:
            try:
                if scenario == "cms-error":
                    await modem.ready()
                    await modem.send_sms("+8613800138000", "测试", ref=1)
                else:
                    await modem.ready()
            except ModemError as exc:
                return exc.reason
        return "no error"

    assert asyncio.run(main()) == reason


def test_an_absent_port_and_a_silent_one() -> None:
    async def main() -> tuple[str, str]:
        try:
            async with AtModem("/dev/nonexistent-modem", timeout_s=1):
                pass
        except ModemError as exc:
            absent = exc.reason
        async with simulated("slow", slow_s=5.0) as (_sim, path):
            try:
                async with AtModem(path, timeout_s=0.5):
                    pass
            except ModemError as exc:
                return absent, exc.reason
        return absent, "no error"

    assert asyncio.run(main()) == ("absent", "timeout")


def test_modem_check_and_the_simulator_commands(tmp_path: Path) -> None:
    link, log = tmp_path / "modem", tmp_path / "sms.jsonl"
    sim = subprocess.Popen(
        [sys.executable, "-m", "agent", "simulate", "modem", "--link", str(link),
         "--log", str(log)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert wait_for(link.exists, 20)
        out = subprocess.run(
            [sys.executable, "-m", "agent", "modem", "check", "--port", str(link), "--json",
             "--send-test", "+8613800138000"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert (doc["sim"], doc["registration"], doc["signal_dbm"]) == ("READY", "home", -71)
        assert wait_for(lambda: log.exists() and bool(log.read_text().strip()), 10)
        assert json.loads(log.read_text())["text"] == "edge-agent 测试短信 / test message"
    finally:
        sim.terminate()
        sim.wait(10)

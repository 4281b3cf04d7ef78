"""Alarm receipts with the real agent process, a real Mosquitto, the modem simulator on a
pty and a pymodbus server for the siren (issue 13, acceptance on receipts)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.escalation_config import ReceiptsConfig
from agent.events import Event, Priority, Severity
from agent.inbound import InboundMessage
from agent.receipts import Receipts, receipt_policy
from buffer.config import BufferConfig
from buffer.inspect import read_stats
from buffer.outbox import Outbox
from tests.broker import Mosquitto, Subscriber
from tests.spine.agentproc import AgentProcess, wait_for, write_config
from tests.spine.escalation_harness import (
    NUMBER,
    ModemProcess,
    Platform,
    SirenBox,
    receipts_section,
    siren_bus,
    sos,
)


@pytest.fixture
def siren() -> Iterator[SirenBox]:
    box = SirenBox().start()
    yield box
    box.stop()


@pytest.fixture
def modem(tmp_path: Path) -> Iterator[ModemProcess]:
    sim = ModemProcess(tmp_path).start()
    yield sim
    sim.stop()


def copies(sub: Subscriber, subject: str) -> list[dict[str, Any]]:
    return [e for e in sub.events() if e["type"] == "synthetic.alarm" and e["subject"] == subject]


def escalations(sub: Subscriber, state: str = "sent") -> list[dict[str, Any]]:
    return [e["data"] for e in sub.events() if e["type"] == f"gateway.escalation.{state}"]


def test_receipts_stop_reannouncement_and_escalation_and_only_our_topic_counts(
    tmp_path: Path, broker: Mosquitto, siren: SirenBox, modem: ModemProcess
) -> None:
    db = tmp_path / "outbox.db"
    cfg = write_config(
        tmp_path / "agent.yaml", port=broker.port, buffer=db,
        drivers=[sos("sos-a"), sos("sos-b"), sos("sos-c"), siren_bus(siren)],
        extra={"receipts": receipts_section(modem)},
    )  # fmt: skip
    sub = Subscriber(broker.port)
    platform = Platform(broker.port)
    agent = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        assert sub.wait(lambda s: all(copies(s, n) for n in ("sos-a", "sos-b", "sos-c")), 60)
        ids = {n: copies(sub, n)[0]["id"] for n in ("sos-a", "sos-b", "sos-c")}
        # A: receipted at once. B: its receipt goes to another gateway's topic first.
        platform.receipt("gw-0001", ids["sos-a"])
        platform.receipt("gw-other", ids["sos-b"])
        platform.raw("edge/gw-0001/receipts", b"{not json")
        # B and C stay open: re-announced with the same id, then escalated on both channels.
        assert sub.wait(lambda s: len(copies(s, "sos-b")) >= 2, 30), agent.log()
        assert {e["id"] for e in copies(sub, "sos-b")} == {ids["sos-b"]}
        want = {
            (ids[n], ch) for n in ("sos-b", "sos-c") for ch in (f"sms:{NUMBER}", "output:siren")
        }
        assert sub.wait(
            lambda s: want <= {(d["alarm_id"], d["channel"]) for d in escalations(s)}, 60
        ), agent.log()
        # A was receipted within T: neither an SMS nor a siren write for it.
        sent = modem.sent()
        assert sorted(m["text"].split("设备")[1].split(" ")[0] for m in sent) == ["sos-b", "sos-c"]
        assert all("临汾路小区" in m["text"] and m["to"] == NUMBER for m in sent)
        assert "3号楼2单元" in next(m["text"] for m in sent if "sos-b" in m["text"])
        assert not any(d["alarm_id"] == ids["sos-a"] for d in escalations(sub))
        assert len(siren.siren_writes()) == 2  # once per alarm (B and C)
        # B receipted after its escalation: no more copies of it, while C goes on.
        platform.receipt("gw-0001", ids["sos-b"], "acknowledged")
        assert wait_for(lambda: [a["subject"] for a in read_stats(db).awaiting_receipt]
                        == ["sos-c"], 30)  # fmt: skip
        n_c = len(copies(sub, "sos-c"))
        assert sub.wait(lambda s: len(copies(s, "sos-c")) >= n_c + 1, 30)  # flush in-flight
        n_b, n_c = len(copies(sub, "sos-b")), len(copies(sub, "sos-c"))
        assert sub.wait(lambda s: len(copies(s, "sos-c")) >= n_c + 2, 30)
        assert len(copies(sub, "sos-b")) == n_b
        # Each escalation happened once per alarm and channel.
        keys = [(d["alarm_id"], d["channel"]) for d in escalations(sub)]
        assert len(keys) == len(set(keys)) == 4
        assert len(modem.sent()) == 2
    finally:
        agent.terminate()
        platform.close()
        sub.close()


def test_unknown_malformed_and_duplicate_receipts_are_counted(tmp_path: Path) -> None:
    config = ReceiptsConfig.model_validate({"classes": [{"type": "resident.*"}]})

    async def main() -> Receipts:
        outbox = Outbox(BufferConfig(path=tmp_path / "o.db"), source="/t",
                        receipt_policy=receipt_policy(config))  # fmt: skip
        await outbox.open()
        alarm = Event("resident.alarm", "dev-1", {"key": "SOS"}, Priority.ALARM, Severity.CRITICAL)
        other = Event("elevator.status", "lift-1", {}, Priority.TELEMETRY)
        await outbox.append([alarm, other])
        receipts = Receipts(config, outbox)

        async def send(doc: Any) -> None:
            raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
            await receipts.handle(InboundMessage("edge/gw/receipts", raw), lambda *a: None)

        await send({"id": alarm.id, "stage": "stored", "by": "op-1"})
        await send({"id": alarm.id, "stage": "stored", "by": "op-1"})
        await send({"id": other.id, "stage": "stored"})
        await send({"id": alarm.id, "stage": "seen"})
        await send(b"\xff\xfe")
        await send({"id": alarm.id, "stage": "acknowledged", "by": "op-2"})
        await outbox.close()
        return receipts

    counts = asyncio.run(main()).counts
    assert (counts.applied, counts.duplicate, counts.unknown, counts.malformed) == (2, 1, 1, 2)
    assert read_stats(tmp_path / "o.db").awaiting_receipt == []


RECEIPTS_CONFIG = """\
gateway: {id: gw-0001, site: linfen-rd}
mqtt: {host: 127.0.0.1, port: 1883, insecure: true}
buffer: {path: /var/lib/edge-agent/buffer.db}
drivers:
  - name: lobby-relays
    kind: modbus
    outputs: {siren: {coil: 16, unit_id: 3}}
receipts:
  classes: [{type: resident.alarm, min_severity: critical}]
  escalation:
    outputs: [siren, beacon]
"""


def test_config_errors_point_at_the_line_and_outputs_must_be_declared() -> None:
    from agent.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as err:
        parse_config(RECEIPTS_CONFIG, "site.yaml")
    (issue,) = [str(i) for i in err.value.issues]
    assert "beacon" in issue and "siren" in issue and issue.startswith("site.yaml:")
    cfg = parse_config(RECEIPTS_CONFIG.replace(", beacon", ""))
    assert cfg.receipts is not None
    assert (cfg.receipts.reannounce_s, cfg.receipts.escalate_after_s) == (30.0, 120.0)
    with pytest.raises(ConfigError) as err:
        parse_config(RECEIPTS_CONFIG.replace("unit_id: 3}", "unit_id: 3, value: 7}"), "s.yaml")
    assert "s.yaml:7 drivers[0].outputs.siren" in str(err.value.issues[0])
    assert parse_config(RECEIPTS_CONFIG.replace("receipts:", "unused:").split("unused:")[0]
                        ).receipts is None  # fmt: skip


def test_the_example_config_with_receipts_switched_on_is_valid() -> None:
    from agent.config import parse_config
    from tests.shared_data import REPO

    text = (REPO / "deploy" / "config.example.yaml").read_text()
    head, tail = text.split("\n  ## A Modbus relay box", 1)
    # Switch the commented-out examples on ("## " lines are prose).
    rest = tail.splitlines()[1:]  # after the marker's own line
    on = head + "\n" + "\n".join(line.replace("# ", "", 1) for line in rest if "## " not in line)
    cfg = parse_config(on, check_files=False)
    assert cfg.receipts is not None and cfg.receipts.escalation.sms is not None
    assert cfg.receipts.escalation.outputs == ["siren"]


# The ACL of docs/events.md: each gateway writes only its own data topics and reads only
# its own receipts; only the platform (user "platform") writes receipts.
ACL = """\
pattern write edge/%c/events/#
pattern write edge/%c/telemetry/#
pattern write edge/%c/snapshots/#
pattern write edge/%c/status
pattern read edge/%c/receipts

user platform
topic read edge/#
topic write edge/+/receipts
"""


def _publish_as(port: int, client_id: str, topic: str, user: str | None = None) -> int:
    """PUBACK reason code of one QoS 1 publish by ``client_id``."""
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    codes: list[int] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if user:
        client.username_pw_set(user)

    def on_publish(_c: object, _u: object, _mid: int, reason: Any, _p: object) -> None:
        codes.append(int(getattr(reason, "value", reason)))
        done.set()

    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, b'{"id": "x", "stage": "stored"}', qos=1)
        assert done.wait(10)
    finally:
        client.loop_stop()
        client.disconnect()
    return codes[0]


def test_the_documented_acl_lets_only_the_platform_write_receipts(tmp_path: Path) -> None:
    from tests.broker import Mosquitto

    broker = Mosquitto(tmp_path, acl=ACL).start()
    try:
        topic = "edge/gw-0001/receipts"
        assert _publish_as(broker.port, "gw-0002", topic) == 0x87  # another gateway
        assert _publish_as(broker.port, "gw-0001", topic) == 0x87  # the gateway itself
        # Accepted (0x10 "no matching subscribers" is a success code, < 0x80).
        assert _publish_as(broker.port, "gw-0001", "edge/gw-0001/events/x") < 0x80
        assert _publish_as(broker.port, "platform-1", topic, user="platform") < 0x80
    finally:
        broker.stop()

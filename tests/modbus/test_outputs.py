"""Named outputs of the Modbus driver (agent/actuator.py): only the declared addresses are
written, never at a monitored elevator's unit id, against a real pymodbus server."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from agent.actuator import Actuator, ActuatorError, Actuators
from drivers.modbus.config import ModbusConfig
from tests.modbus.harness import running_driver, wait_until
from tests.spine.escalation_harness import SIREN_COIL, SIREN_UNIT, SirenBox


def _config(port: int, **outputs: dict[str, int]) -> ModbusConfig:
    return ModbusConfig.model_validate(
        {"name": "relays", "kind": "modbus", "port": port, "request_timeout_ms": 300,
         "outputs": outputs}
    )  # fmt: skip


def test_an_output_at_a_monitored_elevators_unit_id_is_refused() -> None:
    with pytest.raises(ValidationError, match="refused"):
        ModbusConfig.model_validate({
            "name": "lifts", "kind": "modbus",
            "devices": [{"id": "lift-1", "unit_id": 3, "profile": "gb-monitor-box"}],
            "outputs": {"siren": {"coil": 16, "unit_id": 3}},
        })  # fmt: skip
    with pytest.raises(ValidationError, match="either a coil or a holding register"):
        _config(502, siren={"coil": 1, "holding": 2, "unit_id": 3})
    with pytest.raises(ValidationError, match="needs devices to poll or outputs"):
        ModbusConfig.model_validate({"name": "empty", "kind": "modbus"})


def test_only_declared_outputs_are_written_through_the_actuators() -> None:
    box = SirenBox().start()

    async def main() -> tuple[str, str]:
        cfg = _config(box.port, siren={"coil": SIREN_COIL, "unit_id": SIREN_UNIT},
                      ghost={"coil": 1, "unit_id": 9})  # fmt: skip
        async with running_driver(cfg) as (driver, _sink):
            assert isinstance(driver, Actuator)
            actuators = Actuators()
            actuators.offer(driver)
            assert actuators.names() == ("ghost", "siren")
            await wait_until(lambda: driver._link_open is not None, 10)
            await actuators.activate("siren")
            errors = []
            for name in ("beacon", "ghost"):  # not declared; declared but nobody answers
                try:
                    await actuators.activate(name)
                except ActuatorError as exc:
                    errors.append(str(exc))
            return errors[0], errors[1]

    try:
        undeclared, silent = asyncio.run(main())
    finally:
        box.stop()
    assert "beacon" in undeclared and "ghost" in silent
    assert box.siren_writes() == [[True]]
    assert [w for w in box.writes if w[1] != SIREN_COIL] == []

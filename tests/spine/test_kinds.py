"""The kinds table is the one place a kind is registered (agent/kinds.py)."""

from __future__ import annotations

import asyncio
import contextlib
import tomllib
from pathlib import Path

import pytest

from agent.config import ConfigError, parse_config
from agent.config_model import HealthConfig
from agent.driver import DriverConfigBase, DriverContext
from agent.kinds import KINDS, Kind, by_name, command_modules, literal_kind, simulator_modules
from agent.registry import DRIVERS, create_driver
from agent.supervisor import Supervisor
from tests.shared_data import REPO
from tests.sinks import ListSink
from tests.spine.dummy_kind import DummyConfig

DUMMY = Kind(
    config=DummyConfig,
    driver="tests.spine.dummy_kind:DummyDriver",
    check="tests.spine.dummy_kind:check_dummy",
)
WITH_DUMMY = (*KINDS, DUMMY)

CONFIG = """\
gateway: {id: gw-1}
mqtt: {host: 127.0.0.1, insecure: true}
buffer: {path: %s/buffer.db}
drivers:
  - {name: d1, kind: dummy, ticks: 4}
  - {name: s1, kind: synthetic, count: 2, rate_hz: 100}
"""


def test_a_dummy_kind_added_by_one_table_entry_runs_under_the_supervisor(
    tmp_path: Path,
) -> None:
    cfg = parse_config(CONFIG % tmp_path, kinds=WITH_DUMMY)
    assert isinstance(cfg.drivers[0], DummyConfig)
    context = DriverContext(gateway_id="gw-1", state_dir=tmp_path)

    def make(config: DriverConfigBase):  # type: ignore[no-untyped-def]
        return create_driver(config, context, WITH_DUMMY)

    async def go() -> ListSink:
        sink = ListSink()
        sup = Supervisor(list(cfg.drivers), make, sink, gateway_id="gw-1", health=HealthConfig())
        task = asyncio.create_task(sup.run())
        async with asyncio.timeout(20):
            while len(sink.of_type("dummy.tick")) < 4 or len(sink.of_type("synthetic.sample")) < 2:
                await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return sink

    sink = asyncio.run(go())
    assert [e.data["i"] for e in sink.of_type("dummy.tick")] == [0, 1, 2, 3]
    assert {e.source for e in sink.of_type("dummy.tick")} == {"/edge/gw-1/drivers/d1"}


def test_the_dummy_kinds_check_hook_runs_in_config_checks(tmp_path: Path) -> None:
    text = (CONFIG % tmp_path).replace("ticks: 4", "ticks: 4, label: bad")
    with pytest.raises(ConfigError) as err:
        parse_config(text, "site.yaml", kinds=WITH_DUMMY)
    assert [str(i) for i in err.value.issues] == [
        "site.yaml:5 drivers[0].label: label 'bad' is refused by the dummy kind"
    ]
    # Without the table entry the kind does not exist.
    with pytest.raises(ConfigError) as err:
        parse_config(CONFIG % tmp_path, "site.yaml")
    assert "unknown driver kind 'dummy'" in str(err.value)


def test_everything_is_derived_from_the_table() -> None:
    from agent.cli import COMMAND_MODULES
    from agent.commands.simulate import SIMULATOR_MODULES
    from agent.config import known_kinds

    assert known_kinds() == sorted(by_name()) == sorted(DRIVERS)
    assert set(command_modules()) <= set(COMMAND_MODULES)
    assert simulator_modules() == SIMULATOR_MODULES
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for kind in KINDS:
        assert kind.extra is None or kind.extra in project["optional-dependencies"]


def test_each_entry_names_the_kind_its_config_model_accepts() -> None:
    # The table names kinds without importing their models; the two must agree.
    for kind in KINDS:
        assert literal_kind(kind.model()) == kind.name


def test_a_config_validates_against_the_kinds_it_names_only(tmp_path: Path) -> None:
    from agent.config_model import configured_kinds

    cfg = parse_config(CONFIG % tmp_path, kinds=WITH_DUMMY)
    drivers = type(cfg).model_fields["drivers"].annotation
    assert "DummyConfig" in str(drivers) and "SyntheticConfig" in str(drivers)
    assert "CameraConfig" not in str(drivers)
    # An unknown kind gets the whole table, so the error can list every kind.
    doc = {"drivers": [{"kind": "synthetic"}, {"kind": "nope"}]}
    assert configured_kinds(doc, WITH_DUMMY) == WITH_DUMMY

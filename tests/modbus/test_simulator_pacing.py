"""A scenario step with ``min_reads`` outlasts its duration until it has been read.

The simulator's clock is wall time; on a loaded machine a short step could pass between
two polls unseen (the re-levelling pause did, on CI). These tests drive the model's clock
by hand, so they say exactly when a step may end.
"""

from __future__ import annotations

from drivers.modbus.simulator.scenarios import Scenario, Step
from drivers.modbus.simulator.state_machine import ElevatorModel


def _model(min_reads: int) -> ElevatorModel:
    steps = (Step(1.0, {"floor": 7}, min_reads=min_reads), Step(1.0, {"floor": 3}))
    return ElevatorModel(Scenario("paced", "test", steps=steps, expect=(), lead_s=0.0))


def test_an_unread_step_stays_on_past_its_duration() -> None:
    model = _model(min_reads=2)
    model.advance_to(30.0)  # 30 s with no read: the 1 s step is still the one on
    assert model.step_index == 0 and model.values()["floor"] == 7
    model.note_read()
    model.advance_to(30.5)
    assert model.values()["floor"] == 7  # one read of two
    model.note_read()
    model.advance_to(30.7)
    assert model.step_index == 1 and model.values()["floor"] == 3


def test_reads_before_the_duration_do_not_end_it_early() -> None:
    model = _model(min_reads=2)
    model.advance_to(0.3)
    for _ in range(5):
        model.note_read()
    model.advance_to(0.6)
    assert model.step_index == 0  # read enough, but not yet a second long
    model.advance_to(1.3)
    assert model.step_index == 1


def test_reads_of_an_earlier_step_do_not_count() -> None:
    steps = (Step(1.0, {"floor": 7}), Step(1.0, {"floor": 3}, min_reads=1))
    model = ElevatorModel(Scenario("paced", "test", steps=steps, expect=(), lead_s=0.0))
    model.advance_to(0.5)
    model.note_read()
    model.note_read()
    model.advance_to(5.0)  # step 1 began at ~1 s with no read of its own
    assert model.step_index == 1 and model.values()["floor"] == 3
    model.note_read()
    model.advance_to(5.2)
    assert model.finished

"""The shared episode lifecycle (agent/episodes.py): holds, one raise and one clear per
episode, restore after a restart, reminders, and the open episodes on disk."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from agent.episodes import EpisodeStore, EpisodeTracker, OpenEpisode, Transition


def feed(tracker: EpisodeTracker, key: str, hold: float, series: list[tuple[float, bool]]):
    out = []
    for now, cond in series:
        t = tracker.step(key, cond, now, hold)
        if t is not None:
            out.append((now, t))
    return out


def test_raised_once_after_the_hold_and_cleared_once_when_the_condition_ends() -> None:
    tr = EpisodeTracker()
    got = feed(tr, "low_spo2", 5.0, [(float(t), 2 <= t < 12) for t in range(15)])
    assert got == [
        (7.0, Transition("low_spo2", True, held_s=5.0)),
        (12.0, Transition("low_spo2", False)),
    ]
    assert not tr.is_active("low_spo2") and not tr.is_pending("low_spo2")


def test_condition_shorter_than_the_hold_raises_nothing() -> None:
    tr = EpisodeTracker()
    series = [(float(t), t % 4 != 0) for t in range(40)]  # true 3 s at a time, hold 5 s
    assert feed(tr, "k", 5.0, series) == []


def test_zero_hold_raises_on_the_first_true_reading() -> None:
    tr = EpisodeTracker()
    assert tr.step("sos", True, 3.0, 0.0) == Transition("sos", True, held_s=0.0)
    assert tr.step("sos", True, 4.0, 0.0) is None


def test_pending_is_true_while_held_and_active_order_follows_the_given_keys() -> None:
    tr = EpisodeTracker(["b", "a"])
    tr.step("a", True, 0.0, 10.0)
    assert tr.is_pending("a") and not tr.is_active("a")
    tr.step("a", True, 10.0, 10.0)
    tr.step("b", True, 10.0, 0.0)
    tr.step("z", True, 10.0, 0.0)  # a key not given up front joins on first use
    assert tr.active() == ["b", "a", "z"]
    assert not tr.is_active("never-seen") and not tr.is_pending("never-seen")


def test_forget_pending_restarts_hold_timers_but_keeps_raised_episodes() -> None:
    tr = EpisodeTracker()
    tr.step("raised", True, 0.0, 0.0)
    tr.step("held", True, 0.0, 10.0)
    tr.forget_pending()
    assert tr.is_active("raised") and not tr.is_pending("held")
    assert tr.step("held", True, 9.0, 10.0) is None  # the timer starts again at 9
    assert tr.step("held", True, 18.0, 10.0) is None
    assert tr.step("held", True, 19.0, 10.0) == Transition("held", True, held_s=10.0)


def test_raise_now_and_clear_skip_the_hold_and_never_repeat() -> None:
    tr = EpisodeTracker()
    assert tr.raise_now("CTRL", 1.0) == Transition("CTRL", True)
    assert tr.raise_now("CTRL", 2.0) is None
    assert tr.clear("CTRL") == Transition("CTRL", False)
    assert tr.clear("CTRL") is None


def test_restored_episode_continues_while_true_and_clears_once_when_false() -> None:
    tr = EpisodeTracker()
    tr.restore("ENTRAP")
    assert tr.is_active("ENTRAP")
    assert tr.step("ENTRAP", True, 100.0, 45.0) is None
    assert tr.step("ENTRAP", False, 101.0, 45.0) == Transition("ENTRAP", False)
    assert tr.step("ENTRAP", False, 102.0, 45.0) is None


def test_reminders_come_every_interval_while_raised_and_stop_after_the_clear() -> None:
    tr = EpisodeTracker()
    reminded = []
    for t in range(0, 700, 10):
        tr.step("fever", t < 500, float(t), 0.0)
        reminded += [(t, k) for k in tr.reminders_due(float(t), 120.0)]
    assert reminded == [(120, "fever"), (240, "fever"), (360, "fever"), (480, "fever")]


def test_restored_episode_reminds_only_with_a_start_time() -> None:
    tr = EpisodeTracker()
    tr.restore("a")
    tr.restore("b", now=0.0)
    assert tr.reminders_due(1000.0, 60.0) == ["b"]


def test_store_round_trips_open_episodes_with_their_fields(tmp_path: Path) -> None:
    store = EpisodeStore(tmp_path, "serial-home")
    saved = {
        "bracelet-7": [OpenEpisode("low_spo2", "e-1", {"band": "critical", "value": 88.5})],
        "radar-2": [],
        "radar-1": [OpenEpisode("fall", "e-2")],
    }
    store.save(saved)
    assert store.path == tmp_path / "serial-home.episodes.json"
    doc = json.loads(store.path.read_text())
    assert doc["version"] == 1 and sorted(doc["devices"]) == ["bracelet-7", "radar-1"]
    assert doc["devices"]["bracelet-7"] == [
        {"band": "critical", "value": 88.5, "key": "low_spo2", "episode": "e-1"}
    ]
    assert store.load() == {k: v for k, v in saved.items() if v}
    assert (store.path.stat().st_mode & 0o777) == 0o600


def test_store_without_a_file_loads_nothing(tmp_path: Path) -> None:
    assert EpisodeStore(tmp_path / "not-yet", "x").load() == {}


@pytest.mark.parametrize(
    "content",
    ["{not json", json.dumps([1, 2]), json.dumps({"version": 99, "devices": {}})],
    ids=["not JSON", "not a mapping", "unknown format version"],
)
def test_damaged_store_is_ignored_with_a_warning(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "x.episodes.json").write_text(content)
    with caplog.at_level(logging.WARNING, logger="agent.episodes"):
        assert EpisodeStore(tmp_path, "x").load() == {}
    assert caplog.records


def test_malformed_or_rejected_episodes_are_skipped_and_the_rest_kept(tmp_path: Path) -> None:
    def validate(ep: OpenEpisode) -> None:
        if ep.key.startswith("old_"):
            raise ValueError(f"unknown key {ep.key}")

    items = [
        {"key": "ok", "episode": "e-1", "n": 1},
        {"key": "ok2"},  # no episode id
        {"key": "", "episode": "e-3"},
        {"key": "nested", "episode": "e-4", "x": {"a": 1}},
        "not a mapping",
        {"key": "old_key", "episode": "e-5"},
    ]
    doc = {"version": 1, "devices": {"d": items, "e": "not a list"}}
    (tmp_path / "x.episodes.json").write_text(json.dumps(doc))
    assert EpisodeStore(tmp_path, "x", validate=validate).load() == {
        "d": [OpenEpisode("ok", "e-1", {"n": 1})]
    }

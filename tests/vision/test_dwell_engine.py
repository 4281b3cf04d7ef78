"""Pure dwell-engine scenarios in simulated time, with recorded-style detections."""

from __future__ import annotations

from datetime import timedelta

from tests.vision.sim import BIKE, T0_WALL, ZONE_POLY, Run, bike, drive, person
from vision.config import ZoneConfig
from vision.dwell import DecisionKind, DwellEngine, Observation, Sample
from vision.dwell_store import DwellStore

K = DecisionKind
GRACE, GAP, DT = 30.0, 10.0, 1.0


def corridor(**kw: object) -> ZoneConfig:
    args: dict[str, object] = {
        "id": "corridor-a",
        "kind": "corridor",
        "polygon": ZONE_POLY,
        "grace_s": GRACE,
        "gap_tolerance_s": GAP,
    }
    args.update(kw)
    return ZoneConfig.model_validate(args)


def engine(*zones: ZoneConfig) -> DwellEngine:
    return DwellEngine("cam1", list(zones) or [corridor()])


def started(run: Run) -> list[float]:
    return [d.t for d in run.of(K.VIOLATION_STARTED)]


def cleared(run: Run) -> list[float]:
    return [d.t for d in run.of(K.CLEARED)]


def test_bike_parks_past_grace_then_leaves() -> None:
    arrive, leave = 5.5, 80.5  # between samples, as in life
    run = drive(engine(), lambda t: [bike()] if arrive <= t < leave else [], until=120)
    assert len(started(run)) == 1
    assert arrive + GRACE <= started(run)[0] <= arrive + GRACE + 2 * DT
    assert len(cleared(run)) == 1
    assert leave + GAP <= cleared(run)[0] <= leave + GAP + 2 * DT
    assert run.of(K.CLEARED)[0].candidate == run.of(K.VIOLATION_STARTED)[0].candidate


def test_short_stop_is_explained_not_alerted() -> None:
    run = drive(engine(), lambda t: [bike()] if 2 <= t < 20 else [], until=60)
    assert started(run) == []
    (dropped,) = run.of(K.DROPPED)
    assert "below the 30.0 s grace" in dropped.reason


def test_person_walking_in_front_for_20s_does_not_reset_timer() -> None:
    # The person crosses the bike slowly; the detector loses the bike while it is covered.
    def scene(t: float) -> list[Observation]:
        if 8 <= t < 28:
            x = 0.05 + (t - 8) * 0.04
            return [person((x, 0.3, x + 0.15, 0.95))]
        return [bike()]

    # The gap tolerance must outlast the occlusion (default 60 s; here 30 s).
    run = drive(engine(corridor(gap_tolerance_s=30)), scene, until=60)
    assert len(started(run)) == 1
    assert GRACE <= started(run)[0] <= GRACE + 2 * DT
    assert run.of(K.REJOINED), "the re-sighting after the occlusion should be explained"
    assert run.of(K.ATTENDED) == []  # a passer-by is not attending the bike
    assert cleared(run) == []


def test_label_flips_keep_one_candidate() -> None:
    labels = ["bicycle", "motorcycle"]
    run = drive(engine(), lambda t: [bike(source=labels[int(t) % 2])], until=50)
    assert len(run.of(K.OPENED)) == 1
    assert len(started(run)) == 1
    assert run.of(K.LABEL_CHANGED)


def test_label_and_lighting_change_with_jitter() -> None:
    # Lighting change: appearance signature brightness/contrast change; box jitters.
    base = tuple(float((i * 7) % 13) for i in range(64))
    bright = tuple(2.0 * v + 40 for v in base)

    def scene(t: float) -> list[Observation]:
        j = 0.01 if int(t) % 2 else -0.01
        box = (BIKE[0] + j, BIKE[1] - j, BIKE[2] + j, BIKE[3] + j / 2)
        sig = base if t < 15 else bright
        return [Observation("two_wheeler", 0.5, box, "motorcycle", sig)]

    run = drive(engine(), scene, until=45)
    assert len(run.of(K.OPENED)) == 1
    assert len(started(run)) == 1


def test_bike_present_at_boot_is_found_on_first_scan() -> None:
    run = drive(engine(), lambda t: [bike()], until=40)
    assert run.of(K.OPENED)[0].t == 0.0
    assert started(run) == [GRACE]


def test_person_standing_with_bike_pauses_timer() -> None:
    companion = (0.55, 0.35, 0.70, 0.88)  # right beside the bike, not moving

    def scene(t: float) -> list[Observation]:
        obs = [bike()]
        if 10 <= t < 40:
            obs.append(person(companion))
        return obs

    run = drive(engine(), scene, until=80)
    assert run.of(K.ATTENDED) and run.of(K.UNATTENDED)
    (t_start,) = started(run)
    paused = run.of(K.UNATTENDED)[0].t - run.of(K.ATTENDED)[0].t
    assert paused >= 25
    assert GRACE + paused <= t_start <= GRACE + paused + 2 * DT


def test_bike_wheeled_away_by_its_owner_raises_nothing() -> None:
    companion = (0.55, 0.35, 0.70, 0.88)

    def scene(t: float) -> list[Observation]:
        if t < 20:
            return [bike(), person(companion)] if t >= 3 else [bike()]
        shift = (t - 20) * 0.08
        moved = (BIKE[0] + shift, BIKE[1], BIKE[2] + shift, BIKE[3])
        return [bike(moved)] if BIKE[2] + shift < 1 else []

    run = drive(engine(), scene, until=60)
    assert started(run) == []
    assert any("moving away" in d.reason for d in run.of(K.DROPPED))


def test_bike_ridden_through_zone_opens_nothing_lasting() -> None:
    def scene(t: float) -> list[Observation]:
        x = 0.05 + t * 0.1
        return [bike((x, 0.5, x + 0.2, 0.9))] if x < 0.8 else []

    run = drive(engine(), scene, until=40)
    assert started(run) == []
    assert len(run.of(K.OPENED)) <= 1


def test_outside_zone_is_ignored_once_with_reason() -> None:
    outside = (0.3, 0.1, 0.5, 0.4)
    run = drive(engine(), lambda t: [bike(outside)], until=60)
    assert started(run) == []
    (ignored,) = run.of(K.IGNORED)
    assert "outside every zone" in ignored.reason


def test_jitter_on_the_edge_does_not_flap() -> None:
    # Bottom-centre hovers 1% either side of the zone's top edge (y = 0.6).
    def scene(t: float) -> list[Observation]:
        y2 = 0.61 if int(t) % 2 == 0 else 0.59
        return [bike((0.3, y2 - 0.3, 0.5, y2))]

    run = drive(engine(), scene, until=45)
    assert len(run.of(K.OPENED)) == 1
    assert len(started(run)) == 1


def test_elevator_car_reacts_in_seconds() -> None:
    car = ZoneConfig(id="car", kind="elevator_car", polygon=[(0, 0), (1, 0), (1, 1), (0, 1)])
    assert car.grace_s <= 3 and car.is_alarm
    run = drive(engine(car), lambda t: [bike()] if t >= 2 else [], until=20, interval=0.5)
    assert len(started(run)) == 1
    assert started(run)[0] <= 2 + car.grace_s + 2 * 0.5


def test_schedule_off_means_no_violation() -> None:
    night = corridor(schedules=[{"start": "22:00", "end": "06:00"}], timezone="UTC")
    run = drive(engine(night), lambda t: [bike()], until=60)  # noon
    assert started(run) == []
    assert "not enforced now" in run.of(K.OPENED)[0].reason


def test_restart_mid_dwell_keeps_elapsed_time(tmp_path) -> None:
    store = DwellStore(tmp_path, "cam1")
    first = engine()
    run = drive(first, lambda t: [bike()], until=20)
    store.save(list(first.candidates.values()), T0_WALL)
    assert started(run) == []
    # Restart: a new process, monotonic clock restarted near zero.
    second = engine()
    second.restore(store.load(now=1000.0))
    run2 = drive(second, lambda t: [bike()], start=1000.0, until=1030.0)
    assert run2.of(K.OPENED) == []
    (t_start,) = started(run2)
    assert t_start <= 1000.0 + (GRACE - 20) + 2 * DT


def test_restart_after_violation_no_duplicate_then_clear_same_id(tmp_path) -> None:
    store = DwellStore(tmp_path, "cam1")
    first = engine()
    run = drive(first, lambda t: [bike()], until=40)
    (vid_decision,) = run.of(K.VIOLATION_STARTED)
    store.save(list(first.candidates.values()), T0_WALL)
    violation_id = next(iter(first.candidates.values())).violation.id  # type: ignore[union-attr]

    second = engine()
    second.restore(store.load(now=5.0))
    run2 = drive(second, lambda t: [bike()] if t < 30 else [], start=5.0, until=60.0)
    assert started(run2) == []
    (clear,) = run2.of(K.CLEARED)
    assert clear.candidate == vid_decision.candidate
    assert 30 + GAP <= clear.t <= 30 + GAP + 2 * DT
    assert violation_id


def test_unannounced_violation_is_resent_with_same_id_after_restart(tmp_path) -> None:
    store = DwellStore(tmp_path, "cam1")
    first = engine()
    decisions = []
    for t in range(0, 35):
        s = Sample(float(t), T0_WALL + timedelta(seconds=t), [bike()])
        decisions += first.step(s)  # never mark_announced: crash before the emit
    vid = next(iter(first.candidates.values())).violation.id  # type: ignore[union-attr]
    store.save(list(first.candidates.values()), T0_WALL)
    second = engine()
    second.restore(store.load(now=0.0))
    run = drive(second, lambda t: [bike()], until=5)
    assert len(started(run)) == 1
    assert next(iter(second.candidates.values())).violation.id == vid  # type: ignore[union-attr]


def test_reminders_repeat_while_parked() -> None:
    run = drive(engine(corridor(reminder_every_s=20)), lambda t: [bike()], until=95)
    assert len(started(run)) == 1
    assert len(run.of(K.REMINDER)) == 3  # at 50, 70, 90


def test_two_bikes_two_violations() -> None:
    other = (0.65, 0.5, 0.85, 0.9)
    run = drive(engine(), lambda t: [bike(), bike(other)], until=40)
    assert len(started(run)) == 2
    assert len({d.candidate for d in run.of(K.VIOLATION_STARTED)}) == 2


def test_memory_is_bounded() -> None:
    eng = engine()

    # Many bikes pass by briefly in distinct places: candidates expire after the gap.
    def scene(t: float) -> list[Observation]:
        i = int(t) % 20
        x = 0.1 + i * 0.035
        return [bike((x, 0.6, x + 0.03, 0.9))]

    drive(eng, scene, until=300)
    assert len(eng.candidates) <= 20


def test_camera_outage_neither_clears_nor_counts() -> None:
    eng = engine()
    run = drive(eng, lambda t: [bike()], until=40)  # violation open
    assert len(started(run)) == 1
    eng.rebase(640.0)  # ten minutes without frames, then the camera is back
    run2 = drive(eng, lambda t: [bike()], start=640.0, until=700.0)
    assert run2.of(K.CLEARED) == [] and started(run2) == []
    run3 = drive(eng, lambda t: [], start=701.0, until=720.0)
    assert len(run3.of(K.CLEARED)) == 1


def test_merging_two_announced_violations_clears_the_junior() -> None:
    # Two bikes side by side, each with its own violation; then their boxes drift
    # together until the candidates are judged the same bike and merged. The platform
    # knows both violations: the one merged away must be cleared, not silently dropped.
    left, right = (0.30, 0.55, 0.45, 0.90), (0.47, 0.55, 0.62, 0.90)
    merged = (0.38, 0.55, 0.54, 0.90)

    def towards(a: tuple[float, ...], b: tuple[float, ...], f: float) -> tuple[float, ...]:
        return tuple(p + (q - p) * f for p, q in zip(a, b, strict=True))

    def scene(t: float) -> list[Observation]:
        f = min(1.0, max(0.0, (t - 40) / 30))
        return [bike(towards(left, merged, f)), bike(towards(right, merged, f))]  # type: ignore[arg-type]

    run = drive(engine(), scene, until=150)
    announced = {d.candidate for d in run.of(K.VIOLATION_STARTED)}
    assert len(announced) == 2
    merges = [d for d in run.decisions if "merged into" in d.reason]
    assert merges, "the scene should make the two candidates merge"
    for d in merges:
        assert d.candidate in announced
        assert d.kind is K.CLEARED, f"announced violation dropped: {d.reason}"


def test_attendant_missed_by_the_detector_now_and_then_keeps_the_timer_paused() -> None:
    # Someone stands with the bike from 5 s to 100 s, but the detector misses them in
    # every other sample: the bike is attended all along, so no violation before they go.
    def scene(t: float) -> list[Observation]:
        obs = [bike()]
        if 5 <= t < 100 and int(t) % 2 == 0:
            obs.append(person((0.55, 0.30, 0.70, 0.90)))
        return obs

    run = drive(engine(), scene, until=160)
    (start,) = started(run)
    assert start >= 100
    assert len(run.of(K.ATTENDED)) == 1  # one attended spell, not a flicker per sample

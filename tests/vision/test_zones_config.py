"""Zone polygons, defaults by kind, schedules and presence hysteresis."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from vision.config import CameraConfig, ZoneConfig
from vision.geometry import point_in_polygon, polygon_rect
from vision.zones import Zone

SQUARE = [(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)]


def zone(**kw: object) -> ZoneConfig:
    return ZoneConfig.model_validate({"id": "z1", "kind": "corridor", "polygon": SQUARE} | kw)


def error_of(**kw: object) -> str:
    with pytest.raises(ValidationError) as info:
        zone(**kw)
    return str(info.value)


def test_defaults_follow_kind() -> None:
    assert zone().grace_s == 180 and zone().gap_tolerance_s == 60
    assert zone(kind="fire_lane").grace_s == 60
    car = zone(kind="elevator_car")
    assert car.grace_s == 3 and car.is_alarm
    assert zone(grace_s=5).grace_s == 5


def test_too_few_points() -> None:
    assert "at least 3 points, got 2" in error_of(polygon=[(0, 0), (1, 1)])


def test_point_outside_unit_square() -> None:
    msg = error_of(polygon=[(0.1, 0.1), (1.3, 0.5), (0.5, 0.9)])
    assert "point 2 (1.3, 0.5) is outside 0..1" in msg
    assert "fractions of the frame" in msg


def test_self_intersecting_bow_tie() -> None:
    msg = error_of(polygon=[(0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9)])
    assert "edges 1-2 and 3-4 cross" in msg


def test_degenerate_polygon() -> None:
    assert "no area" in error_of(polygon=[(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)])


def test_bad_kind_and_schedule_time() -> None:
    assert "kind" in error_of(kind="garden")
    assert "HH:MM" in error_of(schedules=[{"start": "25:00", "end": "06:00"}])


def test_camera_rejects_duplicate_zone_ids(shared_dir) -> None:
    doc = {
        "name": "cam1",
        "kind": "camera",
        "source": "/dev/video0",
        "model": {"path": str(shared_dir / "models/yolox_nano.onnx"), "sha256": "0" * 64},
        "zones": [{"id": "a", "kind": "corridor", "polygon": SQUARE}] * 2,
    }
    with pytest.raises(ValidationError, match="zone id 'a' is used twice"):
        CameraConfig.model_validate(doc)


def test_sampling_order_checked() -> None:
    from vision.config import SamplingSettings

    with pytest.raises(ValidationError, match="active_interval_s <= idle_interval_s"):
        SamplingSettings(active_interval_s=2, idle_interval_s=1)


def test_presence_by_bottom_centre_with_hysteresis() -> None:
    z = Zone(zone(hysteresis=0.02))
    inside = (0.4, 0.2, 0.6, 0.5)  # bottom-centre (0.5, 0.5)
    tall_above = (0.4, 0.0, 0.6, 0.09)  # bottom-centre above the zone
    near_edge_out = (0.4, 0.5, 0.6, 0.91)  # 0.01 below the bottom edge
    assert z.enters(inside) and z.stays(inside)
    assert not z.enters(tall_above)
    assert not z.enters(near_edge_out) and z.stays(near_edge_out)
    assert not z.stays((0.4, 0.5, 0.6, 0.95))


def test_point_in_concave_polygon() -> None:
    ell = [(0, 0), (1, 0), (1, 0.3), (0.3, 0.3), (0.3, 1), (0, 1)]
    assert point_in_polygon((0.1, 0.9), ell)
    assert not point_in_polygon((0.8, 0.8), ell)


def test_schedule_windows_wrap_midnight() -> None:
    z = Zone(zone(schedules=[{"days": ["fri"], "start": "22:00", "end": "06:00"}], timezone="UTC"))
    fri_late = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)  # Friday
    sat_early = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
    sat_noon = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    sat_late = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
    assert z.active_at(fri_late) and z.active_at(sat_early)
    assert not z.active_at(sat_noon) and not z.active_at(sat_late)
    assert Zone(zone()).active_at(sat_noon)


def test_zone_rect_covers_bikes_standing_on_it() -> None:
    x1, y1, x2, y2 = polygon_rect([(0.2, 0.6), (0.8, 0.6), (0.8, 0.9), (0.2, 0.9)], 1000, 500)
    assert x1 < 200 and x2 > 800 and y2 >= 450
    assert y1 <= 150  # extends above the floor polygon by at least its height

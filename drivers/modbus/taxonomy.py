"""The elevator event taxonomy: keys, categories, priorities and default hold times.

Follows ../shared/research/domain-devices.md §2.2 (keys, holds, GB-family and
Shanghai codes) and §1.4 (hold times from the public ``liftcheck.c`` terminal firmware).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.events import Priority, Severity


@dataclass(frozen=True, slots=True)
class FaultKind:
    """One taxonomy entry. ``category`` becomes the event type ``elevator.<category>``."""

    key: str
    label_zh: str
    category: str  # "alarm" | "fault" | "event"
    priority: Priority
    severity: Severity
    hold_s: float
    gb_code: int | None = None
    sh_code: int | None = None


_A, _E = Priority.ALARM, Priority.EVENT
_CRIT, _WARN = Severity.CRITICAL, Severity.WARNING

# GB codes follow S6/S7/S8 (§1.3 A): 8 is NO_RESTART there; Jinhua's 08 for 运行中开门 is
# that city's own numbering, so DOOR_OPEN_RUNNING has no GB-family code.
# Entrapment and life-safety faults (P1 in the research) travel as alarms.
KINDS: dict[str, FaultKind] = {
    k.key: k
    for k in (
        FaultKind("ENTRAP_LEVEL", "平层困人", "alarm", _A, _CRIT, 45.0, 11, 7),
        FaultKind("ENTRAP_NONLEVEL", "非平层困人", "alarm", _A, _CRIT, 30.0, 11, 8),
        FaultKind("ALARM_BUTTON", "用户报警", "alarm", _A, _CRIT, 0.0, 90, 21),
        FaultKind("OVERTRAVEL_TOP", "冲顶", "fault", _A, _CRIT, 45.0, 9, 1),
        FaultKind("OVERTRAVEL_BOTTOM", "蹲底", "fault", _A, _CRIT, 45.0, 10, 2),
        FaultKind("OVERSPEED", "超速", "fault", _A, _CRIT, 2.0, None, 3),
        FaultKind("DOOR_OPEN_RUNNING", "运行中开门", "fault", _A, _CRIT, 2.0, None, 4),
        FaultKind("UCM", "开门走车", "fault", _A, _CRIT, 0.0, 5, 5),
        FaultKind("SAFETY_CIRCUIT", "安全回路断路", "fault", _A, _CRIT, 0.0, 1, 10),
        FaultKind("DOOR_LOCK_CIRCUIT", "门锁回路断路", "fault", _A, _CRIT, 0.0, None, 13),
        FaultKind("STOP_OUT_OF_ZONE", "门区外停梯", "fault", _E, _WARN, 60.0, 4, 6),
        FaultKind("DOOR_OPEN_FAIL", "开门故障", "fault", _E, _WARN, 0.0, 3, 11),
        FaultKind("DOOR_CLOSE_FAIL", "关门故障", "fault", _E, _WARN, 80.0, 2, 12),
        FaultKind("RUNTIME_LIMITER", "电动机运转时间限制器动作", "fault", _E, _WARN, 0.0, 6, 17),
        FaultKind("POSITION_LOST", "楼层位置丢失", "fault", _E, _WARN, 0.0, 7, 19),
        FaultKind("NO_RESTART", "防止电梯再运行故障", "fault", _E, _WARN, 0.0, 8, None),
        FaultKind("POWER_LOSS", "停电", "event", _E, _WARN, 0.0, 41, 9),
        FaultKind("CTRL_FAULT", "控制器故障", "fault", _E, _WARN, 0.0, None, None),
    )
}

# Keys a profile may map controller fault codes to.
FAULT_KEYS = frozenset(KINDS)

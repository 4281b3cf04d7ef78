"""Typed config of alarm receipts and local escalation (the ``receipts:`` section).

Off unless configured: a platform that does not yet send receipts would otherwise see
every alarm re-announced every ``reannounce_s`` for ever, and the care workers would get
an SMS for every alarm. With the section present, the defaults are the documented ones
(docs/escalation.md): re-announce every 30 s, escalate after 120 s without a ``stored``
receipt. Only pydantic and the agent base: validating a config loads no serial library.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from agent.driver import StrictModel

# Texts by alarm type, or "type:KEY" (data.key); placeholders {community}, {location},
# {device}, {alarm}, {time}. Never a resident's name or a health value: the alarm kind,
# where, and which device (research domain-devices.md, privacy).
DEFAULT_TEMPLATES: dict[str, str] = {
    "resident.alarm:SOS": "【紧急呼叫】{community}{location} 设备{device} 于{time}按下SOS，"  # noqa: RUF001
    "请立即上门查看。",
    "resident.alarm:FALL": "【跌倒报警】{community}{location} 设备{device} 于{time}检测到跌倒，"  # noqa: RUF001
    "请立即上门查看。",
    "elevator.alarm": "【电梯困人】{community}{location} 电梯{device} 于{time}发生{alarm}，"  # noqa: RUF001
    "请立即救援。",
    "*": "【报警】{community}{location} 设备{device} 于{time}发生{alarm}，平台未确认，"  # noqa: RUF001
    "请现场处置。",
}

ALARM_LABELS: dict[str, str] = {
    "ENTRAP_LEVEL": "平层困人", "ENTRAP_NONLEVEL": "非平层困人", "ALARM_BUTTON": "用户报警",
    "SOS": "紧急呼叫", "FALL": "跌倒", "SILENT": "设备失联",
}  # fmt: skip


class ReceiptClassConfig(StrictModel):
    type: str = Field(min_length=1, description="Event type, glob allowed: 'resident.*'.")
    min_severity: Literal["info", "warning", "critical"] = "info"
    keys: list[str] = Field(
        default_factory=list, description="Only these data.key values (SOS, FALL, …); any if empty."
    )


class SmsConfig(StrictModel):
    port: str = Field(min_length=1, description="The modem's /dev/serial/by-id/... path.")
    baudrate: int = Field(default=115200, ge=1200, le=921_600)
    numbers: list[str] = Field(min_length=1, description="Property office, care workers.")
    per_number_interval_s: float = Field(
        default=60.0, ge=0, le=3600, description="At most one SMS per number this often."
    )
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="Per AT command.")
    templates: dict[str, str] = Field(
        default_factory=dict, description="Override texts by 'type' or 'type:KEY'."
    )

    @model_validator(mode="after")
    def _numbers(self) -> SmsConfig:
        for n in self.numbers:
            digits = n.removeprefix("+")
            if not digits.isdigit() or not 3 <= len(digits) <= 20:
                raise ValueError(f"not a phone number: {n!r}")
        if len(set(self.numbers)) != len(self.numbers):
            raise ValueError("a number is listed twice")
        return self


class EscalationConfig(StrictModel):
    community: str = Field(default="", max_length=64, description="Name in texts; site if unset.")
    locations: dict[str, str] = Field(
        default_factory=dict, description="Device id -> building/unit text, e.g. '3号楼2单元'."
    )
    sms: SmsConfig | None = None
    outputs: list[str] = Field(
        default_factory=list, description="Named outputs to switch (declared by a driver)."
    )
    retry_base_s: float = Field(default=5.0, gt=0, le=600, description="First retry delay.")
    retry_max_s: float = Field(default=300.0, gt=0, le=86_400, description="Largest delay.")


class ReceiptsConfig(StrictModel):
    classes: list[ReceiptClassConfig] = Field(
        min_length=1, description="Alarms that need the platform's receipt."
    )
    reannounce_s: float = Field(default=30.0, ge=1, le=86_400, description="N: re-send period.")
    escalate_after_s: float = Field(
        default=120.0, ge=1, le=86_400, description="T: escalate without a stored receipt."
    )
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)

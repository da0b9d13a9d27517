"""Alarm rules: list, read, write, switch, delete, preview; the built-in alarms' tuning; the
audit of every change. Facilities staff and admins write; clerks may read.

A refused rule is a 422 with a stable ``code`` (``invalid_field``, ``impossible_condition``,
``unknown_placeholder``, ``invalid_template``, ``unknown_metric``, ``no_matching_device``,
``unknown_builtin``) and the ``field`` at fault; see docs/alarms.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Response, status
from pydantic import BaseModel, Field

from api.auth import Facilities, Staff
from api.params import Limit
from api.schemas import ErrorOut
from api.services import provide
from devices.contract import DEVICE_ID_PATTERN, now_ms
from hall_controller.alarm_rules.model import AlarmRule, AuditEntry
from hall_controller.alarm_rules.service import AlarmRuleService, BuiltinView, Preview

Rules = Annotated[AlarmRuleService, Depends(provide(AlarmRuleService))]
router = APIRouter(prefix="/alarm-rules", tags=["alarm rules"])

RuleIdPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$", description="the rule id")]
BuiltinIdPath = Annotated[str, Path(pattern=r"^[a-z_.]{1,64}$",
                                    description="the built-in alarm, e.g. door.held_open")]
REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorOut, "description": "refused: `code` and `field` say why"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "unknown rule"}, **REFUSED,
}

RULE_EXAMPLE = {
    "id": "kiosk-hot", "name": "Kiosk too hot", "severity": "major", "enabled": True,
    "target": {"devices": "kiosk-*", "kind": "kiosk", "site": ""},
    "condition": {"type": "above", "metric": "cpu_temp_c", "threshold": 45, "clear_at": 43,
                  "for_s": 300, "clear_for_s": 60},
    "active_hours": None,
    "message": {"zh-CN": "{device} 温度 {value}{unit}，超过 {threshold}{unit} 已 5 分钟",
                "en": "{device} is at {value} {unit}, above {threshold} {unit} for 5 min"},
}
RuleBody = Annotated[dict[str, Any], Body(openapi_examples={
    "threshold": {"summary": "kiosk above 45 °C for 5 min", "value": RULE_EXAMPLE}})]


class RuleOut(BaseModel):
    id: str
    name: str
    severity: str
    enabled: bool
    target: dict[str, Any]
    condition: dict[str, Any]
    active_hours: dict[str, str] | None
    message: dict[str, str]
    alarm_type: str = Field(description="the type of the alarms it raises: rule.<id>")
    version: int
    updated_ms: int
    updated_by: str

    @classmethod
    def build(cls, rule: AlarmRule) -> RuleOut:
        return cls(**rule.to_body(), alarm_type=rule.alarm_type, version=rule.version,
                   updated_ms=rule.updated_ms, updated_by=rule.updated_by)


class BuiltinOut(BaseModel):
    id: str
    alarm_type: str
    kind: str
    default_severity: str
    raised_by: list[str]
    cleared_by: list[str]
    severity: str = Field(description="what it is raised with now")
    enabled: bool
    delay_s: int
    tuned: bool
    updated_ms: int | None
    updated_by: str | None

    @classmethod
    def build(cls, view: BuiltinView) -> BuiltinOut:
        b, t = view.builtin, view.tuning
        return cls(id=b.id, alarm_type=b.alarm_type, kind=b.kind,
                   default_severity=b.severity.value, raised_by=list(b.raised_by),
                   cleared_by=list(b.cleared_by),
                   severity=((t.severity if t and t.severity else b.severity).value),
                   enabled=t.enabled if t else True, delay_s=t.delay_s if t else 0,
                   tuned=t is not None, updated_ms=t.updated_ms if t else None,
                   updated_by=t.updated_by if t else None)


class AuditOut(BaseModel):
    id: int
    rule_id: str
    action: str
    by: str
    at_ms: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @classmethod
    def build(cls, entry: AuditEntry) -> AuditOut:
        return cls(id=entry.id, rule_id=entry.rule_id, action=entry.action, by=entry.by,
                   at_ms=entry.at_ms, before=entry.before, after=entry.after)


class PreviewIn(BaseModel):
    rule: dict[str, Any] = Field(description="the draft rule, as for POST /alarm-rules")
    device_id: str = Field(pattern=f"^{DEVICE_ID_PATTERN}$")


class IntervalOut(BaseModel):
    raised_ms: int
    cleared_ms: int | None
    message: dict[str, str]
    value: Any


class PreviewOut(BaseModel):
    device_id: str
    matches_target: bool = Field(description="false: the rule's target leaves this device out")
    from_ms: int
    to_ms: int
    samples: int = Field(description="stored samples (or events) replayed")
    points: list[tuple[int, float]] = Field(description="[ts_ms, value], thinned, to draw")
    intervals: list[IntervalOut]

    @classmethod
    def build(cls, preview: Preview) -> PreviewOut:
        return cls(device_id=preview.device.device_id, matches_target=preview.matches_target,
                   from_ms=preview.from_ms, to_ms=preview.to_ms, samples=preview.samples,
                   points=preview.points, intervals=[
                       IntervalOut(raised_ms=i.raised_ms, cleared_ms=i.cleared_ms,
                                   message=i.messages, value=i.value)
                       for i in preview.intervals])


@router.get("", response_model=list[RuleOut])
async def list_rules(rules: Rules, _: Staff) -> list[RuleOut]:
    """Every rule, enabled or not, by id."""
    return [RuleOut.build(rule) for rule in await rules.list_rules()]


@router.post("", response_model=RuleOut, status_code=status.HTTP_201_CREATED,
             responses={409: {"model": ErrorOut, "description": "the id is taken"}, **REFUSED})
async def create_rule(rules: Rules, principal: Facilities, body: RuleBody) -> RuleOut:
    """A new rule; it is judged from the next sample on."""
    return RuleOut.build(await rules.create(body, principal.name, now_ms()))


@router.get("/builtin", response_model=list[BuiltinOut])
async def list_builtins(rules: Rules, _: Staff) -> list[BuiltinOut]:
    """The alarms shipped in code, with staff's tuning (severity, delay, off)."""
    return [BuiltinOut.build(view) for view in await rules.builtins()]


@router.put("/builtin/{builtin_id}", response_model=BuiltinOut, responses=REFUSED)
async def tune_builtin(rules: Rules, principal: Facilities, builtin_id: BuiltinIdPath,
                       body: Annotated[dict[str, Any], Body(openapi_examples={"slower": {
                           "summary": "a held-open door only after 30 s more",
                           "value": {"severity": "minor", "enabled": True, "delay_s": 30}}})],
                       ) -> BuiltinOut:
    """Tune a built-in alarm: ``severity`` (null: the default), ``enabled``, ``delay_s``
    (raise only if nothing cleared it within that time; 0–3600)."""
    return BuiltinOut.build(await rules.tune(builtin_id, body, principal.name, now_ms()))


@router.delete("/builtin/{builtin_id}", response_model=BuiltinOut, responses=REFUSED)
async def reset_builtin(rules: Rules, principal: Facilities, builtin_id: BuiltinIdPath
                        ) -> BuiltinOut:
    """Back to the code's defaults."""
    return BuiltinOut.build(await rules.reset(builtin_id, principal.name, now_ms()))


@router.get("/audit", response_model=list[AuditOut])
async def list_audit(rules: Rules, _: Facilities,
                     rule_id: Annotated[str | None, Query(
                         pattern=r"^(builtin:)?[a-z0-9_.-]{1,64}$",
                         description="one rule's (or builtin:<id>)")] = None,
                     limit: Limit = 100) -> list[AuditOut]:
    """Who changed which rule when, with the rule before and after; newest first."""
    return [AuditOut.build(entry) for entry in await rules.audit(rule_id, limit)]


@router.post("/preview", response_model=PreviewOut,
             responses={404: {"model": ErrorOut, "description": "unknown device"}, **REFUSED})
async def preview_rule(rules: Rules, _: Facilities, body: PreviewIn) -> PreviewOut:
    """How a draft rule would have fired on one device over the last 24 h of its stored
    telemetry (or events): the intervals it would have been raised, and the samples to
    draw them over. Nothing is stored."""
    return PreviewOut.build(await rules.preview(body.rule, body.device_id, now_ms()))


@router.get("/{rule_id}", response_model=RuleOut, responses=NOT_FOUND)
async def get_rule(rules: Rules, _: Staff, rule_id: RuleIdPath) -> RuleOut:
    """One rule."""
    return RuleOut.build(await rules.get_rule(rule_id))


@router.put("/{rule_id}", response_model=RuleOut,
            responses={409: {"model": ErrorOut, "description": "changed meanwhile"},
                       **NOT_FOUND})
async def update_rule(rules: Rules, principal: Facilities, rule_id: RuleIdPath,
                      body: RuleBody,
                      version: Annotated[int | None, Query(
                          ge=1, le=2**31 - 1,
                          description="the version you edited: refused (409) if someone "
                                      "changed the rule since")] = None) -> RuleOut:
    """Replace a rule (its id stays); its alarms clear and it judges afresh."""
    return RuleOut.build(await rules.update(rule_id, body, principal.name, now_ms(), version))


@router.post("/{rule_id}/enable", response_model=RuleOut, responses=NOT_FOUND)
async def enable_rule(rules: Rules, principal: Facilities, rule_id: RuleIdPath) -> RuleOut:
    """Switch a rule on; repeating it changes nothing."""
    return RuleOut.build(await rules.set_enabled(rule_id, True, principal.name, now_ms()))


@router.post("/{rule_id}/disable", response_model=RuleOut, responses=NOT_FOUND)
async def disable_rule(rules: Rules, principal: Facilities, rule_id: RuleIdPath) -> RuleOut:
    """Switch a rule off: its active alarms clear. Repeating it changes nothing."""
    return RuleOut.build(await rules.set_enabled(rule_id, False, principal.name, now_ms()))


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_rule(rules: Rules, principal: Facilities, rule_id: RuleIdPath) -> Response:
    """Delete a rule; its active alarms clear."""
    await rules.delete(rule_id, principal.name, now_ms())
    return Response(status_code=status.HTTP_204_NO_CONTENT)

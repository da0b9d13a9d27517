"""Every machine code an API error can carry, with the parameters it carries.

An error answer is ``{"detail": "<English, for API users>", "code": "<one of these>",
"params": {...}}`` (docs/integration.md). ``detail`` may change wording; ``code`` and the
names in ``params`` are stable, so a client (the pages first: words-errors.js translates each
code in Chinese and English) can act on them or say them in the reader's language.

This enum is the one registry: an error raised on purpose names its code here
(``HallError(..., code=ErrorCode.X, name=value)``), the API's handlers map HTTP-level refusals
(validation, login, limits) to codes here, and a unit test checks that the pages translate
every member.
"""

# Codes that name passwords and tokens are not secrets (ruff S105).
# ruff: noqa: S105

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """A stable error code; ``params`` names what its answer's ``params`` object holds."""

    params: tuple[str, ...]

    def __new__(cls, value: str, *params: str) -> ErrorCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.params = params
        return member

    # -- generic: the fallback of each kind of refusal ----------------------------------------
    INTERNAL = "internal"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID = "invalid"                                  # a refused input; detail says which
    STORE_UNAVAILABLE = "store.unavailable"
    REQUEST_INVALID = "request.invalid", "field"         # validation (422); field: the first one
    REQUEST_TOO_LARGE = "request.too_large"
    REQUEST_TIMEOUT = "request.timeout"
    METHOD_NOT_ALLOWED = "request.method_not_allowed"
    # -- logins, tokens and roles -------------------------------------------------------------
    AUTH_INVALID_CREDENTIALS = "auth.invalid_credentials"
    AUTH_INVALID_TOKEN = "auth.invalid_token"
    AUTH_INVALID_API_KEY = "auth.invalid_api_key"
    AUTH_ACCOUNT_DISABLED = "auth.account_disabled"
    AUTH_LOGIN_LOCKED = "auth.login_locked", "retry_after_s"
    AUTH_BUSY = "auth.busy", "retry_after_s"
    AUTH_WRONG_PASSWORD = "auth.wrong_password"
    AUTH_ROLE_NEEDED = "auth.role_needed", "roles", "role"
    AUTH_SCOPE_NEEDED = "auth.scope_needed", "scope"
    AUTH_CSRF_FAILED = "auth.csrf_failed"              # a signed-on page's change without its token
    AUTH_LOCAL_LOGIN_OFF = "auth.local_login_off"      # local passwords for admins only
    SIGN_ON_REFUSED = "sign_on.refused", "reason"      # reason: sign_on's Refusal codes
    # -- users ----------------------------------------------------------------------------------
    USER_UNKNOWN = "user.unknown", "user"
    USER_EXISTS = "user.exists", "user"
    PASSWORD_TOO_SHORT = "password.too_short", "min"
    PASSWORD_TOO_LONG = "password.too_long", "max"
    PASSWORD_CONTAINS_USERNAME = "password.contains_username"
    PASSWORD_UNCHANGED = "password.unchanged"
    ADMIN_SELF_DEMOTE = "admin.self_demote"
    ADMIN_LAST = "admin.last"
    ADMIN_NO_LONGER = "admin.no_longer"
    # -- windows and tickets (the window terminal) --------------------------------------------
    WINDOW_UNKNOWN = "window.unknown", "window"
    WINDOW_OPEN_BY_OTHER = "window.open_by_other", "window", "clerk"
    WINDOW_NOT_OPEN = "window.not_open", "window"
    WINDOW_HAS_TICKET = "window.has_ticket", "window", "ticket", "state"
    WINDOW_NO_TICKET = "window.no_ticket", "window"
    WINDOW_CHANGED = "window.changed", "window"
    WINDOW_CALL_CONTENTION = "window.call_contention"
    WINDOW_NONE_PARKED = "window.none_parked", "window"
    WINDOW_SEVERAL_PARKED = "window.several_parked", "window", "tickets"
    WINDOW_NOT_PARKED_HERE = "window.not_parked_here", "window", "ticket"
    TICKET_UNKNOWN = "ticket.unknown", "ticket"
    TICKET_INVALID_MOVE = "ticket.invalid_move", "ticket", "move", "state"
    TICKET_RECALL_LIMIT = "ticket.recall_limit", "ticket"
    TICKET_ALREADY_IN_SERVICE = "ticket.already_in_service", "ticket", "service"
    TICKET_MOVED_MEANWHILE = "ticket.moved_meanwhile", "ticket", "state"
    TICKET_ALREADY_HELD = "ticket.already_held", "ticket", "service"
    COMPLETION_REASON_NEEDED = "completion.reason_needed"
    SERVICE_UNKNOWN = "service.unknown", "service"
    SERVICE_DAILY_CAP = "service.daily_cap", "service"
    SERVICE_NUMBER_IN_USE = "service.number_in_use", "service"
    HALL_CLOSED = "hall.closed"
    # -- browser kiosks ---------------------------------------------------------------------
    KIOSK_NOT_SET_UP = "kiosk.not_set_up"
    KIOSK_THROTTLED = "kiosk.throttled", "retry_after_s"
    KIOSK_KEY_UNKNOWN = "kiosk.key_unknown", "key"
    KIOSK_PAIRING_CODE_UNKNOWN = "kiosk.pairing_code_unknown"
    KIOSK_PAIRING_CODE_EXPIRED = "kiosk.pairing_code_expired"
    KIOSK_PAIRING_CODE_USED = "kiosk.pairing_code_used"
    KIOSK_PAIRING_THROTTLED = "kiosk.pairing_throttled", "retry_after_s"
    IDENTITY_UNKNOWN = "identity.unknown"        # a card or QR code nobody in the hall knows
    # -- devices, commands, alarms, provisioning ---------------------------------------------
    DEVICE_UNKNOWN = "device.unknown", "device"
    DEVICE_ID_IN_USE = "device.id_in_use", "device"
    DEVICE_OFFLINE = "device.offline", "device"
    DEVICE_NOT_ACCESS = "device.not_access", "device", "kind"
    DEVICE_NO_COMMAND_KEY = "device.no_command_key", "device"
    DEVICE_PROVISIONED = "device.provisioned", "device"
    DEVICE_REVOKED = "device.revoked", "device"
    DEVICE_NOT_PROVISIONED = "device.not_provisioned", "device"
    ACCESS_NO_SIGNING_KEY = "access.no_signing_key"
    ALARM_UNKNOWN = "alarm.unknown", "alarm"
    ALARM_CONDITION_HOLDS = "alarm.condition_holds", "condition"  # fleet/rules.py's codes
    NOTE_REQUIRED = "note.required", "field"   # a reboot, clearing a critical alarm: say why
    COMMAND_UNKNOWN = "command.unknown", "command"
    # -- access control ---------------------------------------------------------------------
    PERSON_UNKNOWN = "person.unknown", "person"
    SCHEDULE_UNKNOWN = "schedule.unknown", "schedule"
    SCHEDULE_IN_USE = "schedule.in_use", "schedule", "rules"
    RULE_UNKNOWN = "rule.unknown", "rule"
    RULE_EXISTS = "rule.exists"
    HOLIDAY_UNKNOWN = "holiday.unknown", "day"
    FACES_TOO_MANY = "faces.too_many", "max"
    ENROLMENT_REFUSED = "enrolment.refused", "photo", "reason"
    # -- online cases and the integration ----------------------------------------------------
    CASE_UNKNOWN = "case.unknown", "case"
    CASE_VERSION_CONFLICT = "case.version_conflict", "case"
    CASE_BUSY = "case.busy", "case"
    API_KEY_EXISTS = "api_key.exists", "key"
    API_KEY_UNKNOWN = "api_key.unknown", "key"
    WEBHOOK_UNKNOWN = "webhook.unknown", "webhook"
    DELIVERY_UNKNOWN = "delivery.unknown", "delivery"
    # -- alarm notification (hall_controller/notify) -----------------------------------------
    NOTIFY_INVALID = "notify.invalid", "field", "reason"   # reason: notify/rules.py's own code
    # -- alarm rules (hall_controller/alarm_rules) ----------------------------------------------
    ALARM_RULE_INVALID = "alarm_rule.invalid", "field", "reason"   # reason: the rule check's code


__all__ = ["ErrorCode"]

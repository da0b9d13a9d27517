"""The validated config as each part of the hall takes it: the controller's settings, the
queue's and the window terminal's, and the secrets kept in the data folder."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from hall.config import HallConfig, LoginConfig, QueueConfig
from hall_controller.queue.clerk import ClerkSettings
from hall_controller.queue.model import ServiceDef, WindowDef
from hall_controller.queue.rules import CallingPolicy
from hall_controller.queue.tickets import OpeningHours, QueueSettings
from hall_controller.runtime import ControllerSettings
from hall_controller.users.rules import ThrottlePolicy
from hall_controller.users.service import HashSlots

logger = logging.getLogger(__name__)


def controller_settings(config: HallConfig, mqtt_url: str) -> ControllerSettings:
    c = config.controller
    return ControllerSettings(
        mqtt_url=mqtt_url, topic_prefix=config.mqtt.topic_prefix, client_id=config.mqtt.client_id,
        shared_group=config.mqtt.shared_group, keepalive_s=config.mqtt.keepalive_s,
        queue_size=c.queue_size, batch_max=c.batch_max, max_payload_bytes=c.max_payload_bytes,
        command_timeout_s=c.command_timeout_s, command_ttl_s=c.command_ttl_s,
        presence_check_interval_s=c.presence_check_interval_s,
        inactivity_timeout_s=dict(c.inactivity_timeout_s),
        telemetry_retention_days=config.database.telemetry_retention_days,
    )


def queue_settings(queue: QueueConfig) -> QueueSettings:
    return QueueSettings(
        services=tuple(
            ServiceDef(code=s.code, name=s.name, prefix=s.prefix, first_number=s.first_number,
                       last_number=s.last_number, daily_cap=s.daily_cap,
                       target_wait_s=s.target_wait_min * 60, name_en=s.name_en)
            for s in queue.services),
        timezone=queue.timezone,
        opening_hours=None if queue.always_open else OpeningHours(
            queue.opens, queue.closes, frozenset(queue.open_days)),
        default_service_s=queue.default_service_s,
        windows=configured_windows(queue),
        rollover_at=queue.rollover_at,
        remote_checkin_window_min=queue.remote_checkin_window_min,
        housekeeping_interval_s=queue.housekeeping_interval_s,
    )


def configured_windows(queue: QueueConfig) -> tuple[WindowDef, ...]:
    """``[[queue.windows]]`` as the wait estimate needs them, read defensively: the section
    comes with the clerk side. Absent or unreadable: no windows, and the estimate assumes one
    window per service (``QueueSettings.estimate_windows``) and says so at start."""
    entries = getattr(queue, "windows", None)
    if not entries:
        return ()
    windows: list[WindowDef] = []
    try:
        for n, entry in enumerate(entries, start=1):
            window_id = getattr(entry, "window_id", None) or getattr(entry, "id", None)
            services = getattr(entry, "services", None)
            # Weights (skills routing) when given as a table, else every service weighs 1.
            weights = (dict(services) if isinstance(services, dict)
                       else dict.fromkeys(services or (), 1))
            weights = {str(code): int(weight) for code, weight in weights.items()}
            if window_id is None or not weights:
                raise ValueError(f"window #{n}: no id or no services")
            windows.append(WindowDef(window_id=str(window_id),
                                     number=int(getattr(entry, "number", n)),
                                     services=weights,
                                     area=str(getattr(entry, "area", "main-hall"))))
    except (TypeError, ValueError) as exc:
        logger.warning("queue.windows not understood for the wait estimate (%s); assuming one "
                       "window per service", exc)
        return ()
    return tuple(windows)


def clerk_settings(queue: QueueConfig) -> ClerkSettings:
    """The validated queue config as the clerk service takes it."""
    calling = queue.calling
    return ClerkSettings(
        windows=tuple(WindowDef(w.window_id, w.number, dict(w.services), w.area)
                      for w in queue.windows),
        services=tuple(ServiceDef(s.code, s.name, s.prefix, s.first_number, s.last_number,
                                  s.daily_cap, s.target_wait_min * 60, s.name_en)
                      for s in queue.services),
        policy=CallingPolicy(appointment_early_ms=calling.appointment_early_min * 60_000,
                             priority_calls=calling.priority_calls,
                             normal_calls=calling.normal_calls),
        max_recalls=calling.max_recalls,
        timezone=queue.timezone,
        rollover_at=queue.rollover_at,
    )


def throttle_policy(login: LoginConfig) -> ThrottlePolicy:
    """``[auth.login]`` as the login throttle takes it."""
    return ThrottlePolicy(
        max_failures_per_user=login.max_failures_per_user,
        max_failures_per_address=login.max_failures_per_address,
        failure_window_s=login.failure_window_s, lockout_base_s=login.lockout_base_s,
        lockout_max_s=login.lockout_max_s, tracked_keys=login.tracked_keys)


def hash_slots(login: LoginConfig) -> HashSlots:
    """The cap on concurrent argon2 hashes from ``[auth.login]``."""
    return HashSlots(size=login.hash_concurrency, wait_s=login.hash_wait_s)


def auth_secret(config: HallConfig) -> str:
    """The token signing key: configured, or generated once and kept in the data dir so tokens
    survive a restart."""
    return _secret(config, config.auth.secret, "auth-secret")


def command_secret(config: HallConfig) -> bytes:
    """The master secret door-command keys are derived from: configured, or generated once
    and kept in the data dir (the simulated locks of the demo derive theirs from it too)."""
    return _secret(config, config.access.command_secret, "command-secret").encode()


def _secret(config: HallConfig, configured: str, filename: str) -> str:
    if configured:
        return configured
    path = Path(config.data_dir) / filename
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret, encoding="utf-8")
    path.chmod(0o600)
    return secret


def controller_broker_password(config: HallConfig) -> str:
    """The controller's own password on the brokers ``hall`` runs or configures (the
    embedded broker, Mosquitto's password file): generated once into the data dir."""
    return _secret(config, "", "mqtt-controller-password")

"""``hall demo``'s simulated hall: the devices, the day so far, then the live hall.

1. The simulated fleet starts at once (its kiosks keep their doors shut for now).
2. The day so far is replayed through the real services (``simulators.hall_replay``): from
   ``queue.opens`` until now, or yesterday's whole day before opening, if that service day
   has no tickets yet. A hall watched for a few minutes then already has a day behind it.
3. The live hall, in real time (``demo.speed`` 1): kiosk visitors following the day's
   profile, a simulated clerk at each window (through the controller's window terminal), and
   the simulated online platform filing cases through the integration API with an API key of
   its own and following the case feed — the applicants the replay left on their way included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import httpx

from devices.contract import now_ms
from hall.config import HallConfig
from hall.demo_rules import ensure_demo_rules
from hall.settings import clerk_settings, command_secret, queue_settings
from hall_controller.access.service import AccessService
from hall_controller.alarm_rules.service import AlarmRuleService
from hall_controller.cases.integration_keys import ApiKeyService
from hall_controller.cases.rules import Scope
from hall_controller.fleet.provisioning import ProvisioningService
from hall_controller.queue.clerk import ClerkService
from hall_controller.queue.remote_tickets import RemoteTicketService
from hall_controller.queue.service_day import service_day_at
from simulators.access_roster import simulated_roster
from simulators.clerks import ClerkPlan, run_clerks, simulated_clerk_name
from simulators.fleet import DeviceCredentials, build_fleet, fleet_plan, run_agents
from simulators.hall_replay import ReplayPlan, ReplayResult, build_replay
from simulators.kiosk import SimulatedKiosk
from simulators.live_hall import give_visitors
from simulators.online_platform import (
    HttpCaseDesk,
    OnlineApplicant,
    OnlinePlatform,
    PlatformPlan,
    PlatformState,
    run_platform,
)
from simulators.visitors import DayProfile, VisitorPlan

if TYPE_CHECKING:
    from hall.assembly import Hall, PostgresAdapters

logger = logging.getLogger(__name__)

PLATFORM_KEY_FILE = "demo-platform-key"
PLATFORM_KEY_NAME = "simulated online platform (hall demo)"


@dataclass(frozen=True, slots=True)
class DemoPlans:
    """``[demo]`` as the simulators take it."""

    walk_ins: VisitorPlan      # at the kiosks (all kiosks together; give_visitors splits it)
    filings: VisitorPlan       # cases the online platform files, per hour and service
    clerks: ClerkPlan
    platform: PlatformPlan

    def replay(self) -> ReplayPlan:
        return ReplayPlan(walk_ins=self.walk_ins, filings=self.filings, clerks=self.clerks,
                          arrive_after_s=self.platform.arrive_after_s,
                          return_after_s=self.platform.return_after_s)


def demo_plans(config: HallConfig) -> DemoPlans:
    demo = config.demo
    codes = [s.code for s in config.queue.services]
    profile = DayProfile(timezone=config.queue.timezone)
    walk_ins = VisitorPlan.even(codes, demo.visitors_per_hour * (1 - demo.online_share),
                                speed=demo.speed, identity_share=demo.identity_share,
                                priority_share=demo.priority_share, profile=profile)
    filings = VisitorPlan.even(codes, demo.visitors_per_hour * demo.online_share,
                               speed=demo.speed, priority_share=demo.priority_share,
                               profile=profile)
    clerks = ClerkPlan(speed=demo.speed, service_mean_s=demo.service_mean_min * 60,
                       no_show_share=demo.no_show_share, pending_share=demo.pending_share)
    return DemoPlans(walk_ins, filings, clerks, PlatformPlan(filings))


@dataclass(frozen=True, slots=True)
class ReplaySpan:
    service_day: str
    from_ms: int
    until_ms: int
    drain: bool       # the day is over: the clerks serve the queue to its end


def replay_span(config: HallConfig, now_ms: int) -> ReplaySpan:
    """What to replay at ``now_ms``: today's service day from opening until now (until
    closing, then drained, once the hall has closed); before opening, yesterday's whole day."""
    queue = config.queue
    zone = ZoneInfo(queue.timezone)
    day = date.fromisoformat(service_day_at(now_ms, zone, queue.rollover_at))

    def at(d: date, t: time) -> int:
        return int(datetime.combine(d, t, tzinfo=zone).timestamp() * 1000)

    opens, closes = at(day, queue.opens), at(day, queue.closes)
    if now_ms < opens:
        day -= timedelta(days=1)
        return ReplaySpan(day.isoformat(), at(day, queue.opens), at(day, queue.closes), True)
    return ReplaySpan(day.isoformat(), opens, min(now_ms, closes), now_ms >= closes)


@dataclass(frozen=True, slots=True)
class Replayed:
    result: ReplayResult
    platform: PlatformState   # the replay's applicants and feed cursor, for the live platform


async def replay_day(config: HallConfig, stores: PostgresAdapters, plans: DemoPlans,
                     now_ms: int) -> Replayed | None:
    """Replay the span ``replay_span`` names, unless its service day has tickets already
    (a restart, or a hall that ran then): None when nothing was replayed."""
    span = replay_span(config, now_ms)
    existing = await stores.stats.service_day_stats(span.service_day)
    if sum(s.tickets for s in existing):
        logger.info("demo: %s has tickets already; not replayed", span.service_day)
        return None
    logger.info("demo: replaying %s %s-%s through the services ...", span.service_day,
                _hhmm(config, span.from_ms), _hhmm(config, span.until_ms))
    replay = build_replay(
        tickets=stores.tickets, reader=stores.tickets, moves=stores.moves,
        cases=stores.cases, ticket_cases=stores.ticket_cases,
        queue=queue_settings(config.queue), clerk=clerk_settings(config.queue),
        plan=plans.replay(), seed=f"demo:{span.service_day}")
    result = await replay.run(span.from_ms, span.until_ms, drain=span.drain)
    result.due = [] if span.drain else result.due   # a day over: they come another day
    logger.info(
        "demo: replayed %s %s-%s in %.1f s: %d tickets (%d linked to online cases, %d second "
        "visits), %d completed (%d pending materials), %d no-shows; %d applicants still on "
        "their way", span.service_day, _hhmm(config, span.from_ms), _hhmm(config, result.to_ms),
        result.wall_s, result.tickets, result.linked, result.second_visits, result.completed,
        result.pending, result.no_shows, len(result.due))
    logger.info("demo: the replayed day's statistics: %s/pages/stats.html?day=%s",
                api_base(config).removesuffix("/api/v1"), span.service_day)
    return Replayed(result, replay.platform.state)


def _hhmm(config: HallConfig, at_ms: int) -> str:
    zone = ZoneInfo(config.queue.timezone)
    return datetime.fromtimestamp(at_ms / 1000, tz=zone).strftime("%H:%M")


async def platform_api_key(config: HallConfig, stores: PostgresAdapters) -> str:
    """The simulated platform's API key (cases:write, events:read): the one kept in the data
    folder while it is still valid, else a new one, created as an admin would."""
    keys = ApiKeyService(stores.cases)
    path = Path(config.data_dir) / PLATFORM_KEY_FILE
    if await asyncio.to_thread(path.is_file):
        kept = (await asyncio.to_thread(path.read_text, encoding="utf-8")).strip()
        if await keys.resolve(kept) is not None:
            return kept
    issued = await keys.create(PLATFORM_KEY_NAME, [Scope.CASES_WRITE, Scope.EVENTS_READ], "demo")

    def keep() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(issued.plaintext, encoding="utf-8")
        path.chmod(0o600)

    await asyncio.to_thread(keep)
    return issued.plaintext


def api_base(config: HallConfig) -> str:
    host = config.http.host if config.http.host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104 - compared, not bound
    return f"http://{host}:{config.http.port}/api/v1"


async def _api_up(client: httpx.AsyncClient, deadline_s: float = 60.0) -> None:
    """Wait until the API answers (it starts beside the simulated hall)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + deadline_s
    while True:
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if loop.time() > until:
            raise RuntimeError("the API did not answer; the online platform stays away")
        await asyncio.sleep(0.2)


async def provision_simulated_devices(provisioning: ProvisioningService, mqtt_url: str,
                                      devices_per_kind: int) -> dict[str, DeviceCredentials]:
    """Provision the demo's simulated devices as an admin would (``hall devices provision``),
    so they log in and sign as real ones. One provisioned before (an earlier run) is re-keyed:
    only its hash was kept. One an admin revoked stays revoked, and is refused when it tries."""
    credentials: dict[str, DeviceCredentials] = {}
    for spec in fleet_plan(devices_per_kind=devices_per_kind):
        existing = await provisioning.get(spec.device_id)
        if existing is None:
            bundle = await provisioning.provision(spec.device_id, spec.kind, "main-hall", "demo")
        elif existing.active:
            bundle = await provisioning.rekey(spec.device_id, "demo")
        else:
            logger.warning("demo: %s was revoked by %s; it runs without credentials and is "
                           "refused", spec.device_id, existing.revoked_by)
            continue
        credentials[spec.device_id] = DeviceCredentials(bundle.broker_url(mqtt_url),
                                                        bundle.command_key)
    logger.info("demo: %d simulated devices provisioned", len(credentials))
    return credentials


async def run_simulated_hall(config: HallConfig, mqtt_url: str, hall: Hall, *,
                             devices_per_kind: int) -> None:
    """The demo's devices, replayed day and live hall, until cancelled."""
    demo = config.demo
    plans = demo_plans(config)
    credentials = await provision_simulated_devices(
        hall.controller.services.get(ProvisioningService), mqtt_url, devices_per_kind)
    agents = build_fleet(mqtt_url, config.mqtt.topic_prefix, Path(config.data_dir) / "edge",
                         devices_per_kind=devices_per_kind,
                         telemetry_interval_s=demo.telemetry_interval_s, durable=True,
                         master_secret=command_secret(config), credentials=credentials)
    access = hall.controller.services.find(AccessService)
    if access is not None:
        # The controller checks every grant against its own policy: the people the simulated
        # gates and locks let in are enrolled there first, as an admin would have.
        roster = simulated_roster(fleet_plan(devices_per_kind=devices_per_kind))
        written = await access.ensure_roster(roster.people, roster.rules, "demo")
        logger.info("demo: %d simulated people and %d rules enrolled (%d written now)",
                    len(roster.people), len(roster.rules), written)
    kiosks = give_visitors(agents, plans.walk_ins) if demo.live_queue else []
    for kiosk in kiosks:
        kiosk.doors_open.clear()   # until the replayed day is in the queue
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(run_agents(agents), name="demo-fleet")
        rules = hall.controller.services.find(AlarmRuleService)
        if rules is not None:
            tasks.create_task(ensure_demo_rules(rules, hall.controller.registry),
                              name="demo-alarm-rules")
        if not demo.live_queue:
            return
        replayed: Replayed | None = None
        if demo.replay_day:
            remote = hall.controller.services.find(RemoteTicketService)
            try:
                # The rollover would close a replayed earlier day's tickets mid-replay (the
                # demo started between the rollover and opening time replays yesterday).
                async with (remote.rollover_held() if remote is not None
                            else contextlib.nullcontext()):
                    replayed = await replay_day(config, hall.adapters, plans, now_ms())
            except Exception:
                # A loop boundary of sorts: the demo goes on live without the day so far.
                logger.exception("demo: the replay failed; the live hall starts without it")
        for kiosk in kiosks:
            kiosk.doors_open.set()
        terminal = hall.controller.services.find(ClerkService)
        if terminal is None:
            return
        simulated = simulated_clerk_windows(config)
        await _free_windows_from_simulated_clerks(terminal, config, simulated)
        tasks.create_task(run_clerks(terminal, simulated, plans.clerks), name="demo-clerks")
        tasks.create_task(_live_platform(config, hall.adapters, plans, kiosks, replayed),
                          name="demo-platform")


def simulated_clerk_windows(config: HallConfig) -> list[str]:
    """The windows the demo's simulated clerks work: all but the highest-numbered
    ``demo.free_windows_per_area`` of each area, which wait for a real clerk."""
    by_area: dict[str, list[int]] = {}
    for w in config.queue.windows:
        by_area.setdefault(w.area, []).append(w.number)
    keep = config.demo.free_windows_per_area
    free = {(area, n) for area, numbers in by_area.items()
            for n in sorted(numbers)[max(0, len(numbers) - keep):] if keep}
    return [w.window_id for w in config.queue.windows if (w.area, w.number) not in free]


async def _free_windows_from_simulated_clerks(terminal: ClerkService, config: HallConfig,
                                              simulated: list[str]) -> None:
    """A window left free may still be held by the simulated clerk of an earlier run (with
    other settings): close it, so a real clerk can open it."""
    for window in config.queue.windows:
        if window.window_id in simulated:
            continue
        session = (await terminal.status(window.window_id)).session
        if session is not None and session.clerk == simulated_clerk_name(window.window_id):
            await terminal.force_close(window.window_id, "demo",
                                       "left free for a real clerk (demo.free_windows_per_area)")


async def _live_platform(config: HallConfig, stores: PostgresAdapters, plans: DemoPlans,
                         kiosks: list[SimulatedKiosk], replayed: Replayed | None) -> None:
    if not kiosks or config.demo.online_share <= 0:
        return
    rng = random.Random()  # simulated applicants, not secrets
    # httpx logs every request at INFO: the platform reads the feed every 2 s.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    api_key = await platform_api_key(config, stores)
    state = None if replayed is None else replayed.platform

    def send(applicant: OnlineApplicant) -> bool:
        return bool(rng.choice(kiosks).send_visitor(applicant.ticket_params()))

    async with httpx.AsyncClient(base_url=api_base(config), timeout=10.0) as client:
        platform = OnlinePlatform(HttpCaseDesk(client, api_key), rng,
                                  priority_share=config.demo.priority_share, state=state)

        async def ready() -> None:
            await _api_up(client)
            if state is None:
                await platform.skip_feed()   # earlier runs' events are not this platform's
            logger.info("demo: the simulated online platform files cases through %s/integration "
                        "(API key %s...)", api_base(config), api_key[:15])

        await run_platform(platform, plans.platform, send, rng=rng, ready=ready,
                           # A day replayed until now hands over who is on their way; else
                           # the platform starts as if it had been filing all along.
                           due=None if replayed is None or not replayed.result.due
                           else replayed.result.due)


__all__ = ["DemoPlans", "ReplaySpan", "Replayed", "demo_plans", "platform_api_key",
           "replay_day", "replay_span", "run_simulated_hall",
           "simulated_clerk_windows"]

"""The HTTP API over a store and the services a test gives, as ``create_app`` gets them from
the composition root: the fleet's services over ``store``, an authenticator with cheap
hashing, and each given feature service under its own class."""

from __future__ import annotations

from fastapi import FastAPI

from api import Authenticator, create_app
from hall_controller.fleet.alarm_clearing import StaffAlarmClearing
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.commands import CommandService
from hall_controller.fleet.health import HealthService
from hall_controller.fleet.ports import CommandSender, HallStore, HealthProbe
from hall_controller.fleet.views import FleetViews
from hall_controller.kernel.services import Services
from hall_controller.users.memory_store import MemoryUserStore
from hall_controller.users.ports import UserStore
from tests.unit.api_support import FakeCommandSender, FakeHealth, authenticator


def api_services(store: HallStore, *features: object, commands: CommandSender | None = None,
                 health: HealthProbe | None = None, auth: Authenticator | None = None,
                 users: UserStore | None = None) -> Services:
    """``commands`` and ``health`` stand in for the controller's (default: the fakes of
    ``tests.unit.api_support``); ``auth`` defaults to the tests' cheap authenticator over
    ``users`` (default: ``store`` when it keeps users too, else an empty memory store)."""
    if users is None:
        users = store if isinstance(store, UserStore) else MemoryUserStore()
    services = Services()
    services.add(FleetViews(store))
    alarms = AlarmService(store)
    services.add(alarms)
    services.add(StaffAlarmClearing(alarms, store))
    services.add(FakeCommandSender(store) if commands is None else commands,
                 as_type=CommandService)
    services.add(FakeHealth() if health is None else health, as_type=HealthService)
    services.add(authenticator(users) if auth is None else auth)
    for feature in features:
        services.add(feature)
    return services


def api_app(store: HallStore, *features: object, commands: CommandSender | None = None,
            health: HealthProbe | None = None, auth: Authenticator | None = None,
            users: UserStore | None = None) -> FastAPI:
    """``create_app`` over :func:`api_services`."""
    return create_app(api_services(store, *features, commands=commands, health=health,
                                   auth=auth, users=users))

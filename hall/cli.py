"""The ``hall`` command.

    hall demo                     embedded broker + database + controller + API + simulated hall
    hall controller               the controller and its API (embedded broker/db when not configured)
    hall edge                     one simulated edge agent from the [edge] config section
    hall simulate --devices N     N simulated devices against the configured broker
    hall db migrate               apply database migrations
    hall devices provision ID --kind K [--site S]   a device's credentials, printed once
    hall devices rekey ID | revoke ID | list        re-key, revoke, list provisioned devices
    hall devices mosquitto-files --password-file P --acl-file A   Mosquitto's auth files
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hall.config import ConfigError, HallConfig, load_config
from hall.stopping import cancel_and_wait, run_until_signalled

if TYPE_CHECKING:
    from edge.settings import AgentSettings
    from hall.assembly import Hall
    from hall.infrastructure import BrokerEndpoint

logger = logging.getLogger("hall")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hall", description="Campus service-hall controller")
    parser.add_argument("--config", type=Path, default=None,
                        help="config file (default: ./config.toml if present)")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run everything on one box with a simulated hall")
    demo.add_argument("--devices-per-kind", type=int, default=None)

    sub.add_parser("controller", help="run the hall controller and its HTTP API")
    sub.add_parser("edge", help="run the one edge agent described in the [edge] config section")

    simulate = sub.add_parser("simulate", help="simulated devices against the configured broker")
    simulate.add_argument("--devices", type=int, required=True, help="how many devices in all")
    simulate.add_argument("--interval", type=float, default=None,
                          help="seconds between telemetry messages of one device")
    simulate.add_argument("--durable", action="store_true",
                          help="give every simulated agent a durable outbox on disk")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    db_sub.add_parser("migrate", help="apply pending migrations")

    devices = sub.add_parser("devices", help="device identity: provision, re-key, revoke")
    dev_sub = devices.add_subparsers(dest="devices_command", required=True,
                                     metavar="DEVICES_COMMAND")
    provision = dev_sub.add_parser("provision", help="create a device's credentials and print "
                                                     "its one-time bundle (config.toml tables)")
    provision.add_argument("device_id")
    provision.add_argument("--kind", required=True, choices=[k.value for k in _device_kinds()])
    provision.add_argument("--site", default="")
    for name, text in (("rekey", "a new password and command key (the old ones stop working)"),
                       ("revoke", "shut the device out (the broker refuses its next login)")):
        dev_sub.add_parser(name, help=text).add_argument("device_id")
    dev_sub.add_parser("list", help="provisioned devices and their status (no secrets)")
    files = dev_sub.add_parser("mosquitto-files",
                               help="write Mosquitto's password and ACL files from the database")
    files.add_argument("--password-file", type=Path, required=True)
    files.add_argument("--acl-file", type=Path, required=True)
    files.add_argument("--controller-password-file", type=Path, default=None,
                       help="where the controller's own broker password is kept (default: "
                            "the data dir's mqtt-controller-password, generated once)")
    return parser


def _device_kinds() -> list[Any]:
    from devices.kinds import DeviceKind

    return list(DeviceKind)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    # pgserver narrates initdb and pg_ctl at INFO; the console is for the hall.
    logging.getLogger("pgserver").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"hall: {exc}", file=sys.stderr)
        sys.exit(2)
    commands: dict[str, Callable[[HallConfig, argparse.Namespace], Coroutine[Any, Any, None]]] = {
        "demo": _demo, "controller": _controller, "edge": _edge, "simulate": _simulate,
        "db": _db, "devices": _devices,
    }
    from hall_controller.kernel.postgres.migrate import MigrationError

    try:
        run_until_signalled(commands[args.command](config, args))
    except ConfigError as exc:
        print(f"hall: {exc}", file=sys.stderr)
        sys.exit(2)
    except MigrationError as exc:
        # A migration refused to run or failed: its message says why, and what to do.
        print(f"hall: {exc}", file=sys.stderr)
        sys.exit(1)


# -- subcommands ---------------------------------------------------------------------------


async def _serve_controller(config: HallConfig, broker: BrokerEndpoint, dsn: str,
                            *, then: Callable[[str, Hall], Coroutine[Any, Any, None]] | None = None,
                            admin_password: str | None = None) -> None:
    """Controller + API until cancelled; ``then`` runs beside them (the demo's simulated hall),
    given the broker's URL without the controller's login."""
    import uvicorn

    from hall.assembly import assemble
    from hall_controller.fleet.provisioning import ProvisioningService

    async with assemble(config, broker.url, dsn, admin_password=admin_password) as hall:
        controller = hall.controller
        # The embedded broker checks device logins against the provisioned devices.
        broker.attach(controller.services.get(ProvisioningService), hall.adapters.provisioning)
        forwarders = config.http.forwarded_allow_ips
        server = uvicorn.Server(uvicorn.Config(hall.app, host=config.http.host,
                                               port=config.http.port,
                                               # The client address throttles logins: only
                                               # a configured proxy may name another one
                                               # (uvicorn alone trusts 127.0.0.1).
                                               proxy_headers=bool(forwarders),
                                               forwarded_allow_ips=forwarders or None,
                                               log_level="warning", lifespan="off",
                                               # Backstop: page streams end when the feed
                                               # closes, but never wait long for a client.
                                               timeout_graceful_shutdown=3))
        async with controller.running(), asyncio.TaskGroup() as tasks:
            api_task = tasks.create_task(server.serve(), name="http-api")
            hall_task: asyncio.Task[None] | None = None
            try:
                await controller.bus.connected.wait()
                if then is not None:
                    hall_task = tasks.create_task(then(broker.device_url, hall), name="demo-hall")
                await api_task
                # uvicorn returns (instead of raising) when it cannot bind its port.
                if not server.started:
                    raise ConfigError(f"http.port: cannot listen on {config.http.host}:"
                                      f"{config.http.port} (in use? set HALL_HTTP_PORT)")
            finally:
                if hall_task is not None:
                    # Stop the simulated devices first and give their goodbyes a moment to be
                    # committed, so the next start does not find them "online" in the database.
                    await cancel_and_wait(hall_task, "the simulated hall")
                    await _drained(controller, timeout_s=3.0)
                hall.adapters.live.hub.close()  # end the pages' streams, or uvicorn waits
                server.should_exit = True


async def _drained(controller: Any, timeout_s: float) -> None:
    """Wait until the controller has committed what it received (bounded)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    await asyncio.sleep(0.3)  # the broker still has the last goodbyes in flight
    while controller.pipeline.queue_depth and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


def _broker_line(url: str) -> str:
    """The broker as the demo prints it: address, and for TLS the CA file clients need."""
    from devices.broker_address import BrokerAddress

    address = BrokerAddress.parse(url)
    if address.tls is None:
        return address.display
    return f"{address.display} (TLS; CA: {address.tls.ca_file or 'system store'})"


def _admin_password_line(config: HallConfig, generated: str, hall: Hall) -> str:
    """What the demo says about the admin's password: the one it generated only when that
    created the admin; with data from an earlier run the admin keeps their password."""
    if not hall.admin_created:
        return ("(unchanged: the existing admin's password; HALL_ADMIN_PASSWORD only creates "
                "the first admin)")
    return generated if not config.auth.admin_password else "(the HALL_ADMIN_PASSWORD you set)"


def _windows_line(config: HallConfig, base: str) -> str:
    from hall.demo import simulated_clerk_windows

    simulated = simulated_clerk_windows(config) if config.demo.live_queue else []
    free = [w.window_id for w in config.queue.windows if w.window_id not in simulated]
    return (f"  Windows:  {', '.join(simulated) or 'none'} worked by simulated clerks; "
            f"{', '.join(free) or 'none'} free for you: {base}/pages/window.html")


async def _demo(config: HallConfig, args: argparse.Namespace) -> None:
    from hall.demo_mail import demo_mailbox

    # Alarm notifications go to a local mailbox unless [notify.email] names a server.
    with demo_mailbox(config) as (mailing, mailbox):
        await _demo_with(mailing, args, mailbox)


async def _demo_with(config: HallConfig, args: argparse.Namespace, mailbox: Path | None) -> None:
    from hall.demo import run_simulated_hall
    from hall.demo_mail import demo_rota
    from hall.infrastructure import database_url, hall_broker
    from hall_controller.notify.directory import NotifyDirectory

    per_kind = args.devices_per_kind if args.devices_per_kind is not None else config.demo.devices_per_kind
    admin_password = config.auth.admin_password or secrets.token_urlsafe(12)
    data_dir = Path(os.path.abspath(config.data_dir))  # noqa: ASYNC240 - string work only
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    demo = config.demo

    async with hall_broker(config) as broker, database_url(config) as dsn:

        async def simulated_hall(url: str, hall: Hall) -> None:
            """The simulated devices, the day so far (replayed) and the live hall: kiosk
            visitors, a simulated clerk per window (calling through the controller's window
            terminal, so calls reach the displays as a real terminal's do) and the simulated
            online platform (``hall.demo``)."""
            base = f"http://{config.http.host}:{config.http.port}"
            queue_line = ("off" if not demo.live_queue else
                          f"{demo.visitors_per_hour:g} visitors/h in an ordinary hour (morning "
                          f"peak), {demo.online_share:.0%} of them for online cases; "
                          + ("real time" if demo.speed == 1 else f"{demo.speed:g}x real time")
                          + ("; the day so far replayed first" if demo.replay_day else ""))
            print("\n".join([
                "",
                "  Campus hall demo is running.",
                f"  API:      {base}/api/v1/devices   (docs: {base}/docs)",
                f"  Pages:    {base}/pages/   (statistics: {base}/pages/stats.html)",
                "  Login:    admin / " + _admin_password_line(config, admin_password, hall),
                f"  Broker:   {_broker_line(url)}   topics under {config.mqtt.topic_prefix}/",
                f"  Data:     {data_dir}",
                f"  Devices:  {per_kind} of each kind, simulated",
                f"  Queue:    {queue_line}",
                _windows_line(config, base),
                f"  Kiosk:    {base}/pages/kiosk.html asks for a pairing code: log in as admin on "
                f"{base}/pages/users.html, 自助机密钥 / Kiosk keys → 生成配对码 (10 min, once)",
                f"  Display:  {base}/pages/display.html (public; double-click it and log in "
                "for sound, full screen and language)",
                *([f"  Alarms:   mailed to a local mailbox ({mailbox}); who gets them: "
                   f"{base}/pages/notify-rota.html, the delivery log: "
                   f"{base}/pages/notify-settings.html"] if mailbox is not None else []),
                "  Stop with Ctrl-C.",
                "",
            ]), flush=True)
            directory = hall.controller.services.find(NotifyDirectory)
            if mailbox is not None and directory is not None:
                await demo_rota(directory)
            await run_simulated_hall(config, url, hall, devices_per_kind=per_kind)

        await _serve_controller(config, broker, dsn, then=simulated_hall,
                                admin_password=admin_password)


async def _controller(config: HallConfig, args: argparse.Namespace) -> None:
    from hall.infrastructure import database_url, hall_broker

    async with hall_broker(config) as broker, database_url(config) as dsn:
        logger.info("broker %s; API on http://%s:%d", _broker_line(broker.device_url),
                    config.http.host,
                    config.http.port)
        admin = config.auth.admin_password or None  # creates the first admin only
        await _serve_controller(config, broker, dsn, admin_password=admin)


async def _edge(config: HallConfig, args: argparse.Namespace) -> None:
    from simulators.fleet import build_agent

    if not config.mqtt.url:
        raise ConfigError("mqtt.url: an edge agent needs a broker; set HALL_MQTT_URL")
    e = config.edge
    if e.camera:
        await _face_gate(config)
        return
    hw = e.hardware
    if any((hw.printer, hw.card_reader, hw.lock_board, hw.led_display)):
        await _hardware_agent(config)
        return
    # A simulated device of [edge]'s kind, with the command key of its provisioning bundle
    # (without one, a lock's key is derived from the demo master secret).
    from simulators.fleet import DeviceCredentials

    credentials = (DeviceCredentials(config.edge_broker_url, bytes.fromhex(e.command_key))
                   if e.command_key else None)
    agent = build_agent(config.edge_broker_url, config.mqtt.topic_prefix,
                        Path(config.data_dir) / "edge",
                        device_id=e.device_id, kind=e.kind, model=e.model, fw=e.fw, site=e.site,
                        telemetry_interval_s=e.telemetry_interval_s, credentials=credentials)
    await agent.run()


def _agent_settings(config: HallConfig) -> AgentSettings:
    """The one agent ``hall edge`` runs, as ``[edge]`` describes it."""
    from edge.settings import AgentSettings, command_key_from_hex

    e = config.edge
    return AgentSettings(
        device_id=e.device_id, kind=e.kind, broker_url=config.edge_broker_url, model=e.model, fw=e.fw,
        site=e.site, topic_prefix=config.mqtt.topic_prefix,
        data_dir=Path(config.data_dir) / "edge" / e.device_id,
        telemetry_interval_s=e.telemetry_interval_s,
        command_key=command_key_from_hex(e.command_key) if e.command_key else None)


async def _hardware_agent(config: HallConfig) -> None:
    """A kiosk, door or display driving its serial hardware ([edge.hardware], docs/hardware.md)."""
    from edge.agent import EdgeAgent
    from edge.drivers import hardware_driver

    e = config.edge
    print(f"{e.kind.value} {e.device_id} with serial hardware, broker {config.mqtt.url}; "
          "Ctrl-C stops", flush=True)
    settings = _agent_settings(config)
    assert settings.data_dir is not None
    driver = hardware_driver(e.kind, e.hardware, e.card_service, settings.data_dir / "access",
                             device_key=settings.command_key)
    await EdgeAgent(settings, driver).run()


async def _face_gate(config: HallConfig) -> None:
    """A real face gate: camera, face_recognition, the synced gallery and rules."""
    from devices.kinds import DeviceKind
    from edge.agent import EdgeAgent
    from edge.face_gate import FaceGateDriver, GateSettings, RelayTurnstile

    e = config.edge
    if e.kind is not DeviceKind.FACE_GATE:
        raise ConfigError(f"edge.camera: only a face_gate has a camera (edge.kind is {e.kind.value})")
    settings = _agent_settings(config)
    assert settings.data_dir is not None
    # The turnstile's relay: a lock board on RS-485 ([edge.hardware.lock_board]), if wired.
    turnstile = RelayTurnstile(e.hardware.lock_board) if e.hardware.lock_board else None
    driver = FaceGateDriver(GateSettings(source=e.camera, state_dir=settings.data_dir / "access"),
                            turnstile=turnstile, device_key=settings.command_key)
    print(f"face gate {e.device_id}: camera {e.camera!r}, broker {config.mqtt.url}; Ctrl-C stops",
          flush=True)
    await EdgeAgent(settings, driver).run()


async def _simulate(config: HallConfig, args: argparse.Namespace) -> None:
    from simulators.fleet import run_fleet

    if not config.mqtt.url:
        raise ConfigError("mqtt.url: simulated devices need a broker to talk to; set HALL_MQTT_URL")
    if args.devices < 1:
        raise ConfigError("--devices: expected at least 1")
    interval = args.interval or config.demo.telemetry_interval_s
    print(f"simulating {args.devices} devices against {config.mqtt.url}, telemetry every "
          f"{interval} s; Ctrl-C stops", flush=True)
    await run_fleet(config.mqtt.client_url, config.mqtt.topic_prefix, Path(config.data_dir) / "edge",
                    count=args.devices, telemetry_interval_s=interval, durable=args.durable)


async def _db(config: HallConfig, args: argparse.Namespace) -> None:
    from hall.infrastructure import database_url
    from hall_controller.kernel.postgres.migrate import apply_migrations

    async with database_url(config) as dsn:
        applied = await apply_migrations(dsn)
        print("applied: " + ", ".join(applied) if applied else "database is up to date")


async def _devices(config: HallConfig, args: argparse.Namespace) -> None:
    from devices.kinds import DeviceKind
    from hall.infrastructure import database_url
    from hall.provisioning_files import controller_username, write_mosquitto_files
    from hall_controller.fleet.postgres_provisioning import PostgresProvisioningStore
    from hall_controller.fleet.provisioning import ProvisioningService
    from hall_controller.kernel.errors import HallError
    from hall_controller.kernel.postgres.connections import open_pool
    from hall_controller.kernel.postgres.migrate import apply_migrations

    actor = "cli:" + (os.environ.get("SUDO_USER") or os.environ.get("USER") or "unknown")
    async with database_url(config) as dsn:
        await apply_migrations(dsn)
        async with open_pool(dsn, name="hall-devices", application_name="hall devices",
                             min_size=1, max_size=2, timeout_s=15.0) as pool:
            store = PostgresProvisioningStore(pool)
            provisioning = ProvisioningService(
                store, broker_url=_device_broker_url(config),
                topic_prefix=config.mqtt.topic_prefix,
                reserved=(config.mqtt.client_id, controller_username(config)))
            command = args.devices_command
            try:
                if command == "provision":
                    bundle = await provisioning.provision(args.device_id, DeviceKind(args.kind),
                                                          args.site, actor)
                    print(bundle.to_toml(provisioning.broker_url, provisioning.topic_prefix),
                          end="", flush=True)
                elif command == "rekey":
                    bundle = await provisioning.rekey(args.device_id, actor)
                    print(bundle.to_toml(provisioning.broker_url, provisioning.topic_prefix),
                          end="", flush=True)
                elif command == "revoke":
                    revoked = await provisioning.revoke(args.device_id, actor)
                    print(f"{revoked.device_id}: revoked by {revoked.revoked_by}")
                elif command == "list":
                    for c in await provisioning.all():
                        print(f"{c.device_id}\t{c.kind.value}\t{c.site or '-'}\t{c.status.value}")
                else:
                    written = await asyncio.to_thread(
                        write_mosquitto_files, config, await provisioning.all(),
                        args.password_file, args.acl_file, args.controller_password_file)
                    print(written)
            except HallError as exc:
                print(f"hall: {exc}", file=sys.stderr)
                sys.exit(1)


def _device_broker_url(config: HallConfig) -> str:
    """Where the bundles tell devices to connect."""
    if config.devices.broker_url or config.mqtt.url:
        return config.devices.broker_url or config.mqtt.url
    embedded = config.mqtt.embedded
    if not embedded.tls:
        return f"mqtt://{embedded.host}:{embedded.port or 1883}"
    # The embedded broker is TLS-only with the hall's own CA (hall.tls): devices need its file.
    from devices.broker_address import with_tls_files
    from hall.tls import broker_certificate_files

    ca_file = broker_certificate_files(Path(os.path.abspath(config.data_dir))).ca_file
    return with_tls_files(f"mqtts://{embedded.host}:{embedded.port or 8883}",
                          ca_file=str(ca_file))


if __name__ == "__main__":
    main()

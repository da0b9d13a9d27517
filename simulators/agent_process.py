"""One simulated device as its own OS process (tests SIGKILL it to see the last will).

    python -m simulators.agent_process --device-id kiosk-07 --kind kiosk \\
        --broker-url mqtt://127.0.0.1:1883 --prefix hall/v1 --data-dir .hall-data/edge

SIGTERM or Ctrl-C stops it cleanly (it publishes its offline state itself); SIGKILL leaves
the broker to publish the last will.

With serial hardware (docs/hardware.md), a kiosk, door lock or queue display drives it through
the real drivers instead of simulating it:

    --hardware hw.toml            the ports in hw.toml's [hardware] table (HardwareSettings)
    --emulate-hardware DIR        emulators on pseudo-terminals in DIR, the drivers attached
                                  (--swipe-every-s N: the emulated card reader swipes a card)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import signal
import tomllib
from pathlib import Path

from devices.contract import DEFAULT_PREFIX
from devices.hardware.settings import HardwareSettings
from devices.kinds import DeviceKind
from edge.agent import EdgeAgent
from edge.drivers import hardware_driver
from simulators.emulated.attach import EmulatedHardware, emulated_hardware
from simulators.fleet import build_agent

logger = logging.getLogger(__name__)
HARDWARE_KINDS = (DeviceKind.KIOSK, DeviceKind.DOOR_LOCK, DeviceKind.QUEUE_DISPLAY)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Run one simulated device agent.")
    parser.add_argument("--device-id", required=True)
    parser.add_argument("--kind", required=True, choices=[k.value for k in DeviceKind])
    parser.add_argument("--broker-url", required=True, help="mqtt://[user:pass@]host[:port]")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="topic prefix (hall/v1)")
    parser.add_argument("--data-dir", type=Path,
                        help="outbox and session counter go in DATA_DIR/<device id>/")
    parser.add_argument("--memory", action="store_true", help="keep the outbox in memory")
    parser.add_argument("--telemetry-interval-s", type=float, default=5.0)
    parser.add_argument("--site", default="main-hall")
    parser.add_argument("--model", default=None, help="default: sim-<kind>")
    parser.add_argument("--fw", default="sim-1.0")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated time per second")
    parser.add_argument("--log-level", default="INFO")
    hardware = parser.add_mutually_exclusive_group()
    hardware.add_argument("--hardware", type=Path, metavar="TOML",
                          help="drive serial hardware configured in this file's [hardware] table")
    hardware.add_argument("--emulate-hardware", type=Path, metavar="DIR",
                          help="drive emulated hardware on pseudo-terminals in DIR")
    parser.add_argument("--card-service", default="student-id",
                        help="the service a kiosk's card swipe takes a ticket for")
    parser.add_argument("--swipe-every-s", type=float, default=0.0,
                        help="with --emulate-hardware: the card reader swipes a card this often")
    args = parser.parse_args(argv)
    if args.data_dir is None and not args.memory:
        parser.error("--data-dir is required unless --memory is given")
    if (args.hardware or args.emulate_hardware) and DeviceKind(args.kind) not in HARDWARE_KINDS:
        parser.error(f"serial hardware is driven for {', '.join(k.value for k in HARDWARE_KINDS)}")
    return args


def load_hardware(path: Path) -> HardwareSettings:
    """The ``[hardware]`` table of a TOML file (ValueError with the reason when it is wrong)."""
    try:
        with path.open("rb") as file:
            table = tomllib.load(file).get("hardware", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    return HardwareSettings.model_validate(table)


async def swipe_cards(emulated: EmulatedHardware, every_s: float) -> None:
    """A stream of visitors at the emulated card reader (demo cards 2023000001...)."""
    rng = random.Random("swipes")  # demo card numbers, not secrets
    while emulated.card_reader is not None:
        await asyncio.sleep(rng.expovariate(1 / every_s))
        emulated.card_reader.swipe(f"2023{rng.randrange(1, 999_999):06d}")


async def run(args: argparse.Namespace) -> None:
    """Run the agent until SIGTERM/SIGINT."""
    kind = DeviceKind(args.kind)
    agent = build_agent(args.broker_url, args.prefix, args.data_dir, device_id=args.device_id,
                        kind=kind, model=args.model, fw=args.fw, site=args.site,
                        telemetry_interval_s=args.telemetry_interval_s, durable=not args.memory,
                        speed=args.speed)
    # A door decides cards from the policy it syncs from the controller, kept in its data dir.
    state_dir = agent.settings.data_dir / "access" if agent.settings.data_dir is not None else None
    async with contextlib.AsyncExitStack() as stack:
        if args.emulate_hardware is not None:
            emulated = await stack.enter_async_context(emulated_hardware(kind, args.emulate_hardware))
            logger.info("emulated hardware on %s", ", ".join(map(str, emulated.ports)))
            agent = EdgeAgent(agent.settings, hardware_driver(kind, emulated.settings, args.card_service,
                                                              state_dir,
                                                              device_key=agent.settings.command_key))
            if args.swipe_every_s > 0:
                swiping = asyncio.create_task(swipe_cards(emulated, args.swipe_every_s), name="swipes")
                stack.callback(swiping.cancel)
        elif args.hardware is not None:
            agent = EdgeAgent(agent.settings,
                              hardware_driver(kind, load_hardware(args.hardware), args.card_service,
                                              state_dir, device_key=agent.settings.command_key))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, agent.stop)
        await agent.run()


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m simulators.agent_process``."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(run(args))
        except ValueError as exc:  # a hardware file that is missing or wrong
            raise SystemExit(f"agent_process: {exc}") from None


if __name__ == "__main__":
    main()

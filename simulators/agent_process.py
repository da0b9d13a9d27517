"""One simulated device as its own OS process (tests SIGKILL it to see the last will).

    python -m simulators.agent_process --device-id kiosk-07 --kind kiosk \\
        --broker-url mqtt://127.0.0.1:1883 --prefix hall/v1 --data-dir .hall-data/edge

SIGTERM or Ctrl-C stops it cleanly (it publishes its offline state itself); SIGKILL leaves
the broker to publish the last will.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from devices.contract import DEFAULT_PREFIX
from devices.kinds import DeviceKind
from simulators.fleet import build_agent


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
    args = parser.parse_args(argv)
    if args.data_dir is None and not args.memory:
        parser.error("--data-dir is required unless --memory is given")
    return args


async def run(args: argparse.Namespace) -> None:
    """Run the agent until SIGTERM/SIGINT."""
    agent = build_agent(args.broker_url, args.prefix, args.data_dir, device_id=args.device_id,
                        kind=DeviceKind(args.kind), model=args.model, fw=args.fw, site=args.site,
                        telemetry_interval_s=args.telemetry_interval_s, durable=not args.memory,
                        speed=args.speed)
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
        asyncio.run(run(args))


if __name__ == "__main__":
    main()

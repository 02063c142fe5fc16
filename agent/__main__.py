"""`python -m agent run` (real capture), `python -m agent run --simulate` (simulated pupil), or
`python -m agent watchdog` (the agent under its osquery-like watchdog)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from agent.identity import EnrolmentFailed
from agent.runner import Agent
from agent.settings import AgentSettings, SettingsError


def _capture(args: argparse.Namespace, settings: AgentSettings):
    if args.simulate:
        from agent.capture.simulated import SimulatedCapture

        return SimulatedCapture(
            rate=args.rate, count=args.count, seed=args.seed, start_offset=args.offset, user=args.user
        )
    from agent.capture.desktop import DesktopCapture

    return DesktopCapture(settings)


async def _run(agent: Agent) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await agent.run(stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent", description="The Safeguard endpoint agent.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="capture and stream to the console (enrols on first start)")
    run.add_argument("--simulate", action="store_true", help="replay simulated pupil activity instead of capturing")
    run.add_argument("--rate", type=float, default=0.5, help="simulated events per second")
    run.add_argument("--count", type=int, default=0, help="simulated events to emit, 0 = forever")
    run.add_argument("--seed", type=int, default=0, help="simulation random seed")
    run.add_argument("--offset", type=int, default=0, help="where in the simulated scenario to start")
    run.add_argument("--user", default="", help="the simulated pupil's account name")
    watchdog = commands.add_parser("watchdog", help="run the agent under a watchdog that restarts it above its limits")
    watchdog.add_argument("worker", nargs=argparse.REMAINDER, help="the worker command (default: the agent itself)")
    args = parser.parse_args(argv)
    if args.command == "watchdog":
        from agent.watchdog import main as watchdog_main

        return watchdog_main([arg for arg in args.worker if arg != "--"])
    from agent.memory import limit_malloc_arenas

    limit_malloc_arenas()  # before any thread starts
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = AgentSettings()
    except SettingsError as error:
        print(f"bad setting: {error}", file=sys.stderr)
        return 2
    agent = Agent(settings, _capture(args, settings))
    try:
        asyncio.run(_run(agent))
    except EnrolmentFailed as error:
        print(f"enrolment failed: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

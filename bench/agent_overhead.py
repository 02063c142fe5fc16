"""Agent overhead on a desktop: CPU and peak memory of real capture while a pupil types and switches windows.

    python bench/agent_overhead.py [--seconds 60]

Starts Xvfb and three windows, then runs the agent's real capture (DesktopCapture writing through the
runner's emit into the real SQLite spool; no console) in its own process, and measures that process:
  1. baseline: the agent running, nobody typing, for --idle-seconds;
  2. load: 10 keystrokes per second typed with xdotool (prose, corrections, Enter, one prefilter hit that
     takes a screenshot) and a window switch every 5 seconds, for --seconds.
Prints CPU as % of one core, peak RSS, events captured, and the load/baseline CPU ratio.
Targets: below 1 % CPU and below 40 MB RSS (osquery's watchdog allows 10 % and 200 MB).
Needs Xvfb, xdotool and python3-tk.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil

TK_WINDOW = (
    "import sys, tkinter; r = tkinter.Tk(); r.title(sys.argv[1]); tkinter.Entry(r).pack(); r.mainloop()"
)
TITLES = ("Year 9 History - Notes", "Teams - Year 9 chat", "Maths homework")
# Each line is typed, then corrected with three BackSpaces (xdotool types "\n" as Enter).
TYPING = [
    "the alliance system meant that a local conflict could spread\n",
    "militarism and the naval race between britain and germany ",
    "lol that quiz was so hard\n",
    "sometimes i feel like i want to die\n",
    "plants use light energy to make glucose from carbon dioxide ",
]


def worker(state_dir: Path) -> None:
    """The measured process: real capture into the real spool until SIGTERM; prints what it captured."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from safeguard_proto.v1 import agent_pb2 as pb

    from agent.capture.desktop import DesktopCapture
    from agent.runner import Agent
    from agent.settings import AgentSettings

    settings = AgentSettings(state_dir=state_dir, history_paths=[state_dir / "no-browser" / "History"])
    capture = DesktopCapture(settings)
    agent = Agent(settings, capture)
    kinds: Counter[str] = Counter()

    def emit(event: pb.Event) -> int:
        kinds[event.WhichOneof("kind")] += 1
        return agent.emit(event)

    capture.apply_policy(
        pb.Policy(
            version=1, capture_text=True, capture_windows=True, capture_web=True, capture_screenshots=True,
            prefilter_phrases=["want to die"], screenshot_min_interval_seconds=60, screenshot_max_width=1280,
            screenshot_quality=60, screenshot_format="jpeg", text_pause_seconds=5,
        )
    )  # fmt: skip
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    capture.start(emit)
    print("ready", flush=True)
    stop.wait()
    capture.stop()
    agent.spool.close()
    print(json.dumps(dict(kinds)), flush=True)


def start_display() -> tuple[subprocess.Popen[bytes], str]:
    number = next(n for n in range(400, 600) if not Path(f"/tmp/.X{n}-lock").exists())
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", "1920x1080x24", "-nolisten", "tcp", "-noreset"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if server.poll() is not None:
            sys.exit("Xvfb did not start")
        time.sleep(0.05)
    return server, f":{number}"


class Sampler(threading.Thread):
    """Samples a process's RSS every 0.25 s and keeps the peak."""

    def __init__(self, process: psutil.Process) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            self.peak = max(self.peak, self.process.memory_info().rss)


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def drive(seconds: float, windows: list[str]) -> int:
    """Type at 10 keystrokes per second, switching window every ~5 seconds; return keystrokes sent."""
    sent = 0
    deadline = time.monotonic() + seconds
    line = 0
    while (left := deadline - time.monotonic()) > 0.5:
        subprocess.run(["xdotool", "windowfocus", "--sync", windows[line % len(windows)]], check=True)
        time.sleep(0.5)  # a person takes a moment to switch windows (the agent rechecks focus after a break)
        text = TYPING[line % len(TYPING)][: int(left * 10)]
        line += 1
        subprocess.run(["xdotool", "type", "--delay", "150", text], check=True)
        subprocess.run(
            ["xdotool", "key", "--delay", "100", "BackSpace", "BackSpace", "BackSpace"], check=True
        )
        sent += len(text) + 3
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="how long to type (default 60)")
    parser.add_argument(
        "--idle-seconds", type=float, default=15, help="baseline: agent running, nobody typing"
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return

    server, display = start_display()
    env = {**os.environ, "DISPLAY": display}
    os.environ["DISPLAY"] = display
    windows_processes = [
        subprocess.Popen([sys.executable, "-c", TK_WINDOW, title], env=env) for title in TITLES
    ]
    try:
        windows = [
            subprocess.run(
                ["xdotool", "search", "--sync", "--name", f"^{t}$"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[0]
            for t in TITLES
        ]
        with tempfile.TemporaryDirectory(prefix="agent-overhead-") as state:
            agent = subprocess.Popen(
                [sys.executable, __file__, "--worker", state], env=env, stdout=subprocess.PIPE, text=True
            )
            assert agent.stdout is not None
            if agent.stdout.readline().strip() != "ready":
                sys.exit("the agent did not start")
            process = psutil.Process(agent.pid)
            sampler = Sampler(process)
            sampler.start()

            time.sleep(1)  # imports and start-up are not the steady state
            idle_cpu, idle_start = cpu_seconds(process), time.monotonic()
            time.sleep(args.idle_seconds)
            idle = (cpu_seconds(process) - idle_cpu) / (time.monotonic() - idle_start) * 100
            idle_peak = sampler.peak

            load_cpu, load_start = cpu_seconds(process), time.monotonic()
            keystrokes = drive(args.seconds, windows)
            elapsed = time.monotonic() - load_start
            load = (cpu_seconds(process) - load_cpu) / elapsed * 100
            sampler.done.set()
            agent.terminate()
            captured = json.loads(agent.communicate(timeout=30)[0].strip().splitlines()[-1])
    finally:
        for window in windows_processes:
            window.terminate()
            window.wait()
        server.terminate()
        server.wait()

    mb = 1024 * 1024
    print(f"agent overhead on Xvfb, {os.cpu_count()} cores")
    print(
        f"  baseline (idle {args.idle_seconds:.0f} s):  CPU {idle:.2f} % of one core,"
        f" peak RSS {idle_peak / mb:.1f} MB"
    )
    print(
        f"  load ({elapsed:.0f} s, {keystrokes / elapsed:.1f} keys/s, window switch every ~5 s):"
        f"  CPU {load:.2f} % of one core, peak RSS {sampler.peak / mb:.1f} MB"
    )
    print(f"  events captured: {captured}")
    print(f"  ratio load/baseline CPU: {load / idle:.1f}x" if idle > 0 else "  ratio: baseline CPU was 0")
    verdict = "within" if load < 1 and sampler.peak < 40 * mb else "OVER"
    print(f"  targets (< 1 % CPU, < 40 MB RSS): {verdict}")


if __name__ == "__main__":
    main()

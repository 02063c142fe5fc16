"""Agent overhead on a desktop: CPU and peak memory of the agent as shipped while a pupil types and switches windows.

    python bench/agent_overhead.py [--seconds 60]

Starts Xvfb and three windows and a stand-in console (a gRPC server with the same mTLS that acks every batch
and counts its events), enrols a device for it, then runs the agent exactly as installed, `python -m agent run`
(real capture, the SQLite spool, the sender streaming to the console), and measures that process:
  1. baseline: the agent running, nobody typing, for --idle-seconds;
  2. load: 10 keystrokes per second typed with xdotool (prose, corrections, Enter, one prefilter hit that
     takes a screenshot) and a window switch every 5 seconds, for --seconds.
Prints CPU as % of one core, peak RSS (and its anonymous and file-backed parts at the peak), the events the
console received, and the load/baseline CPU ratio. RSS is sampled every 0.25 s, which can miss a shorter peak
(the screenshot's buffers live about 0.1 s), so the kernel's own high-water mark (VmHWM, reset once start-up
is over) is printed too: the true peak of the idle and typing phases.
Targets: below 1 % CPU and below 40 MB RSS (osquery's watchdog allows 10 % and 200 MB).
Needs Xvfb, xdotool and python3-tk.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent import futures
from pathlib import Path

import grpc
import psutil
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from safeguard_proto.v1 import agent_pb2 as pb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.identity.ca import CertificateAuthority  # noqa: E402

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
POLICY = pb.Policy(
    version=1, capture_text=True, capture_windows=True, capture_web=True, capture_screenshots=True,
    prefilter_phrases=["want to die"], screenshot_min_interval_seconds=60, screenshot_max_width=1280,
    screenshot_quality=60, screenshot_format="jpeg", text_pause_seconds=5, heartbeat_seconds=60,
)  # fmt: skip


class Console:
    """A stand-in console: pushes POLICY when an agent connects, counts and acks every batch."""

    def __init__(self, pki: Path) -> None:
        self.ca = CertificateAuthority.load_or_create(pki)
        key_pem, cert_pem = self.ca.server_credentials(pki, ["localhost", "127.0.0.1"])
        self.events: Counter[str] = Counter()
        self.connected = threading.Event()
        handler = grpc.method_handlers_generic_handler(
            "safeguard.v1.AgentService",
            {
                "Stream": grpc.stream_stream_rpc_method_handler(
                    self._stream,
                    request_deserializer=pb.AgentMessage.FromString,
                    response_serializer=pb.ConsoleMessage.SerializeToString,
                )
            },
        )
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((handler,))
        credentials = grpc.ssl_server_credentials(
            [(key_pem, cert_pem)], root_certificates=self.ca.certificate_pem, require_client_auth=True
        )
        self.port = self.server.add_secure_port("127.0.0.1:0", credentials)
        self.server.start()

    def _stream(self, requests, context):
        yield pb.ConsoleMessage(policy=POLICY)
        for message in requests:
            body = message.WhichOneof("body")
            if body == "hello":
                self.connected.set()
            elif body == "batch":
                events = message.batch.events
                self.events.update(event.WhichOneof("kind") for event in events)
                yield pb.ConsoleMessage(
                    ack=pb.Ack(batch_id=message.batch.batch_id, acked_through_seq=events[-1].seq)
                )

    def enrol(self, state_dir: Path) -> None:
        """What `Enroll` leaves in the agent's state directory: key, certificate, CA, device id; and the
        policy, so that capture runs under it from the first keystroke."""
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench-desktop")]))
            .sign(key, hashes.SHA256())
        )
        issued = self.ca.sign_device(csr.public_bytes(serialization.Encoding.PEM), school_id=1, days=1)
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "device.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        (state_dir / "device.pem").write_bytes(issued.certificate_pem)
        (state_dir / "ca.pem").write_bytes(self.ca.certificate_pem)
        (state_dir / "policy.bin").write_bytes(POLICY.SerializeToString())
        (state_dir / "device_id").write_text(issued.device_id)


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
    """Samples a process's RSS every 0.25 s and keeps the peak, with its anonymous and file-backed parts."""

    def __init__(self, process: psutil.Process) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.peak = 0
        self.parts = (0, 0)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            status = Path(f"/proc/{self.process.pid}/status").read_text().splitlines()
            fields = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in status if line.startswith("Rss")}
            rss = self.process.memory_info().rss
            if rss > self.peak:
                self.peak, self.parts = rss, (fields.get("RssAnon", 0), fields.get("RssFile", 0))


def high_water_mark(process: psutil.Process) -> int:
    """The most RSS the process has had since start or since its VmHWM was last reset, in bytes."""
    status = Path(f"/proc/{process.pid}/status").read_text()
    return next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM:"))


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
    args = parser.parse_args()

    server, display = start_display()
    os.environ["DISPLAY"] = display
    windows_processes = [subprocess.Popen([sys.executable, "-c", TK_WINDOW, title]) for title in TITLES]
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
        with tempfile.TemporaryDirectory(prefix="agent-overhead-") as work:
            work_dir = Path(work)
            console = Console(work_dir / "pki")
            state = work_dir / "state"
            console.enrol(state)
            env = {
                **{k: v for k, v in os.environ.items() if not k.upper().startswith("SAFEGUARD_AGENT_")},
                "SAFEGUARD_AGENT_STATE_DIR": str(state),
                "SAFEGUARD_AGENT_CONSOLE_HOST": "localhost",
                "SAFEGUARD_AGENT_STREAM_PORT": str(console.port),
                "SAFEGUARD_AGENT_HISTORY_PATHS": json.dumps([str(state / "no-browser" / "History")]),
            }
            with open(work_dir / "agent.log", "wb") as log:
                agent = subprocess.Popen(
                    [sys.executable, "-m", "agent", "run"], cwd=work_dir, env=env, stderr=log, stdout=log
                )
                if not console.connected.wait(60):
                    agent.kill()
                    sys.exit("the agent did not connect:\n" + (work_dir / "agent.log").read_text())
                process = psutil.Process(agent.pid)
                sampler = Sampler(process)
                sampler.start()

                time.sleep(1)  # start-up is not the steady state
                Path(f"/proc/{agent.pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
                idle_cpu, idle_start = cpu_seconds(process), time.monotonic()
                time.sleep(args.idle_seconds)
                idle = (cpu_seconds(process) - idle_cpu) / (time.monotonic() - idle_start) * 100
                idle_peak = sampler.peak

                load_cpu, load_start = cpu_seconds(process), time.monotonic()
                keystrokes = drive(args.seconds, windows)
                elapsed = time.monotonic() - load_start
                load = (cpu_seconds(process) - load_cpu) / elapsed * 100
                high_water = high_water_mark(process)
                sampler.done.set()
                agent.terminate()
                agent.wait(timeout=30)
            console.server.stop(grace=None)
    finally:
        for window in windows_processes:
            window.terminate()
            window.wait()
        server.terminate()
        server.wait()

    mb = 1024 * 1024
    anon, file = sampler.parts
    print(f"agent overhead on Xvfb, {os.cpu_count()} cores: python -m agent run, streaming to a local console")
    print(
        f"  baseline (idle {args.idle_seconds:.0f} s):  CPU {idle:.2f} % of one core,"
        f" peak RSS {idle_peak / mb:.1f} MB"
    )
    print(
        f"  load ({elapsed:.0f} s, {keystrokes / elapsed:.1f} keys/s, window switch every ~5 s):"
        f"  CPU {load:.2f} % of one core, peak RSS {sampler.peak / mb:.1f} MB"
        f" ({anon / mb:.1f} anonymous, {file / mb:.1f} file-backed)"
    )
    print(f"  true peak RSS after start-up (VmHWM, idle and load): {high_water / mb:.1f} MB")
    print(f"  events the console received: {dict(console.events)}")
    print(f"  ratio load/baseline CPU: {load / idle:.1f}x" if idle > 0 else "  ratio: baseline CPU was 0")
    verdict = "within" if load < 1 and sampler.peak < 40 * mb else "OVER"
    print(f"  targets (< 1 % CPU, < 40 MB RSS): {verdict}")


if __name__ == "__main__":
    main()

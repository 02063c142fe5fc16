"""Simulated pupil activity for the demo, the tests and the load benchmark.

Replays a realistic school day (lessons, searches, chat, a few concerning moments)
through the same `Capture` interface as real capture, including a screenshot when
typed text hits a prefilter phrase of the policy.
"""

from __future__ import annotations

import io
import logging
import random
import threading
from dataclasses import dataclass

from PIL import Image, ImageDraw

from agent.capture.base import Emit
from safeguard_proto.v1 import agent_pb2 as pb

log = logging.getLogger(__name__)
FINISHED = "simulated capture finished"  # logged with the count once `count` events were emitted

# (kind, fields) steps; the fictional pupil works through lessons with a few moments that matter.
SCENARIO: list[tuple[str, dict[str, str]]] = [
    ("window", {"title": "Year 9 History - The causes of WW1 - Google Docs", "process": "chrome"}),
    ("web", {"url": "https://www.bbc.co.uk/bitesize/guides/zxs9mp3/revision/1", "title": "Causes of World War One - BBC Bitesize"}),
    ("text", {"text": "the alliance system meant that a local conflict could spread", "app": "chrome", "window": "Year 9 History - Google Docs"}),
    ("text", {"text": "militarism and the naval race between britain and germany", "app": "chrome", "window": "Year 9 History - Google Docs"}),
    ("window", {"title": "Maths homework - Sparx", "process": "chrome"}),
    ("web", {"url": "https://www.sparxmaths.uk/student/homework", "title": "Sparx Maths homework"}),
    ("text", {"text": "3x + 7 = 22 so x = 5", "app": "chrome", "window": "Maths homework - Sparx"}),
    ("window", {"title": "Teams - Year 9 group chat", "process": "teams"}),
    ("text", {"text": "lol that quiz was so hard, i was dying of laughter at the last question", "app": "teams", "window": "Teams - Year 9 group chat"}),
    ("text", {"text": "ur so ugly nobody likes you, just kys", "app": "teams", "window": "Teams - Year 9 group chat"}),
    ("web", {"url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "title": "Music video - YouTube"}),
    ("window", {"title": "Notes - Untitled", "process": "notepad"}),
    ("text", {"text": "i dont want to be here anymore, nobody would notice if i was gone", "app": "notepad", "window": "Notes - Untitled"}),
    ("text", {"text": "sometimes i think about how i want to kill myself", "deleted": "i want to die", "app": "notepad", "window": "Notes - Untitled"}),
    ("web", {"url": "https://www.google.com/search?q=how+many+paracetamol+to+overdose", "title": "how many paracetamol to overdose - Google Search"}),
    ("window", {"title": "Science - Photosynthesis worksheet", "process": "winword"}),
    ("text", {"text": "plants use light energy to make glucose from carbon dioxide and water", "app": "winword", "window": "Science - Photosynthesis worksheet"}),
    ("web", {"url": "https://www.bet365.com/#/HO/", "title": "bet365 - Online Sports Betting"}),
    ("text", {"text": "where can i buy weed near me", "app": "chrome", "window": "New Tab - Google Chrome"}),
    ("text", {"text": "we smashed it in the football match, absolutely killing it", "app": "teams", "window": "Teams - Year 9 group chat"}),
]


@dataclass
class SimulatedCapture:
    """Emit ``count`` events (0 = forever) at ``rate`` events per second, cycling the scenario."""

    rate: float = 0.5
    count: int = 0
    seed: int = 0
    start_offset: int = 0
    user: str = ""

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._policy = pb.Policy()
        self._random = random.Random(self.seed)
        self._emit: Emit | None = None

    def start(self, emit: Emit) -> None:
        self._emit = emit
        self._thread = threading.Thread(target=self._run, name="simulated-capture", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def apply_policy(self, policy: pb.Policy) -> None:
        self._policy = policy

    def handle_command(self, command: pb.Command) -> pb.CommandResult:
        if command.WhichOneof("kind") == "take_screenshot":
            assert self._emit is not None
            self._emit(self._screenshot(f"command:{command.command_id}", trigger_seq=0))
            return pb.CommandResult(command_id=command.command_id, ok=True)
        return pb.CommandResult(command_id=command.command_id, ok=False, detail="unsupported command")

    def _run(self) -> None:
        assert self._emit is not None
        emitted = 0
        index = self.start_offset
        interval = 1.0 / self.rate if self.rate > 0 else 0.0
        while not self._stop.is_set() and (self.count == 0 or emitted < self.count):
            kind, fields = SCENARIO[index % len(SCENARIO)]
            index += 1
            event = self._event(kind, fields)
            if event is None:
                continue
            event.user = self.user
            seq = self._emit(event)
            emitted += 1
            if kind == "text" and self._prefilter_hit(fields["text"] + " " + fields.get("deleted", "")):
                if self.count == 0 or emitted < self.count:
                    self._emit(self._screenshot("prefilter", trigger_seq=seq))
                    emitted += 1
            if interval:
                self._stop.wait(interval * self._random.uniform(0.5, 1.5))
        if self.count and emitted >= self.count:
            log.info("%s: %d events", FINISHED, emitted)

    def _event(self, kind: str, fields: dict[str, str]) -> pb.Event | None:
        policy = self._policy
        if kind == "text" and policy.capture_text and fields["app"] not in policy.excluded_applications:
            return pb.Event(
                typed_text=pb.TypedText(
                    text=fields["text"],
                    deleted_text=fields.get("deleted", ""),
                    application=fields["app"],
                    window_title=fields["window"],
                )
            )
        if kind == "window" and policy.capture_windows:
            return pb.Event(window_focus=pb.WindowFocus(title=fields["title"], process_name=fields["process"]))
        if kind == "web" and policy.capture_web:
            return pb.Event(web_visit=pb.WebVisit(url=fields["url"], title=fields["title"], browser="chrome"))
        return None

    def _prefilter_hit(self, text: str) -> bool:
        lowered = text.lower()
        return self._policy.capture_screenshots and any(p.lower() in lowered for p in self._policy.prefilter_phrases)

    def _screenshot(self, reason: str, trigger_seq: int) -> pb.Event:
        image = Image.new("RGB", (640, 360), "#f4f4f4")
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0, 640, 28), fill="#2b579a")
        draw.text((10, 8), "Notes - Untitled (simulated desktop)", fill="white")
        draw.text((20, 60), "simulated screenshot", fill="#333333")
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=60)
        return pb.Event(
            screenshot=pb.Screenshot(
                image=buffer.getvalue(), format="jpeg", width=640, height=360, reason=reason, trigger_seq=trigger_seq
            )
        )

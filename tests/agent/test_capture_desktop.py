"""DesktopCapture on a real X display: Xvfb, real Tk and xterm windows, keystrokes typed with xdotool."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from safeguard_proto.v1 import agent_pb2 as pb

from agent import memory
from agent.capture import screen
from agent.capture.desktop import DesktopCapture
from agent.capture.window import X11Windows
from agent.settings import AgentSettings

pytestmark = pytest.mark.x11

SCREEN = (1280, 800)

TK_WINDOW = """
import sys, tkinter
root = tkinter.Tk()
root.title(sys.argv[1])
root.geometry("500x80")
entry = tkinter.Entry(root, width=60)
entry.pack()
entry.focus_set()
if len(sys.argv) > 2:
    root.clipboard_clear()
    root.clipboard_append(sys.argv[2])
root.mainloop()
"""


def _free_display() -> int:
    return next(n for n in range(150, 400) if not Path(f"/tmp/.X{n}-lock").exists())


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    number = _free_display()
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp", "-noreset"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    socket = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + 10
    while not socket.exists():
        assert server.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.05)
    previous = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = f":{number}"
    yield f":{number}"
    if previous is None:
        del os.environ["DISPLAY"]
    else:
        os.environ["DISPLAY"] = previous
    server.terminate()
    server.wait()


class Windows:
    """Real windows on the test display, focused and typed into with xdotool."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def open(self, title: str, *command: str) -> tuple[str, int]:
        process = subprocess.Popen(list(command) or [sys.executable, "-c", TK_WINDOW, title])
        self.processes.append(process)
        window = subprocess.run(
            ["xdotool", "search", "--sync", "--name", f"^{title}$"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.split()[0]
        return window, process.pid

    def close(self) -> None:
        for process in self.processes:
            process.terminate()
            process.wait()


@pytest.fixture
def windows(display: str) -> Iterator[Windows]:
    opened = Windows()
    yield opened
    opened.close()


def xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=30)


def focus(window: str) -> None:
    xdotool("windowfocus", "--sync", window)
    time.sleep(0.3)  # a person takes a moment to switch windows; the agent rechecks focus after such a break


def type_text(text: str) -> None:
    xdotool("type", "--delay", "25", text)


def keys(*names: str) -> None:
    xdotool("key", "--delay", "25", *names)


class Collector:
    """The runner's emit: numbers events like the spool does and keeps them for the test."""

    def __init__(self) -> None:
        self.events: list[pb.Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: pb.Event) -> int:
        with self._lock:
            event.seq = len(self.events) + 1
            self.events.append(event)
            return event.seq

    def of(self, kind: str) -> list[pb.Event]:
        with self._lock:
            return [e for e in self.events if e.WhichOneof("kind") == kind]

    def wait(
        self, kind: str, test: Callable[[pb.Event], bool] = lambda e: True, timeout: float = 20
    ) -> pb.Event:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.of(kind) if test(e)]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no {kind} event as expected; got {self.events}")


def policy(**changes: object) -> pb.Policy:
    fields: dict[str, object] = {
        "version": 1,
        "capture_text": True,
        "capture_windows": True,
        "capture_web": True,
        "capture_screenshots": True,
        "prefilter_phrases": ["want to die"],
        "screenshot_min_interval_seconds": 60,
        "screenshot_max_width": 640,
        "screenshot_quality": 50,
        "screenshot_format": "jpeg",
        "text_pause_seconds": 2,
    }
    fields.update(changes)
    return pb.Policy(**fields)


@pytest.fixture
def capture(display: str, tmp_path: Path) -> Iterator[tuple[DesktopCapture, Collector]]:
    settings = AgentSettings(
        state_dir=tmp_path, window_poll_seconds=0.2, history_paths=[tmp_path / "no-browser" / "History"]
    )
    desktop = DesktopCapture(settings)
    desktop.apply_policy(policy())
    collector = Collector()
    desktop.start(collector)
    yield desktop, collector
    desktop.stop()


def test_rebuilt_text_keeps_deleted_phrase_window_and_prefilter_screenshot(capture, windows) -> None:
    _desktop, events = capture
    window, pid = windows.open("Homework notes")
    focus(window)
    focused = events.wait("window_focus", lambda e: e.window_focus.title == "Homework notes")
    assert focused.window_focus.pid == pid
    assert focused.window_focus.process_path == os.path.realpath(sys.executable)

    type_text("i want to die")
    keys(*["BackSpace"] * 13)
    type_text("I am fine")
    keys("Return")

    text = events.wait("typed_text").typed_text
    assert (text.text, text.deleted_text, text.window_title) == (
        "I am fine",
        "i want to die",
        "Homework notes",
    )
    assert text.application == focused.window_focus.process_name
    seq = events.of("typed_text")[0].seq

    shot = events.wait("screenshot").screenshot
    assert (shot.trigger_seq, shot.reason, shot.format) == (seq, "prefilter:want to die", "jpeg")
    image = Image.open(io.BytesIO(shot.image))
    assert image.format == "JPEG" and image.size == (shot.width, shot.height) == (640, 400)
    assert shot.width / shot.height == SCREEN[0] / SCREEN[1]


def test_editing_keys_caps_lock_paste_and_pause(capture, windows) -> None:
    _desktop, events = capture
    window, _ = windows.open("Essay", sys.executable, "-c", TK_WINDOW, "Essay", "from the clipboard")
    focus(window)
    events.wait("window_focus", lambda e: e.window_focus.title == "Essay")

    type_text("hello wrld")
    keys("Left", "Left", "Left")
    type_text("o")
    keys("End", "Home", "Delete", "End")
    type_text(" bye")
    keys("Tab")
    first = events.wait("typed_text").typed_text
    assert (first.text, first.deleted_text, first.pasted) == ("ello world bye", "h", False)

    keys("Caps_Lock")
    type_text("shout")
    keys("Caps_Lock", "space", "ctrl+v")
    second = events.wait("typed_text", lambda e: e.typed_text.text.startswith("SHOUT")).typed_text  # by pause
    assert (second.text, second.pasted) == ("SHOUT from the clipboard", True)


def test_focus_change_ends_text_and_policy_applies_live(capture, windows) -> None:
    desktop, events = capture
    notes, _ = windows.open("Notes")
    chat, _ = windows.open("Chat")
    terminal, _ = windows.open("Terminal", "xterm", "-title", "Terminal")

    focus(notes)
    type_text("maths homework")
    focus(chat)
    type_text("see you later")
    keys("Return")
    typed = [
        events.wait("typed_text", lambda e, t=t: e.typed_text.text == t).typed_text
        for t in ("maths homework", "see you later")
    ]
    assert [t.window_title for t in typed] == ["Notes", "Chat"]

    # An excluded application: nothing typed in it, nor its window, is captured.
    desktop.apply_policy(policy(version=2, excluded_applications=["XTERM"]))
    focus(terminal)
    type_text("private words")
    focus(chat)
    type_text("marker one")
    keys("Return")
    events.wait("typed_text", lambda e: e.typed_text.text == "marker one")

    # Text capture switched off, then on again with a new prefilter phrase.
    desktop.apply_policy(policy(version=3, capture_text=False))
    type_text("hidden words")
    keys("Return")
    desktop.apply_policy(policy(version=4, prefilter_phrases=["run away"]))
    type_text("i will run awaaay tonight")
    keys("Return")
    hit = events.wait("typed_text", lambda e: e.typed_text.text == "i will run awaaay tonight")
    shot = events.wait("screenshot").screenshot
    assert (shot.trigger_seq, shot.reason) == (hit.seq, "prefilter:run away")

    type_text("run away again")  # a second hit inside the minimum interval: no second screenshot
    keys("Return")
    type_text("marker two")
    keys("Return")
    events.wait("typed_text", lambda e: e.typed_text.text == "marker two")

    captured = " ".join(e.typed_text.text + " " + e.typed_text.deleted_text for e in events.of("typed_text"))
    assert "private" not in captured and "hidden" not in captured
    assert "Terminal" not in [e.window_focus.title for e in events.of("window_focus")]
    assert len(events.of("screenshot")) == 1


def test_focus_and_title_changes_are_reported_not_polled(
    capture, windows: Windows, monkeypatch: pytest.MonkeyPatch
) -> None:
    """X11 says when the focus may have changed (FocusIn with no window manager, as here; a window manager's
    _NET_ACTIVE_WINDOW) or the focused window's title did: the focused window is asked for then, not polled."""
    from Xlib import Xatom
    from Xlib import display as xdisplay

    _desktop, events = capture
    asked: list[float] = []
    active = X11Windows.active
    monkeypatch.setattr(X11Windows, "active", lambda self: asked.append(time.monotonic()) or active(self))
    first, _ = windows.open("First")  # opened after the capture started: watched from its creation
    second, _ = windows.open("Second")
    connection = xdisplay.Display()
    net_active = connection.intern_atom("_NET_ACTIVE_WINDOW")
    root = connection.screen().root
    try:
        xdotool("windowfocus", "--sync", first)
        events.wait("window_focus", lambda e: e.window_focus.title == "First")
        time.sleep(0.3)
        before = len(asked)
        time.sleep(1)
        assert len(asked) == before  # nothing changed, nothing asked

        xdotool("windowfocus", "--sync", second)
        events.wait("window_focus", lambda e: e.window_focus.title == "Second")
        xdotool("set_window", "--name", "Second, renamed", second)
        renamed = events.wait("window_focus", lambda e: e.window_focus.title == "Second, renamed")

        # A window manager marks the first window active (the input focus stays where it is).
        root.change_property(net_active, Xatom.WINDOW, 32, [int(first)])
        connection.flush()
        events.wait("window_focus", lambda e: e.seq > renamed.seq and e.window_focus.title == "First")
    finally:
        root.delete_property(net_active)
        connection.close()


def test_screenshot_command(capture) -> None:
    desktop, events = capture
    result = desktop.handle_command(
        pb.Command(command_id="c-1", take_screenshot=pb.TakeScreenshot(reason="check"))
    )
    assert (result.command_id, result.ok, result.detail) == ("c-1", True, "")
    shot = events.wait("screenshot").screenshot
    assert (shot.reason, shot.trigger_seq) == ("command:c-1", 0)

    desktop.apply_policy(policy(version=2, capture_screenshots=False, screenshot_format="webp"))
    refused = desktop.handle_command(pb.Command(command_id="c-2", take_screenshot=pb.TakeScreenshot()))
    assert (refused.ok, refused.detail) == (False, "screenshots are off in the policy")

    desktop.apply_policy(policy(version=3, screenshot_format="webp", screenshot_max_width=0))
    assert desktop.handle_command(pb.Command(command_id="c-3", take_screenshot=pb.TakeScreenshot())).ok
    webp = events.wait("screenshot", lambda e: e.screenshot.reason == "command:c-3").screenshot
    assert Image.open(io.BytesIO(webp.image)).format == "WEBP" and (webp.width, webp.height) == SCREEN

    unsupported = desktop.handle_command(pb.Command(command_id="c-4"))
    assert (unsupported.ok, unsupported.detail) == (False, "unsupported command")


def test_memory_is_released_before_and_after_each_screenshot(
    capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages Pillow's import read go back to the kernel before the screen is read; Pillow's libraries and
    the freed buffers once the screenshot is spooled."""
    desktop, events = capture
    released: list[int] = []
    monkeypatch.setattr(
        memory, "release_unused_memory", lambda: released.append(len(events.of("screenshot"))) or 0
    )
    assert desktop.handle_command(pb.Command(command_id="c-1", take_screenshot=pb.TakeScreenshot())).ok
    assert released == [0, 1]  # before the screenshot, and after it was emitted


@pytest.mark.parametrize("max_width", [640, 0])
def test_jpeg_in_bands_is_the_screen_scaled_and_encoded_in_one_piece(
    display: str, windows, max_width: int
) -> None:
    """The JPEG joined from bands decodes to the very pixels of the whole screen scaled and encoded at once."""
    import mss

    windows.open("Something on screen")
    shot = screen.grab(max_width=max_width, quality=50, image_format="jpeg")
    with mss.MSS() as grabber:
        raw = grabber.grab(grabber.monitors[0])
    whole = Image.frombytes("RGB", raw.size, raw.bgra, "raw", "BGRX")
    if max_width:
        whole = whole.resize((max_width, max_width * SCREEN[1] // SCREEN[0]), Image.Resampling.BILINEAR)
    expected = io.BytesIO()
    whole.save(expected, format="JPEG", quality=50)

    joined = Image.open(io.BytesIO(shot.image))
    assert joined.format == "JPEG" and joined.size == whole.size == (shot.width, shot.height)
    assert shot.height > 2 * screen.BAND_ROWS
    assert ImageChops.difference(joined.convert("RGB"), Image.open(expected).convert("RGB")).getbbox() is None


def test_start_without_display_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":399")
    desktop = DesktopCapture(AgentSettings(state_dir=tmp_path, history_paths=[tmp_path / "History"]))
    with pytest.raises(Exception, match="display"):
        desktop.start(Collector())


def test_history_override_must_name_a_history_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a browser history file"):
        DesktopCapture(AgentSettings(state_dir=tmp_path, history_paths=[tmp_path / "notes.txt"]))

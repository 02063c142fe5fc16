"""Real capture on a desktop: typed text, window focus, web history and screenshots, under the live policy.

Threads: pynput's listener feeds the text buffer; watchdog's observer reads browser history; on X11 a
thread waits for the window system's notice that the focus or the focused title may have changed (Windows
and macOS give none: there the worker polls); one worker thread ends text at pauses and does every emission
that may be slow (a text event that hits the prefilter is followed by a screenshot). Keystroke callbacks
only queue work, because Windows silently removes a keyboard hook that is slow to return.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from safeguard_proto.v1 import agent_pb2 as pb

from agent import memory
from agent.capture.base import Emit
from agent.capture.keyboard import KeyboardSource, TextBuffer, Typed
from agent.capture.screen import grab
from agent.capture.web import Cursors, HistoryFile, Visit, WebSource, discover, history_file
from agent.capture.window import FocusChanges, WindowInfo, WindowSystem, open_window_system
from agent.policy import SCREENSHOT_QUALITY, LivePolicy, Source
from agent.settings import AgentSettings

log = logging.getLogger(__name__)

SWITCH_BREAK_SECONDS = 0.25  # a pause in typing after which the focused window is checked again


class DesktopCapture:
    def __init__(self, settings: AgentSettings) -> None:
        self._settings = settings
        self._policy = LivePolicy(pb.Policy())  # captures nothing until the runner applies a policy
        self._lock = threading.Lock()  # the text buffer, the focused window and the last keystroke time
        self._buffer = TextBuffer()
        self._window: WindowInfo | None = None
        self._typing_since_flush = False
        self._last_key = 0.0
        self._shot_lock = threading.Lock()
        self._last_shot = float("-inf")
        self._work: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._emit: Emit | None = None
        self._worker: threading.Thread | None = None
        self._changes: FocusChanges | None = None
        self._watcher: threading.Thread | None = None
        self._key_windows: WindowSystem | None = None  # opened on the keyboard listener's own thread
        self._history_overrides = [history_file(path) for path in settings.history_paths]
        self._keyboard = KeyboardSource(
            self._buffer,
            self._lock,
            on_key=self._on_key,
            on_boundary=lambda reason: self._flush(),
            read_clipboard=lambda: self._keyboard_windows().clipboard_text(),
            max_length=settings.text_max_length,
        )
        self._web = WebSource(
            self._history_files,
            Cursors(settings.state_dir / "web-cursors.json"),
            self._on_visit,
            lookback=timedelta(hours=settings.history_lookback_hours),
        )

    # --- the Capture protocol ---------------------------------------------

    def start(self, emit: Emit) -> None:
        self._emit = emit
        windows = open_window_system()  # opened here so that a missing display fails start() itself
        self._changes = windows.changes()
        polled: WindowSystem | None = windows
        if self._changes is not None:
            self._watcher = threading.Thread(
                target=self._watch, args=(windows, self._changes), name="window-focus", daemon=True
            )
            self._watcher.start()
            polled = None
        self._worker = threading.Thread(target=self._run, args=(polled,), name="desktop-capture", daemon=True)
        self._worker.start()
        self._keyboard.start()
        self._web.start()

    def stop(self) -> None:
        self._keyboard.stop()
        self._web.stop()
        if self._watcher is not None and self._changes is not None:
            self._changes.interrupt()
            self._watcher.join()
            self._watcher = None
        self._flush()
        self._work.put(None)
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        if self._key_windows is not None:
            self._key_windows.close()
            self._key_windows = None

    def apply_policy(self, policy: pb.Policy) -> None:
        self._policy.update(policy)

    def handle_command(self, command: pb.Command) -> pb.CommandResult:
        if command.WhichOneof("kind") != "take_screenshot":
            return pb.CommandResult(command_id=command.command_id, ok=False, detail="unsupported command")
        refused = self._screenshot(f"command:{command.command_id}", trigger_seq=0, rate_limited=False)
        return pb.CommandResult(command_id=command.command_id, ok=not refused, detail=refused)

    # --- keyboard (runs on the listener's thread: keep it quick) -----------

    def _keyboard_windows(self) -> WindowSystem:
        if self._key_windows is None:
            self._key_windows = open_window_system()
        return self._key_windows

    def _on_key(self) -> bool:
        """Before each keystroke: notice a focus change not yet seen; say whether to record it.

        The window is asked for at the first keystroke of a piece of text and after a break in typing (a
        person needs one to switch windows), not on every keystroke: that would double the agent's CPU.
        Whether to record is decided per keystroke, so text typed while the policy or an exclusion forbids it
        never enters the buffer, whatever the policy says later.
        """
        windows = self._keyboard_windows()
        now = time.monotonic()
        with self._lock:
            window = self._window
            recheck = not self._typing_since_flush or now - self._last_key > SWITCH_BREAK_SECONDS
            self._last_key = now
            self._typing_since_flush = True
        if recheck:
            window = windows.active()
            self._observe(window)
            with self._lock:
                self._typing_since_flush = True
        return (
            self._policy.allows(Source.TEXT)
            and not (window is not None and self._excluded(window))
            and not windows.password_focused()
        )

    def _flush(self) -> None:
        """End the piece of text being typed and queue it for sending."""
        with self._lock:
            typed, window = self._buffer.take(), self._window
            self._typing_since_flush = False
        if typed is not None:
            self._work.put(lambda: self._send_text(typed, window))

    def _observe(self, window: WindowInfo | None) -> None:
        """Record the focused window; on a change, the text typed so far belongs to the previous one."""
        with self._lock:
            if window == self._window:
                return
            previous, self._window = self._window, window
            typed = self._buffer.take()
            self._typing_since_flush = False
        if typed is not None:
            self._work.put(lambda: self._send_text(typed, previous))
        if window is not None and self._policy.allows(Source.WINDOWS) and not self._excluded(window):
            self._work.put(lambda: self._send_focus(window))

    def _excluded(self, window: WindowInfo) -> bool:
        return self._policy.excluded(window.process_name) or self._policy.excluded(window.process_path)

    # --- the worker thread --------------------------------------------------

    def _watch(self, windows: WindowSystem, changes: FocusChanges) -> None:
        try:
            self._observe(windows.active())
            while changes.wait():
                self._observe(windows.active())
        finally:
            windows.close()

    def _run(self, windows: WindowSystem | None) -> None:
        """Jobs, text ended at pauses, new history files; and the focused window polled, when ``windows`` is
        given."""
        poll = self._settings.window_poll_seconds
        next_poll = time.monotonic()
        next_rescan = next_poll + self._settings.history_rescan_seconds
        try:
            while True:
                try:
                    job = self._work.get(timeout=max(0.0, next_poll - time.monotonic()))
                except queue.Empty:
                    job = self._end_paused_text
                if job is None:
                    return
                now = time.monotonic()
                if now >= next_poll:
                    next_poll = now + poll
                    if windows is not None:
                        self._observe(windows.active())
                if now >= next_rescan:
                    next_rescan = now + self._settings.history_rescan_seconds
                    self._web.rescan()
                try:
                    job()
                except Exception:
                    log.exception("capture job failed")  # one bad event must not stop capture
        finally:
            if windows is not None:
                windows.close()

    def _end_paused_text(self) -> None:
        with self._lock:
            due = (
                self._typing_since_flush
                and time.monotonic() - self._last_key >= self._policy.text_pause_seconds
            )
        if due:
            self._flush()

    def _send_text(self, typed: Typed, window: WindowInfo | None) -> None:
        assert self._emit is not None
        seq = self._emit(
            pb.Event(
                typed_text=pb.TypedText(
                    text=typed.text,
                    deleted_text=typed.deleted_text,
                    application=window.process_name if window else "",
                    window_title=window.title if window else "",
                    pasted=typed.pasted,
                )
            )
        )
        phrase = self._policy.prefilter_hit(f"{typed.text}\n{typed.deleted_text}")
        if phrase is not None:
            refused = self._screenshot(f"prefilter:{phrase}", trigger_seq=seq, rate_limited=True)
            if refused:
                log.info("prefilter hit without screenshot: %s", refused)

    def _send_focus(self, window: WindowInfo) -> None:
        assert self._emit is not None
        self._emit(
            pb.Event(
                window_focus=pb.WindowFocus(
                    title=window.title,
                    process_name=window.process_name,
                    process_path=window.process_path,
                    pid=window.pid,
                )
            )
        )

    def _screenshot(self, reason: str, *, trigger_seq: int, rate_limited: bool) -> str:
        """Take and emit a screenshot; return why not ("" when taken)."""
        assert self._emit is not None
        if not self._policy.allows(Source.SCREENSHOTS):
            return "screenshots are off in the policy"
        with self._lock:
            window = self._window
        if window is not None and self._excluded(window):
            return f"{window.process_name} is excluded"
        policy = self._policy.current
        with self._shot_lock:
            now = time.monotonic()
            if rate_limited and now - self._last_shot < policy.screenshot_min_interval_seconds:
                return f"at most one screenshot every {policy.screenshot_min_interval_seconds} s"
            self._last_shot = now
        shot = grab(
            max_width=policy.screenshot_max_width,
            quality=policy.screenshot_quality or SCREENSHOT_QUALITY,
            image_format=policy.screenshot_format or "jpeg",
        )
        shot.reason = reason
        shot.trigger_seq = trigger_seq
        self._emit(pb.Event(screenshot=shot))
        memory.release_unused_memory()
        return ""

    # --- web ------------------------------------------------------------------

    def _history_files(self) -> list[HistoryFile]:
        if self._history_overrides:
            return [history for history in self._history_overrides if history.path.exists()]
        return discover(Path.home())

    def _on_visit(self, visit: Visit) -> None:
        assert self._emit is not None
        if not self._policy.allows(Source.WEB) or self._policy.excluded(visit.browser):
            return
        event = pb.Event(web_visit=pb.WebVisit(url=visit.url, title=visit.title, browser=visit.browser))
        event.web_visit.visit_time.FromDatetime(visit.time)
        self._emit(event)

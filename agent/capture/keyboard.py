"""Typed text rebuilt from keystrokes: what the pupil meant, and what they typed then deleted."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# pynput does not apply Caps Lock to the characters it reports on X11 and Windows; on macOS it does.
CAPS_LOCK_NEEDS_APPLYING = sys.platform != "darwin"


@dataclass(frozen=True)
class Typed:
    text: str
    deleted_text: str
    pasted: bool


class TextBuffer:
    """One line of editing: characters, a cursor, and the runs of characters deleted along the way.

    Backspace deletes to the left of the cursor and Delete to the right; consecutive deletions form one
    run, so "i want to die" deleted with thirteen backspaces is kept as "i want to die", not reversed.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._chars: list[str] = []
        self._cursor = 0
        self._deleted: list[str] = []
        self._last = ""
        self._pasted = False

    def __len__(self) -> int:
        return len(self._chars)

    def insert(self, text: str, *, pasted: bool = False) -> None:
        self._chars[self._cursor : self._cursor] = text
        self._cursor += len(text)
        self._pasted |= pasted
        self._last = "insert"

    def backspace(self) -> None:
        if self._cursor == 0:
            return
        self._cursor -= 1
        char = self._chars.pop(self._cursor)
        if self._last == "backspace":
            self._deleted[-1] = char + self._deleted[-1]
        else:
            self._deleted.append(char)
        self._last = "backspace"

    def delete(self) -> None:
        if self._cursor == len(self._chars):
            return
        char = self._chars.pop(self._cursor)
        if self._last == "delete":
            self._deleted[-1] += char
        else:
            self._deleted.append(char)
        self._last = "delete"

    def move(self, to: str) -> None:
        """Move the cursor: "left", "right", "home" or "end"."""
        positions = {"left": self._cursor - 1, "right": self._cursor + 1, "home": 0, "end": len(self._chars)}
        self._cursor = min(max(positions[to], 0), len(self._chars))
        self._last = "move"

    def take(self) -> Typed | None:
        """The text typed so far (None if nothing was typed or deleted), and start afresh."""
        typed = Typed(
            text="".join(self._chars).strip(),
            deleted_text=" ".join(run.strip() for run in self._deleted if run.strip()),
            pasted=self._pasted,
        )
        self._reset()
        return typed if typed.text or typed.deleted_text else None


class KeyboardSource:
    """Feeds keystrokes from pynput into a `TextBuffer` and reports text at natural boundaries.

    ``on_key`` is called before every keystroke is applied (the capture uses it to notice focus changes and
    password fields, and returns False to drop the key); ``on_boundary`` is called with the reason when
    Enter or Tab ends a piece of text or the buffer reaches ``max_length``.
    """

    def __init__(
        self,
        buffer: TextBuffer,
        lock: threading.Lock,
        *,
        on_key: Callable[[], bool],
        on_boundary: Callable[[str], None],
        read_clipboard: Callable[[], str],
        max_length: int,
    ) -> None:
        self._buffer = buffer
        self._lock = lock
        self._on_key = on_key
        self._on_boundary = on_boundary
        self._read_clipboard = read_clipboard
        self._max_length = max_length
        self._listener: Any = None
        self._modifiers: set[Any] = set()
        self._caps_lock = False

    def start(self) -> None:
        from pynput import keyboard  # needs a display to import on X11

        keys = self._keys = keyboard.Key
        self._canonical_keys = {
            keys.ctrl_l: keys.ctrl, keys.ctrl_r: keys.ctrl, keys.alt_l: keys.alt, keys.alt_r: keys.alt,
            keys.cmd_l: keys.cmd, keys.cmd_r: keys.cmd,
        }  # fmt: skip
        self._modifier_keys = frozenset((keys.ctrl, keys.alt, keys.cmd))
        self._moves = {keys.left: "left", keys.right: "right", keys.home: "home", keys.end: "end"}
        listener = _x11_listener(keyboard.Listener)
        self._listener = listener(on_press=self._press, on_release=self._release)
        if hasattr(self._listener, "modifier_state"):
            self._listener.modifier_state = self._x11_modifiers
        self._listener.start()
        self._listener.wait()

    def stop(self) -> None:
        if self._listener is None:
            return
        if sys.platform in ("win32", "darwin"):
            self._listener.stop()
        else:
            # pynput's stop() sends RecordDisableContext on the recording connection itself, racing the thread
            # that reads it, and now and then hangs; X RECORD wants it sent on another connection.
            from Xlib import display

            connection = display.Display()
            connection.record_disable_context(self._listener._context)
            connection.close()
        self._listener.join(timeout=5)
        if self._listener.is_alive():
            log.warning("the keyboard listener did not stop within 5 s")
        self._listener = None

    def _x11_modifiers(self, state: int) -> None:
        """X11: the modifiers held, from a key press's state (Control, Mod1 = Alt, Mod4 = Super); no releases."""
        keys = self._keys
        self._modifiers = {
            key for key, mask in ((keys.ctrl, 0x04), (keys.alt, 0x08), (keys.cmd, 0x40)) if state & mask
        }

    def _release(self, key: Any) -> None:
        self._modifiers.discard(self._canonical(key))

    def _canonical(self, key: Any) -> Any:
        return self._canonical_keys.get(key, key)

    def _press(self, key: Any) -> None:
        keys = self._keys
        key = self._canonical(key)
        if key in self._modifier_keys:
            self._modifiers.add(key)
            return
        if key == keys.caps_lock:
            self._caps_lock = not self._caps_lock
            return
        if not self._on_key():
            return
        boundary = ""
        with self._lock:
            boundary = self._apply(key)
            if not boundary and len(self._buffer) >= self._max_length:
                boundary = "length"
        if boundary:
            self._on_boundary(boundary)

    def _apply(self, key: Any) -> str:
        """Apply one keystroke to the buffer; return the boundary it marks, if any."""
        keys = self._keys
        buffer = self._buffer
        shortcut = self._modifiers & {keys.ctrl, keys.cmd}
        char = getattr(key, "char", None)
        if shortcut:
            if char is not None and char.lower() == "v" or char == "\x16":
                buffer.insert(self._read_clipboard(), pasted=True)
            return ""  # other shortcuts (copy, select all, ...) type nothing
        if key in (keys.enter, keys.tab):
            return "enter" if key == keys.enter else "tab"
        move = self._moves.get(key)
        if move is not None:
            buffer.move(move)
        elif key == keys.backspace:
            buffer.backspace()
        elif key == keys.delete:
            buffer.delete()
        elif key == keys.space:
            buffer.insert(" ")
        elif char and char.isprintable():
            if self._caps_lock and CAPS_LOCK_NEEDS_APPLYING:
                char = char.swapcase()
            buffer.insert(char)
        return ""


def _x11_listener(listener: type) -> type:
    """pynput's X11 listener, recording key presses only; any other backend as it is.

    pynput records presses and releases and parses each with python-xlib's generic event parser: about 0.5 ms of
    CPU per keystroke. Here only key presses are recorded (a press carries the modifiers held, so releases are
    not needed: ``modifier_state`` is called with them before each press), and each event's type, key code and
    modifier state (all that pynput's key translation reads) come from one ``struct`` call.
    """
    if listener.__module__ != "pynput.keyboard._xorg":
        return listener
    import struct

    from pynput._util import AbstractListener
    from Xlib import X

    key_event = struct.Struct("=BB26xH2x")  # core KeyPress/KeyRelease: code, key code, ..., state, ...
    event_size = 32

    class KeyEvent:
        __slots__ = ("type", "detail", "state")

        def __init__(self, kind: int, detail: int, state: int) -> None:
            self.type, self.detail, self.state = kind, detail, state

    class RecordListener(listener):  # type: ignore[misc, valid-type]
        _EVENTS = (X.KeyPress, X.KeyPress)  # the RECORD range of device events: presses only
        modifier_state: Callable[[int], None] = staticmethod(lambda state: None)

        @AbstractListener._emitter
        def _handler(self, events: Any) -> None:
            if not self.running:
                raise self.StopException()
            data = events.data
            view = data.view if hasattr(data, "view") else memoryview(data)
            for offset in range(0, len(view) - event_size + 1, event_size):
                code, detail, state = key_event.unpack_from(view, offset)
                if code & 0x7F == X.KeyPress:
                    self.modifier_state(state)
                    self._handle_message(self._display_stop, KeyEvent(X.KeyPress, detail, state), bool(code & 0x80))

    return RecordListener

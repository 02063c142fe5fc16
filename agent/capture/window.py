"""The focused window, password fields and the clipboard, behind one small interface per window system.

`open_window_system()` picks X11 (python-xlib, EWMH), Windows (ctypes on user32) or macOS (AppKit, Quartz).
Instances are not thread-safe: each thread that asks opens its own. On X11 the window system says when the focus
or the focused window's title may have changed (`changes`); elsewhere the focused window is polled.
"""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import psutil


@dataclass(frozen=True)
class WindowInfo:
    title: str
    process_name: str
    process_path: str
    pid: int


class WindowSystem(Protocol):
    def active(self) -> WindowInfo | None:
        """The window that has the keyboard focus, or None if there is none."""

    def password_focused(self) -> bool:
        """Whether the focused control is a password field, where the platform can tell."""

    def clipboard_text(self) -> str:
        """The text on the clipboard, or "" if there is none."""

    def changes(self) -> FocusChanges | None:
        """Start noticing focus and title changes; None where the platform gives no such notice (poll `active`)."""

    def close(self) -> None: ...


class FocusChanges(Protocol):
    def wait(self) -> bool:
        """Block until the focused window or its title may have changed (True) or `interrupt` is called (False)."""

    def interrupt(self) -> None:
        """Make `wait` return False, now or at its next call; callable from any thread."""


def open_window_system() -> WindowSystem:
    if sys.platform == "win32":
        return Win32Windows()
    if sys.platform == "darwin":
        return MacWindows()
    return X11Windows()


class _Processes:
    """Process id, name and path per window handle, looked up once: the focused window is checked on every
    keystroke, and a window never changes process."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[int, str, str]] = {}

    def window(self, handle: int, title: str, pid_of: Callable[[], int]) -> WindowInfo:
        if handle not in self._known:
            if len(self._known) > 256:
                self._known.clear()
            pid = pid_of()
            try:
                process = psutil.Process(pid)
                self._known[handle] = (pid, process.name(), process.exe())
            except (psutil.Error, ValueError):
                self._known[handle] = (pid, "", "")
        pid, name, path = self._known[handle]
        return WindowInfo(title=title, process_name=name, process_path=path, pid=pid)


class X11Windows:
    """EWMH ``_NET_ACTIVE_WINDOW`` when a window manager sets it, else the X input focus (kiosks, no WM).

    X11 cannot tell a password field from any other text field, so `password_focused` is always False there.
    """

    def __init__(self) -> None:
        from Xlib import X, Xatom, display, error

        self._X, self._Xatom, self._XError = X, Xatom, error.XError
        self._display = display.Display()
        self._root = self._display.screen().root
        atom = self._display.intern_atom
        self._net_active = atom("_NET_ACTIVE_WINDOW")
        self._net_name = atom("_NET_WM_NAME")
        self._net_pid = atom("_NET_WM_PID")
        self._utf8 = atom("UTF8_STRING")
        self._clipboard = atom("CLIPBOARD")
        self._transfer = atom("SAFEGUARD_CLIPBOARD")
        self._has_res = self._display.has_extension("X-Resource")
        self._clip_window: Any = None
        self._processes = _Processes()
        self._toplevels: dict[int, Any] = {}  # focus window id -> its titled toplevel
        # Asked for on the root window and every top-level window once `changes` is called: FocusIn where the
        # input focus moves (no window manager), property changes for _NET_ACTIVE_WINDOW (on the root) and titles.
        self._watched_events = X.FocusChangeMask | X.PropertyChangeMask
        self._watching = False
        self._titled = 0  # the titled toplevel that `active` last found, whose title changes are watched
        self._interrupt_read = self._interrupt_write = -1

    def active(self) -> WindowInfo | None:
        """Two or three round trips to the X server: this runs on every keystroke."""
        try:
            focus = self._focused()
            if focus is None:
                return None
            if focus not in self._toplevels:
                if len(self._toplevels) > 256:
                    self._toplevels.clear()
                self._toplevels[focus] = self._toplevel(focus)
                if self._watching and self._toplevels[focus] is not None:
                    self._watch(self._toplevels[focus])  # a client window inside a window manager's frame
            window = self._toplevels[focus]
            if window is None:
                return None
            self._titled = window.id
            return self._processes.window(window.id, self._title(window), lambda: self._pid(window))
        except self._XError:
            return None  # the window went away while we looked at it

    def _focused(self) -> int | None:
        active = self._root.get_property(self._net_active, self._Xatom.WINDOW, 0, 1)
        if active is not None and active.value and active.value[0]:
            return int(active.value[0])
        focus = self._display.get_input_focus().focus
        return None if isinstance(focus, int) else focus.id  # X.NONE or X.PointerRoot

    def _toplevel(self, window_id: int) -> Any:
        """The nearest ancestor (or the window itself) that carries a title; it never changes for a window."""
        window = self._display.create_resource_object("window", window_id)
        while window is not None and window.id != self._root.id:
            if window.get_property(self._net_name, self._utf8, 0, 0) or window.get_wm_name():
                return window
            window = window.query_tree().parent
        return None

    def _title(self, window: Any) -> str:
        name = window.get_property(self._net_name, self._utf8, 0, 1024)
        if name is not None and name.value:
            value = name.value
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        wm_name = window.get_wm_name()
        return wm_name.decode("latin-1") if isinstance(wm_name, bytes) else (wm_name or "")

    def _pid(self, window: Any) -> int:
        prop = window.get_full_property(self._net_pid, self._Xatom.CARDINAL)
        if prop is not None and prop.value:
            return int(prop.value[0])
        if self._has_res:  # clients that do not set _NET_WM_PID (Tk, for one): ask the server
            from Xlib.ext import res

            ids = self._display.res_query_client_ids([{"client": window.id, "mask": res.LocalClientPIDMask}])
            for client in ids.ids:
                if client.value:
                    return int(client.value[0])
        return 0

    def changes(self) -> X11Windows:
        X = self._X
        self._interrupt_read, self._interrupt_write = os.pipe()
        self._watching = True
        # SubstructureNotify: CreateNotify for each new top-level window, to watch it too.
        self._root.change_attributes(event_mask=self._watched_events | X.SubstructureNotifyMask)
        for window in self._root.query_tree().children:
            self._watch(window)
        self._display.flush()
        return self

    def _watch(self, window: Any) -> None:
        # A window may be gone by the time the server reads this: its BadWindow error is ignored.
        window.change_attributes(event_mask=self._watched_events, onerror=self._ignored_error)

    def _ignored_error(self, error: Any, request: Any) -> None:
        pass

    def wait(self) -> bool:
        display = self._display
        while True:
            changed = False
            while display.pending_events():  # also what came in during the last `active`'s round trips
                changed = self._is_change(display.next_event()) or changed
            if changed:
                return True
            display.flush()
            readable, _, _ = select.select([display.fileno(), self._interrupt_read], [], [])
            if self._interrupt_read in readable:
                return False

    def _is_change(self, event: Any) -> bool:
        X = self._X
        if event.type == X.FocusIn:
            return True
        if event.type == X.CreateNotify:
            self._watch(event.window)
            return True  # it may have taken the focus before it was watched
        if event.type == X.PropertyNotify:
            if event.window.id == self._root.id:
                return bool(event.atom == self._net_active)
            return event.window.id == self._titled and event.atom in (self._net_name, self._Xatom.WM_NAME)
        return False

    def interrupt(self) -> None:
        os.write(self._interrupt_write, b"\0")

    def password_focused(self) -> bool:
        return False

    def clipboard_text(self, timeout: float = 0.5) -> str:
        """Ask the CLIPBOARD owner for UTF-8 text and wait up to ``timeout`` seconds for its answer."""
        X = self._X
        if self._clip_window is None:
            self._clip_window = self._root.create_window(0, 0, 1, 1, 0, self._display.screen().root_depth)
        self._clip_window.convert_selection(self._clipboard, self._utf8, self._transfer, X.CurrentTime)
        self._display.flush()
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not self._display.pending_events():
                select.select([self._display.fileno()], [], [], left)
                continue
            event = self._display.next_event()
            if event.type == X.SelectionNotify and event.requestor.id == self._clip_window.id:
                if event.property == X.NONE:
                    return ""
                prop = self._clip_window.get_full_property(self._transfer, X.AnyPropertyType)
                value = prop.value if prop is not None else b""
                return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        return ""

    def close(self) -> None:
        self._display.close()
        if self._watching:
            os.close(self._interrupt_read)
            os.close(self._interrupt_write)


class Win32Windows:
    """GetForegroundWindow for the window; the focused control's ES_PASSWORD style for password fields.

    ES_PASSWORD covers standard edit controls (Windows sign-in prompts, most desktop applications); browsers
    draw their own fields, which no outside process can inspect this way.
    """

    ES_PASSWORD = 0x0020
    GWL_STYLE = -16
    CF_UNICODETEXT = 13

    def __init__(self) -> None:
        import ctypes
        from ctypes import wintypes

        self._ctypes, self._wintypes = ctypes, wintypes
        self._user32 = ctypes.WinDLL("user32", use_last_error=True)
        self._kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        self._user32.GetClipboardData.restype = wintypes.HANDLE
        self._kernel32.GlobalLock.argtypes = [wintypes.HGLOBAL]
        self._kernel32.GlobalLock.restype = wintypes.LPVOID
        self._kernel32.GlobalUnlock.argtypes = [wintypes.HGLOBAL]

        class GuiThreadInfo(ctypes.Structure):
            _fields_ = [
                ("cbSize", wintypes.DWORD), ("flags", wintypes.DWORD), ("hwndActive", wintypes.HWND),
                ("hwndFocus", wintypes.HWND), ("hwndCapture", wintypes.HWND),
                ("hwndMenuOwner", wintypes.HWND),
                ("hwndMoveSize", wintypes.HWND), ("hwndCaret", wintypes.HWND), ("rcCaret", wintypes.RECT),
            ]  # fmt: skip

        self._gui_thread_info = GuiThreadInfo
        self._processes = _Processes()

    def active(self) -> WindowInfo | None:
        ctypes, user32 = self._ctypes, self._user32
        hwnd = user32.GetForegroundWindow()
        if not hwnd:
            return None
        length = user32.GetWindowTextLengthW(hwnd)
        title = ctypes.create_unicode_buffer(length + 1)
        user32.GetWindowTextW(hwnd, title, length + 1)
        return self._processes.window(hwnd, title.value, lambda: self._pid(hwnd))

    def _pid(self, hwnd: int) -> int:
        pid = self._wintypes.DWORD()
        self._user32.GetWindowThreadProcessId(hwnd, self._ctypes.byref(pid))
        return pid.value

    def password_focused(self) -> bool:
        info = self._gui_thread_info(cbSize=self._ctypes.sizeof(self._gui_thread_info))
        if not self._user32.GetGUIThreadInfo(0, self._ctypes.byref(info)) or not info.hwndFocus:
            return False
        return bool(self._user32.GetWindowLongW(info.hwndFocus, self.GWL_STYLE) & self.ES_PASSWORD)

    def clipboard_text(self) -> str:
        if not self._user32.OpenClipboard(None):
            return ""
        try:
            handle = self._user32.GetClipboardData(self.CF_UNICODETEXT)
            if not handle:
                return ""
            pointer = self._kernel32.GlobalLock(handle)
            try:
                return self._ctypes.wstring_at(pointer) if pointer else ""
            finally:
                self._kernel32.GlobalUnlock(handle)
        finally:
            self._user32.CloseClipboard()

    def changes(self) -> None:
        return None

    def close(self) -> None:
        pass  # nothing held between calls


class MacWindows:
    """NSWorkspace for the frontmost application, Quartz for its window title (needs the Screen Recording
    permission), and macOS Secure Event Input, which every password field turns on, for password fields."""

    def __init__(self) -> None:
        try:
            import AppKit
            import Quartz
        except ImportError as error:
            raise RuntimeError(
                "window capture on macOS needs PyObjC: "
                "pip install pyobjc-framework-Cocoa pyobjc-framework-Quartz"
            ) from error
        import ctypes

        self._appkit, self._quartz = AppKit, Quartz
        carbon = ctypes.cdll.LoadLibrary("/System/Library/Frameworks/Carbon.framework/Carbon")
        self._secure_input = carbon.IsSecureEventInputEnabled
        self._processes = _Processes()

    def active(self) -> WindowInfo | None:
        app = self._appkit.NSWorkspace.sharedWorkspace().frontmostApplication()
        if app is None:
            return None
        pid = int(app.processIdentifier())
        quartz = self._quartz
        windows = quartz.CGWindowListCopyWindowInfo(
            quartz.kCGWindowListOptionOnScreenOnly | quartz.kCGWindowListExcludeDesktopElements,
            quartz.kCGNullWindowID,
        )
        title = next(
            (
                str(w.get("kCGWindowName", ""))
                for w in windows
                if w["kCGWindowOwnerPID"] == pid and w["kCGWindowLayer"] == 0
            ),
            "",
        )
        return self._processes.window(pid, title, lambda: pid)

    def password_focused(self) -> bool:
        return bool(self._secure_input())

    def clipboard_text(self) -> str:
        pasteboard = self._appkit.NSPasteboard.generalPasteboard()
        return str(pasteboard.stringForType_(self._appkit.NSPasteboardTypeString) or "")

    def changes(self) -> None:
        return None

    def close(self) -> None:
        pass  # nothing held between calls

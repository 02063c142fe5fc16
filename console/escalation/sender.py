"""Escalation emails and webhook calls leave after the transaction that queued them has committed, from a thread
of their own."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from console.escalation import flows
from console.notify import flows as notify
from console.settings import Settings

log = logging.getLogger(__name__)


class Sender:
    """One thread per console process that sends what is queued whenever it is kicked: the webhook outbox
    (``notify.send_webhooks``), the escalation emails (``flows.send_pending``), then the webhook calls those queued.

    A kick only says "look for pending work", so a spare one costs a few queries; what a kick misses (the process
    stopped first) the scheduler's next escalation or webhook tick sends.
    """

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions, self.settings = sessions, settings
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def kick(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop = False
                self._thread = threading.Thread(target=self._run, name="after-commit-sender", daemon=True)
                self._thread.start()
        self._wake.set()

    def kick_after_commit(self, session: Session) -> None:
        """Kick once ``session``'s transaction commits (never if it rolls back: nothing was queued)."""
        event.listen(session, "after_commit", lambda _session: self.kick(), once=True)

    def close(self, timeout: float = 5.0) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stop:
                return
            self._wake.clear()
            for name, send in (("webhook calls", notify.send_webhooks), ("escalation emails", flows.send_pending),
                               ("webhook calls", notify.send_webhooks)):
                try:
                    send(sessions=self.sessions, settings=self.settings)
                except Exception:  # the tick retries; the thread must live on for the next kick
                    log.exception("sending %s failed", name)

"""The one interface between the agent's runner and whatever captures activity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from safeguard_proto.v1 import agent_pb2 as pb

# Stamps event_id, seq and (if unset) time, writes the event to the spool, and returns its seq.
Emit = Callable[[pb.Event], int]


class Capture(Protocol):
    def start(self, emit: Emit) -> None:
        """Begin capturing; call ``emit`` from any thread for every event."""

    def stop(self) -> None:
        """Stop capturing and release every resource (threads, listeners, watches)."""

    def apply_policy(self, policy: pb.Policy) -> None:
        """Apply a policy pushed by the console, live, without restart."""

    def handle_command(self, command: pb.Command) -> pb.CommandResult:
        """Carry out a console command (for example take a screenshot now)."""

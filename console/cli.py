"""The `safeguard` command: run the console, the demo, and administer schools and devices."""

from __future__ import annotations

import typer

app = typer.Typer(help="Safeguard: safeguarding monitoring for schools.", no_args_is_help=True)

"""Importing the reports loads no heavy library: matplotlib, WeasyPrint and scikit-learn wait until used."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

HEAVY = ("matplotlib", "weasyprint", "sklearn")
CHECK = f"""
import sys
import console.reports.charts, console.reports.cli, console.reports.documents, console.reports.flows
import console.reports.scheduled, console.reports.service, console.reports.views, console.scheduler
print(sorted(name for name in {HEAVY!r} if name in sys.modules))
from console.reports import charts
svg = charts.bars("Alerts", ["a", "b"], [1, 3], "alerts")
import matplotlib
print(matplotlib.get_backend().lower(), svg.startswith("<svg"))
"""


def test_reports_import_no_heavy_library_until_a_chart_is_drawn() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[]", "agg True"]

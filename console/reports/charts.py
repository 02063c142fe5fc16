"""Charts drawn on the server with matplotlib as inline SVG, for the page and the PDF alike."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

from matplotlib import pyplot  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: searchable, and the PDF can extract it
matplotlib.rcParams["svg.hashsalt"] = "safeguard"  # stable ids, so the same figures give the same SVG

COLOURS = ["#0b5cad", "#e0561b", "#2f9e44", "#f2b01e", "#7048e8", "#b3001b", "#15aabf", "#868e96"]


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    pyplot.close(figure)
    # Drop the XML prologue and doctype so the SVG can sit inside an HTML page.
    return re.sub(r"^.*?(<svg)", r"\1", buffer.getvalue(), flags=re.S)


def _figure(width: float = 7.0, height: float = 2.8) -> tuple[Figure, pyplot.Axes]:
    figure, axes = pyplot.subplots(figsize=(width, height))
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def stacked_bars(title: str, labels: Sequence[str], series: dict[str, Sequence[float]], ylabel: str) -> str:
    """One bar per label, stacked by series (for example alerts per month, stacked by category)."""
    figure, axes = _figure()
    bottom = [0.0] * len(labels)
    for index, (name, values) in enumerate(series.items()):
        axes.bar(labels, values, bottom=bottom, label=name.replace("_", " "), color=COLOURS[index % len(COLOURS)])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_title(title, loc="left", fontsize=11)
    axes.set_ylabel(ylabel)
    if series:
        axes.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    return _svg(figure)


def bars(title: str, labels: Sequence[str], values: Sequence[float], ylabel: str, *, horizontal: bool = False) -> str:
    figure, axes = _figure(height=max(2.4, 0.35 * len(labels)) if horizontal else 2.8)
    if horizontal:
        axes.barh(labels, values, color=COLOURS[0])
        axes.invert_yaxis()
        axes.set_xlabel(ylabel)
    else:
        axes.bar(labels, values, color=COLOURS[0])
        axes.set_ylabel(ylabel)
    axes.set_title(title, loc="left", fontsize=11)
    return _svg(figure)

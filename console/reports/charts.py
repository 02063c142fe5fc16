"""Charts drawn on the server with matplotlib as inline SVG, for the page and the PDF alike."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLOURS = ["#0b5cad", "#e0561b", "#2f9e44", "#f2b01e", "#7048e8", "#b3001b", "#15aabf", "#868e96"]

# matplotlib takes about a second to import, so it is imported when the first chart is drawn, not when
# the console or a ``safeguard`` command starts. Figures are made with the object API rather than pyplot,
# which keeps global state: pages and the scheduler draw charts from several threads at once.
_setup = threading.Lock()
_figure_class: Any = None


def _matplotlib_figure() -> type[Figure]:
    global _figure_class
    with _setup:
        if _figure_class is None:
            import matplotlib

            matplotlib.use("Agg")  # no display on a server
            matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: searchable, and in the PDF's text
            matplotlib.rcParams["svg.hashsalt"] = (
                "safeguard"  # stable ids: the same figures give the same SVG
            )
            from matplotlib.figure import Figure

            _figure_class = Figure
    return _figure_class


def _whole_numbers(axis: Any) -> None:
    """Ticks at whole numbers only on the axis of values: no "0.5 alerts" on a quiet month."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    # Drop the XML prologue and doctype so the SVG can sit inside an HTML page.
    return re.sub(r"^.*?(<svg)", r"\1", buffer.getvalue(), flags=re.S)


def _figure(width: float = 7.0, height: float = 2.8) -> tuple[Figure, Any]:
    figure = _matplotlib_figure()(figsize=(width, height))
    axes = figure.subplots()
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def stacked_bars(title: str, labels: Sequence[str], series: dict[str, Sequence[float]], ylabel: str) -> str:
    """One bar per label, stacked by series (for example alerts per month, stacked by category)."""
    figure, axes = _figure()
    bottom = [0.0] * len(labels)
    for index, (name, values) in enumerate(series.items()):
        axes.bar(
            labels, values, bottom=bottom, label=name.replace("_", " "), color=COLOURS[index % len(COLOURS)]
        )
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_title(title, loc="left", fontsize=11)
    axes.set_ylabel(ylabel)
    _whole_numbers(axes.yaxis)
    if series:
        axes.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    return _svg(figure)


def bars(
    title: str, labels: Sequence[str], values: Sequence[float], ylabel: str, *, horizontal: bool = False
) -> str:
    figure, axes = _figure(height=max(2.4, 0.35 * len(labels)) if horizontal else 2.8)
    if horizontal:
        axes.barh(labels, values, color=COLOURS[0])
        axes.invert_yaxis()
        axes.set_xlabel(ylabel)
        _whole_numbers(axes.xaxis)
    else:
        axes.bar(labels, values, color=COLOURS[0])
        axes.set_ylabel(ylabel)
        _whole_numbers(axes.yaxis)
        if len(labels) > 12:
            axes.tick_params(axis="x", labelsize=8)
    axes.set_title(title, loc="left", fontsize=11)
    return _svg(figure)

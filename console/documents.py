"""Pages rendered as documents: the same Jinja2 template as HTML and as PDF (WeasyPrint)."""

from __future__ import annotations

from typing import Any

from console.templating import TEMPLATES_DIR, templates


def render_html(template: str, context: dict[str, Any]) -> str:
    return templates.get_template(template).render(context)


def render_pdf(template: str, context: dict[str, Any]) -> bytes:
    """The template as a PDF; relative links (images, /static/...) resolve against the templates folder."""
    from weasyprint import HTML  # takes seconds to import: only the processes that render PDFs pay for it

    return HTML(string=render_html(template, context), base_url=str(TEMPLATES_DIR)).write_pdf()

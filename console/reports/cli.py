"""`safeguard report ...`: make any report from the command line, print its key figures, write PDF/CSV."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from console.commands import fail, migrated_sessions
from console.reports import service
from console.settings import Settings
from console.store import transaction, utcnow

if TYPE_CHECKING:
    from console.reports.documents import Document

# The documents (charts, templates, PDF) are imported by the commands that make them, not when
# ``safeguard`` starts: they pull in the web templating and, for charts and PDFs, matplotlib and WeasyPrint.

report_app = typer.Typer(
    help="Reports: monthly school, weekly live cases, quarterly performance, rule quality.",
    no_args_is_help=True,
)

PdfOption = Annotated[Path | None, typer.Option("--pdf", help="Also write the report as a PDF here.")]
CsvOption = Annotated[Path | None, typer.Option("--csv", help="Also write the report's tables as CSV here.")]




def _emit(document: Document, pdf: Path | None, csv: Path | None) -> None:
    from console.reports import documents

    typer.echo(f"{document.title}\n{document.subtitle}")
    for label, value in document.facts:
        typer.echo(f"  {label}: {value}")
    if pdf is not None:
        pdf.write_bytes(documents.pdf(document))
        typer.echo(f"PDF written to {pdf}")
    if csv is not None:
        csv.write_text(documents.to_csv(document), encoding="utf-8")
        typer.echo(f"CSV written to {csv}")


def _today(tz: ZoneInfo) -> date:
    return utcnow().astimezone(tz).date()


@report_app.command("monthly")
def monthly(
    school: Annotated[str, typer.Option(help="The school's name.")],
    month: Annotated[str, typer.Option(help="YYYY-MM; default: last month.")] = "",
    pdf: PdfOption = None,
    csv: CsvOption = None,
) -> None:
    """A school's monthly report; a month that has ended is stored (regenerated if it was before)."""
    from console.schools import service as schools

    settings = Settings()
    tz = ZoneInfo(settings.report_timezone)
    month = month or service.previous_month(utcnow(), tz)
    with transaction(migrated_sessions(settings)) as session:
        record = schools.get_by_name(session=session, name=school)
        if record is None:
            fail(f"no school named {school!r}")
        try:
            _, end = service.month_bounds(month, tz)
            report = service.monthly(session=session, school_id=record.id, month=month, tz=tz)
        except service.ReportError as error:
            fail(str(error))
        if end <= utcnow():
            service.store_monthly(session=session, report=report, generated_by="cli")
    from console.reports import documents

    _emit(documents.monthly_document(report), pdf, csv)


@report_app.command("weekly")
def weekly(
    week: Annotated[str, typer.Option(help="ISO week YYYY-Www; default: this week.")] = "",
    pdf: PdfOption = None,
    csv: CsvOption = None,
) -> None:
    """Every open case with owner, deadline and this week's changes; allocation per officer."""
    settings = Settings()
    tz = ZoneInfo(settings.report_timezone)
    today = _today(tz)
    year, number, _ = today.isocalendar()
    with transaction(migrated_sessions(settings)) as session:
        try:
            report = service.weekly(session=session, week=week or f"{year}-W{number:02d}", tz=tz, today=today)
        except service.ReportError as error:
            fail(str(error))
    from console.reports import documents

    _emit(documents.weekly_document(report), pdf, csv)


@report_app.command("quarterly")
def quarterly(
    quarter: Annotated[str, typer.Option(help="YYYY-Qn, for example 2026-Q3.")],
    pdf: PdfOption = None,
    csv: CsvOption = None,
) -> None:
    """Performance figures per school and overall."""
    settings = Settings()
    with transaction(migrated_sessions(settings)) as session:
        try:
            report = service.quarterly(
                session=session, quarter=quarter, tz=ZoneInfo(settings.report_timezone)
            )
        except service.ReportError as error:
            fail(str(error))
    from console.reports import documents

    _emit(documents.quarterly_document(report), pdf, csv)


@report_app.command("rules")
def rules(
    first: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (YYYY-MM-DD).")],
    last: Annotated[
        datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day, included (YYYY-MM-DD).")
    ],
    pdf: PdfOption = None,
    csv: CsvOption = None,
) -> None:
    """Alerts and false-positive share per rule and per category over the days given."""
    settings = Settings()
    with transaction(migrated_sessions(settings)) as session:
        try:
            report = service.rule_quality(
                session=session, first=first.date(), last=last.date(), tz=ZoneInfo(settings.report_timezone)
            )
        except service.ReportError as error:
            fail(str(error))
    from console.reports import documents

    _emit(documents.rules_document(report), pdf, csv)

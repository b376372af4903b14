"""The coordinator's semester workbook (CCTP CAIH 5, CANUT 7): XLSX with its « source » sheet and the CSV of it.

CAIH 5: « L'ensemble des informations devront être disponibles dans un format excel permettant le tri et le
filtrage des différentes informations. Un onglet « source » contiendra la totalité des lignes de commandes passées
depuis le début du marché », each line with « Finess juridique de l'établissement, Nom de l'établissement, Code
Postal, Ville, Date de commande, Code article demandé (issu du BPU), Constructeur, Prix unitaire HT, Quantité, CA
HT facturés, BPU ou CATALOGUE, Remise complémentaire en % sur le BPU en vigueur » (``SOURCE_COLUMNS``, in that
order, then the columns the aggregates use), and « sous formes de rapports (tableaux croisés, graphiques, …) »:

- « Le volume d'affaire global réalisé chaque 6 mois » (sheet « Volume par semestre », a column chart);
- « Le volume d'affaire réalisé annuellement par chaque adhérent » (« Par bénéficiaire »), and CANUT 7's « volume
  d'affaire réalisé par chaque Bénéficiaire qui sera identifié par son numéro SIRET, présenté à une échelle de temps
  mensuelle, trimestrielle, et annuelle » (« Global par période »: a line chart; « Bénéficiaire par période »: one
  filterable row per beneficiary and month, quarter or year);
- « Le volume d'affaire réalisé sur la partie BPU de base et […] sur la partie catalogue » (« BPU et catalogue »);
- « La répartition des commandes annuelles sur chacune des lignes du BPU » (« Lignes du BPU »);
- « La répartition des commandes annuelles sur chacune des options » (« Répartition par option »: the service
  window and level of CAIH 2.1.21 / 2.1.22 in force at the order date, ``_Options``);
- « La répartition régionale des adhérents » (« Régions »: beneficiaries counted whether or not they ordered);
- « La part du chiffre d'affaires fait en location/achat » (« Achat et location »).

xlsxwriter writes no pivot tables: the tables are aggregated here, in one pass over the lines, while the source
rows are written (``constant_memory``: each row goes to disk as the next starts; only the aggregates, a few
thousand keys, stay in memory). Every text cell goes through ``app.exports.safe_cell`` (a maker named
``=HYPERLINK(…)`` stays text); dates are dates, amounts numbers with a euro format.

« CA HT facturés »: until invoices exist (``billing``), the amount known is the line's total HT after its extra
discount as ordered; the column says « CA HT (commandé) » and the « Synthèse » sheet says why.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import shutil
import time
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter

from app.exports import safe_cell
from catalog.rules import FAMILIES, MODES
from catalog.services import Beneficiary, ReportedLine
from incidents.services import PolicyPeriod, ServiceOption
from reporting.ods import OdsBook, OdsChart
from reporting.semester import Semester
from reporting.source_rows import ROW, SourceRows

__all__ = ["OPTIONS_SHEET", "SHEETS", "SLA_SHEET", "SOURCE_COLUMNS", "ReportMeta", "SemesterWorkbook", "identifier_header"]

#: CAIH 5's columns, in its order (the first, FINESS or SIRET, is named by ``identifier_header``).
SOURCE_COLUMNS = ("FINESS juridique", "Nom de l'établissement", "Code postal", "Ville", "Date de commande",
                  "Code article (BPU)", "Constructeur", "Prix unitaire HT", "Quantité", "CA HT (commandé)",
                  "BPU ou CATALOGUE", "Remise complémentaire (%)")
#: What the aggregates use, after CAIH 5's columns.
EXTRA_COLUMNS = ("Semestre", "N° de commande", "Accord-cadre", "Libellé", "Famille", "Achat ou location", "Région")
SHEETS = ("Synthèse", "source", "Volume par semestre", "Par bénéficiaire", "Global par période",
          "Bénéficiaire par période", "BPU et catalogue", "Lignes du BPU", "Répartition par option", "Régions",
          "Achat et location", "Engagements de service")
OPTIONS_SHEET = "Répartition par option"

#: CAIH 2.1.26 / 2.1.27 / 6.1: the semester's service indicators, from ``incidents.services``.
SLA_SHEET = SHEETS[-1]
_WIDTHS = (16, 36, 11, 22, 14, 18, 18, 16, 11, 16, 12, 14, 12, 16, 18, 36, 20, 12, 26)
#: The « Lignes du BPU » chart shows the report year's first articles by CA HT (the table has them all).
CHART_ARTICLES = 30
NO_REGION = "(région non renseignée)"
#: A beneficiary whose policy versions were not given (the option is not known).
NO_OPTION = ServiceOption((9, 0, ""), "(non renseignée)", "")
#: The XLSX's deflate level: 3, 2.8 × faster than zlib's default on the « source » sheet's XML (1.3 GB for a
#: million lines: 3 s of CPU instead of 8) for a file 7 % larger (level 1: 30 % larger).
ZIP_LEVEL = 3
#: Source rows written at a time (``SemesterWorkbook.add``): about 300 kB of XLSX text.
CHUNK = 250


def identifier_header(beneficiaries: Iterable[Beneficiary]) -> str:
    """« FINESS juridique » (CAIH 5) when every beneficiary has one, « SIRET » (CANUT 7 « identifié par son numéro
    SIRET ») when none has, « FINESS juridique ou SIRET » for a mix (each line shows the FINESS when it exists)."""
    kinds = {bool(b.finess) for b in beneficiaries}
    return "FINESS juridique" if kinds == {True} else "SIRET" if kinds == {False} else "FINESS juridique ou SIRET"


@dataclass(frozen=True)
class ReportMeta:
    """The report's parameters, written on its « Synthèse » sheet."""

    central_code: str
    central_name: str
    semester: Semester
    agreements: tuple[str, ...]
    since: dt.date | None
    generated_at: dt.datetime
    generated_by: str
    zone: Any


def _option_label(option: ServiceOption) -> str:
    """« 24/7 — GTR 4 h », « HO » (no ordered level)."""
    return f"{option.window} — {option.level}" if option.level else option.window


def _quarter(month: int) -> int:
    return (month - 1) // 3 + 1


@dataclass
class _Totals:
    """The aggregates of one pass over the lines (Decimal throughout). Each line adds to three sums only (its
    beneficiary's month, its kind and mode's month, its year's article: ``add``); ``finish`` derives the sheets'
    tables from them (a semester, a region, the report's semester are sets of months)."""

    lines: int = 0
    #: (beneficiary's index, year, month) -> CA HT; the beneficiaries' ids and regions by index.
    months: dict[tuple[int, int, int], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    tenants: list[tuple[Any, str]] = field(default_factory=list)
    #: (kind, purchase or rental, year, month) -> CA HT
    kinds: dict[tuple[str, str, int, int], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    #: (year, article code) -> [label, kind, quantity, CA HT]
    articles: dict[tuple[int, str], list[Any]] = field(default_factory=dict)
    # What the sheets read, made by ``finish``.
    since_start: Decimal = Decimal(0)
    semester: Decimal = Decimal(0)
    by_semester: dict[Semester, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    by_month: dict[tuple[int, int], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    tenant_month: dict[tuple[Any, int, int], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    kind: dict[tuple[str, bool], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    mode: dict[tuple[str, bool], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    region: dict[tuple[str, bool], Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def tenant(self, tenant_id: Any, region: str) -> int:
        """A beneficiary's index (the first line of each)."""
        self.tenants.append((tenant_id, region))
        return len(self.tenants) - 1

    def finish(self, report: Semester) -> None:
        def scopes(year: int, month: int) -> tuple[bool, ...]:
            return (False, True) if report.contains(dt.date(year, month, 1)) else (False,)

        for (index, year, month), amount in self.months.items():
            tenant_id, region = self.tenants[index]
            self.since_start += amount
            self.by_semester[Semester(year, 1 if month <= 6 else 2)] += amount
            self.by_month[(year, month)] += amount
            self.tenant_month[(tenant_id, year, month)] += amount
            for scope in scopes(year, month):
                if scope:
                    self.semester += amount
                self.region[(region, scope)] += amount
        for (kind, mode, year, month), amount in self.kinds.items():
            for scope in scopes(year, month):
                self.kind[(kind, scope)] += amount
                self.mode[(mode, scope)] += amount


class _Options:
    """CAIH 5 « La répartition des commandes annuelles sur chacune des options »: each line's option is the one of
    the policy version in force at its order date (``incidents.services.service_option_periods``): the last version
    made on or before that day (in the report's zone); an order dated before the beneficiary's first version takes
    that first version (the platform records the policy from the day the beneficiary joins it, orders since the
    start of the agreement may be older). Per (option, year, in the report's semester): orders, lines, CA HT; an
    order counts once (its lines come together: ``catalog.services.ordered_lines_of_central`` reads them by date,
    tenant and number)."""

    def __init__(self, periods: dict[Any, tuple[PolicyPeriod, ...]] | None, zone: Any) -> None:
        self.periods, self.zone = periods or {}, zone
        self.options: list[ServiceOption] = []
        self.ids: dict[ServiceOption, int] = {}
        #: By the beneficiary's index (``_Totals.tenant``): the local days its versions start, their option ids.
        self.tracks: list[tuple[list[dt.date], list[int]]] = []
        #: (option id, year, in the report) -> [orders, lines, CA HT]
        self.sums: dict[tuple[int, int, bool], list[Any]] = {}
        self.last_order: tuple[int, str] | None = None

    def _id(self, option: ServiceOption) -> int:
        found = self.ids.get(option)
        if found is None:
            found = self.ids[option] = len(self.options)
            self.options.append(option)
        return found

    def track(self, tenant_id: Any) -> None:
        """The next beneficiary index's versions (called with ``_Totals.tenant``, in the same order)."""
        periods = self.periods.get(tenant_id) or ()
        if not periods:
            self.tracks.append(([dt.date.min], [self._id(NO_OPTION)]))
            return
        days = [dt.date.min if p.since is None else p.since.astimezone(self.zone).date() for p in periods]
        days[0] = dt.date.min
        self.tracks.append((days, [self._id(p.option) for p in periods]))

    def add(self, index: int, day: dt.date, in_report: bool, number: str, amount: Decimal) -> None:
        days, ids = self.tracks[index]
        option = ids[0] if len(ids) == 1 else ids[bisect.bisect_right(days, day) - 1]
        key = (option, day.year, in_report)
        found = self.sums.get(key)
        if found is None:
            found = self.sums[key] = [0, 0, Decimal(0)]
        order = (index, number)
        if order != self.last_order:
            self.last_order = order
            found[0] += 1
        found[1] += 1
        found[2] += amount

    def table(self) -> list[tuple[ServiceOption, list[Any], list[Any]]]:
        """Per option, HO first: [orders, lines, CA HT] of the report's semester, then since the start."""
        out: dict[int, tuple[list[Any], list[Any]]] = {}
        for (option, _year, in_report), sums in self.sums.items():
            semester, since = out.setdefault(option, ([0, 0, Decimal(0)], [0, 0, Decimal(0)]))
            for scope in (semester, since) if in_report else (since,):
                for i in range(3):
                    scope[i] += sums[i]
        return sorted(((self.options[o], s, a) for o, (s, a) in out.items()), key=lambda r: r[0])

    def years(self) -> list[tuple[int, ServiceOption, list[Any]]]:
        """Per year and option: [orders, lines, CA HT] (« commandes annuelles »)."""
        out: dict[tuple[int, int], list[Any]] = {}
        for (option, year, _in_report), sums in self.sums.items():
            found = out.setdefault((year, option), [0, 0, Decimal(0)])
            for i in range(3):
                found[i] += sums[i]
        return sorted(((y, self.options[o], v) for (y, o), v in out.items()), key=lambda r: (r[0], r[1]))


class SemesterWorkbook:
    """One report's XLSX and CSV, written as the lines come (``add`` per batch, in a thread), finished by ``close``.

    ``beneficiaries``: every beneficiary of the report's agreements (the regional split counts them all, and the
    per-beneficiary tables list those without orders too). ``options``: per beneficiary, its policy versions
    (``incidents.services.service_option_periods``; None: the options are not known)."""

    def __init__(self, xlsx_path: Path, csv_path: Path, meta: ReportMeta, beneficiaries: Sequence[Beneficiary],
                 ods_path: Path | None = None, sla: Any = None,
                 options: dict[Any, tuple[PolicyPeriod, ...]] | None = None) -> None:
        self.meta = meta
        self.sla = sla
        self.beneficiaries = list(beneficiaries)
        self.totals = _Totals()
        self.options = _Options(options, meta.zone)
        self.header = (identifier_header(self.beneficiaries), *SOURCE_COLUMNS[1:], *EXTRA_COLUMNS)
        self.skeleton_path = xlsx_path.with_name(xlsx_path.name + ".skeleton")
        self.book = xlsxwriter.Workbook(str(self.skeleton_path), {
            "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
            "strings_to_numbers": False, "default_date_format": "dd/mm/yyyy"})
        self.sheet_names = list(SHEETS)
        self.book_title = f"Reporting {meta.semester.label} — {meta.central_name}"
        self.book.set_properties({"title": self.book_title,
                                  "author": "Centrale", "comments": "CCTP CAIH 5, CCTP CANUT 7"})
        self.sheets = {name: self.book.add_worksheet(name) for name in self.sheet_names}
        f = self.book.add_format
        self.bold = f({"bold": True})
        self.head = f({"bold": True, "bg_color": "#DDE4EE", "border": 1, "text_wrap": True, "valign": "top"})
        self.title = f({"bold": True, "font_size": 14})
        self.date = f({"num_format": "dd/mm/yyyy"})
        self.money = f({"num_format": '#,##0.00 "€"'})
        self.money_bold = f({"num_format": '#,##0.00 "€"', "bold": True})
        self.price = f({"num_format": '#,##0.00## "€"'})
        self.quantity = f({"num_format": "#,##0.###"})
        self.percent = f({"num_format": "0.00"})
        self.rate = f({"num_format": '0.0" %"'})
        self.duration = f({"num_format": "[h]:mm"})
        self.good = f({"font_color": "#1E6B2E", "bold": True})
        self.bad = f({"font_color": "#B00020", "bold": True})
        #: The ODS cell kind of each format (``reporting.ods.KINDS``), the aggregated sheets' cells as written.
        self.kinds = {id(self.bold): "bold", id(self.head): "header", id(self.title): "title", id(self.date): "date",
                      id(self.money): "currency", id(self.money_bold): "currency_bold", id(self.price): "price",
                      id(self.quantity): "quantity", id(self.percent): "percent", id(self.rate): "float",
                      id(self.duration): "duration", id(self.good): "bold", id(self.bad): "bold"}
        self.grids: dict[str, dict[int, dict[int, tuple[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
        self.filters: dict[str, tuple[int, int]] = {}
        #: The charts as inserted, for the ODS; a chart made by ``_chart`` waits in ``chart_specs`` for its place.
        self.charts: list[OdsChart] = []
        self.chart_specs: dict[int, OdsChart] = {}
        self.ods = OdsBook(ods_path, self.sheet_names, title=self.book_title) if ods_path else None
        self.source = self.sheets["source"]
        for col, width in enumerate(_WIDTHS[:len(self.header)]):
            self.source.set_column(col, col, width)
        self._row(self.source, 0, self.header, self.head)
        if self.ods:
            self.ods.source_row([("header", h) for h in self.header])
        self.row = 1
        # The source rows are text built from templates (``reporting.source_rows``), not xlsxwriter's cells: its
        # sheet holds the header only, and ``close`` puts the rows of the side file under it in the final ZIP.
        self.xlsx_path = xlsx_path
        self.rows_path = xlsx_path.with_name(xlsx_path.name + ".rows")
        self.rows = self.rows_path.open("w", encoding="utf-8", newline="")
        # The cell formats' indexes, in the order the per-cell writer gave them (the header's first).
        styles = {"header": self.head, "date": self.date, "price": self.price, "quantity": self.quantity,
                  "money": self.money, "percent": self.percent}
        self.texts = SourceRows({name: fmt._get_xf_index() for name, fmt in styles.items()}, meta.semester,
                                dict(FAMILIES), dict(MODES),
                                self._first_line_of)
        self.csv_handle = csv_path.open("w", encoding="utf-8-sig", newline="")
        csv.writer(self.csv_handle, delimiter=";", lineterminator="\r\n").writerow([safe_cell(h) for h in self.header])
        #: Seconds spent per part (the bench's and the job log's figures).
        self.timings: dict[str, float] = defaultdict(float)

    def _first_line_of(self, b: Beneficiary) -> tuple[str, int]:
        """A beneficiary's region and index in the aggregates, at its first line."""
        region = b.region or NO_REGION
        self.options.track(b.tenant_id)
        return region, self.totals.tenant(b.tenant_id, region)

    # ----------------------------------------------------------------- the source sheet

    def _row(self, sheet: Any, row: int, values: Sequence[Any], fmt: Any = None) -> None:
        for col, value in enumerate(values):
            self._cell(sheet, row, col, value, fmt)

    def _cell(self, sheet: Any, row: int, col: int, value: Any, fmt: Any = None) -> None:
        if not isinstance(value, dt.timedelta):
            value = safe_cell(value)
        if sheet is not self.source:
            self.grids[sheet.get_name()][row][col] = (self.kinds.get(id(fmt), "text"), value)
        if isinstance(value, dt.timedelta):  # a duration: days, shown [h]:mm
            sheet.write_number(row, col, value.total_seconds() / 86400, fmt or self.duration)
        elif isinstance(value, dt.date):
            sheet.write_datetime(row, col, dt.datetime.combine(value, dt.time()), fmt or self.date)
        elif isinstance(value, Decimal | int | float):
            sheet.write_number(row, col, float(value), fmt)
        elif value == "":
            sheet.write_blank(row, col, None, fmt)
        else:
            sheet.write_string(row, col, value, fmt)

    def add(self, lines: Iterable[ReportedLine]) -> None:
        """A batch of lines: the aggregates, then the batch's rows in each format (timed apart)."""
        clock = time.perf_counter
        started_batch = clock()
        texts, totals = self.texts, self.totals
        rows = []
        months, kinds, articles, option = totals.months, totals.kinds, totals.articles, self.options.add
        for line in lines:
            day, who, amount = texts.day(line.order_date), texts.beneficiary(line.beneficiary), line.ordered_ht
            year, month = day.month
            months[(who.index, year, month)] += amount
            option(who.index, line.order_date, day.in_report, line.order_number, amount)
            kinds[(line.kind, line.purchase_or_rental, year, month)] += amount
            article = articles.get((year, line.article_code))
            if article is None:
                articles[(year, line.article_code)] = [line.label, line.kind, line.quantity, amount]
            else:
                article[2] += line.quantity
                article[3] += amount
            rows.append((who.cells, day, texts.article(line), texts.price(line.unit_price_ht),
                         texts.quantity(line.quantity), texts.amount(amount), texts.discount(line.discount_percent),
                         texts.order(line.order_number, line.agreement_reference)))
        totals.lines += len(rows)
        built = clock()
        xlsx = ods = csv_rows = 0.0
        # The rows go out in chunks: a batch's text joined whole (about 10 MB in the three formats, encoded
        # again by the files) was most of the job's peak memory.
        for at in range(0, len(rows), CHUNK):
            chunk, first = rows[at:at + CHUNK], self.row + at + 1
            started = clock()
            self.rows.write("".join(
                f'<row r="{r}">{who.xlsx}{day.date.xlsx}{code.xlsx}{price.xlsx}{quantity.xlsx}{amount.xlsx}'
                f'{kind.xlsx}{discount.xlsx}{day.label.xlsx}{order.xlsx}{label.xlsx}{where.xlsx}</row>'
                .replace(ROW, str(r))
                for r, ((who, where), day, (code, kind, label), price, quantity, amount, discount, order) in
                enumerate(chunk, start=first)))
            done = clock()
            xlsx += done - started
            if self.ods:
                self.ods.source_xml("".join(
                    f"<table:table-row>{who.ods}{day.date.ods}{code.ods}{price.ods}{quantity.ods}{amount.ods}"
                    f"{kind.ods}{discount.ods}{day.label.ods}{order.ods}{label.ods}{where.ods}</table:table-row>\n"
                    for (who, where), day, (code, kind, label), price, quantity, amount, discount, order in chunk),
                    len(chunk), len(self.header))
                started, done = done, clock()
                ods += done - started
            self.csv_handle.write("".join(
                f"{who.csv};{day.date.csv};{code.csv};{price.csv};{quantity.csv};{amount.csv};{kind.csv};"
                f"{discount.csv};{day.label.csv};{order.csv};{label.csv};{where.csv}\r\n"
                for (who, where), day, (code, kind, label), price, quantity, amount, discount, order in chunk))
            csv_rows += clock() - done
        self.row += len(rows)
        timings = self.timings
        timings["lines_and_aggregates"] += built - started_batch
        timings["xlsx_rows"] += xlsx
        timings["ods_rows"] += ods
        timings["csv_rows"] += csv_rows

    # ----------------------------------------------------------------- the aggregated sheets

    def close(self, progress: Callable[[str], None] | None = None) -> None:
        started = time.perf_counter()
        self.totals.finish(self.meta.semester)
        last = max(self.row - 1, 1)
        self.source.autofilter(0, 0, last, len(self.header) - 1)
        self.filters["source"] = (last, len(self.header) - 1)
        self.source.freeze_panes(1, 0)
        self.csv_handle.close()
        self.rows.close()
        for name, write in (("Synthèse", self._summary), ("Volume par semestre", self._semesters),
                            ("Par bénéficiaire", self._per_beneficiary), ("Global par période", self._periods),
                            ("Bénéficiaire par période", self._beneficiary_periods),
                            ("BPU et catalogue", self._kinds), ("Lignes du BPU", self._articles),
                            (OPTIONS_SHEET, self._options),
                            ("Régions", self._regions), ("Achat et location", self._modes),
                            (SLA_SHEET, self._sla)):
            write(self.sheets[name])
            if progress:
                progress(name)
        self.sheets["Synthèse"].activate()
        self.book.close()
        self.timings["aggregated_sheets"] += time.perf_counter() - started
        # The two files are compressed at once, one per core: zlib lets go of the GIL while it deflates.
        with ThreadPoolExecutor(2) as pool:
            jobs = [pool.submit(self._timed, "xlsx_zip", self._assemble)]
            if self.ods:
                jobs.append(pool.submit(self._timed, "ods_zip", self.ods.close, self.grids, self.filters,
                                        self.charts))
            for job in jobs:
                job.result()

    def _timed(self, name: str, call: Callable[..., None], *args: Any) -> None:
        started = time.perf_counter()
        try:
            call(*args)
        finally:
            self.timings[name] += time.perf_counter() - started

    def _assemble(self) -> None:
        """The final XLSX: xlsxwriter's parts, its « source » sheet with the side file's rows after the header."""
        sheet = f"xl/worksheets/sheet{self.sheet_names.index('source') + 1}.xml"
        try:
            with zipfile.ZipFile(self.skeleton_path) as source, zipfile.ZipFile(
                    self.xlsx_path, "w", zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as target:
                for info in source.infolist():
                    data = source.read(info.filename)
                    if info.filename != sheet:
                        target.writestr(info, data)
                        continue
                    text = data.decode("utf-8")
                    cut = text.index("</sheetData>")
                    head, tail = text[:cut], text[cut:]
                    if self.row > 1:
                        head = head.replace('<dimension ref="A1:S1"/>', f'<dimension ref="A1:S{self.row}"/>', 1)
                    with target.open(info.filename, "w", force_zip64=True) as out, self.rows_path.open("rb") as rows:
                        out.write(head.encode("utf-8"))
                        shutil.copyfileobj(rows, out, 1 << 20)
                        out.write(tail.encode("utf-8"))
        finally:
            self.skeleton_path.unlink(missing_ok=True)
            self.rows_path.unlink(missing_ok=True)

    def _insert(self, sheet: Any, row: int, col: int, chart: Any, options: dict[str, float] | None = None) -> None:
        """xlsxwriter's ``insert_chart``, and the same chart for the ODS (``reporting.ods.OdsChart``) at the same
        cell and size."""
        sheet.insert_chart(row, col, chart, options or {})
        spec = self.chart_specs.pop(id(chart))
        spec.row, spec.col = row, col
        spec.x_scale, spec.y_scale = (options or {}).get("x_scale", 1), (options or {}).get("y_scale", 1)
        self.charts.append(spec)

    def _autofilter(self, sheet: Any, last_row: int, last_col: int) -> None:
        sheet.autofilter(0, 0, last_row, last_col)
        self.filters[sheet.get_name()] = (last_row, last_col)

    def _table(self, sheet: Any, top: int, header: Sequence[str], rows: Sequence[Sequence[Any]],
               formats: Sequence[Any]) -> int:
        """A header row and its rows from ``top``; returns the last row written."""
        self._row(sheet, top, header, self.head)
        for i, values in enumerate(rows, start=top + 1):
            for col, value in enumerate(values):
                self._cell(sheet, i, col, value, formats[col] if col < len(formats) else None)
        return top + len(rows)

    def _chart(self, kind: str, sheet: Any, title: str, categories: tuple[int, int, int, int],
               values: list[tuple[str, tuple[int, int, int, int]]], *, subtype: str | None = None) -> Any:
        chart = self.book.add_chart({"type": kind, **({"subtype": subtype} if subtype else {})})
        name = sheet.get_name()
        for series, (r0, c0, r1, c1) in values:
            chart.add_series({"name": series, "categories": [name, *categories], "values": [name, r0, c0, r1, c1],
                              **({"data_labels": {"percentage": True}} if kind == "pie" else {})})
        chart.set_title({"name": title})
        self.chart_specs[id(chart)] = OdsChart(kind, name, title, categories, values, stacked=subtype == "stacked")
        if kind not in ("pie", "doughnut"):
            chart.set_y_axis({"num_format": '#,##0 "€"'})
            chart.set_legend({"position": "bottom"} if len(values) > 1 else {"none": True})
        return chart

    def _summary(self, sheet: Any) -> None:
        m, t = self.meta, self.totals
        sheet.set_column(0, 0, 44)
        sheet.set_column(1, 1, 60)
        self._cell(sheet, 0, 0, f"Reporting semestriel — {m.central_name}", self.title)
        since = f"du {m.since:%d/%m/%Y}" if m.since else "depuis la première commande"
        at = m.generated_at.astimezone(m.zone)
        rows: list[tuple[str, Any, Any]] = [
            ("Centrale", f"{m.central_name} ({m.central_code})", None),
            ("Accord(s)-cadre(s)", ", ".join(m.agreements) or "—", None),
            ("Semestre", f"{m.semester.label} (du {m.semester.start:%d/%m/%Y} au {m.semester.end:%d/%m/%Y})", None),
            ("Depuis le début du marché", f"{since} au {m.semester.end:%d/%m/%Y}", None),
            ("À fournir au coordinateur au plus tard le", m.semester.due_on, self.date),
            ("Produit le", f"{at:%d/%m/%Y à %H:%M}", None),
            ("Par", m.generated_by or "—", None),
            ("Lignes de commande (onglet « source »)", t.lines, None),
            ("Bénéficiaires des accords", len(self.beneficiaries), None),
            ("CA HT du semestre", t.semester, self.money_bold),
            ("CA HT depuis le début du marché", t.since_start, self.money_bold),
        ]
        for i, (label, value, fmt) in enumerate(rows, start=2):
            self._cell(sheet, i, 0, label, self.bold)
            self._cell(sheet, i, 1, value, fmt)
        notes = [
            "CCTP CAIH 5 : reporting « tous les 6 mois avant le 31 janvier et le 31 juillet en portant sur le semestre "
            "de l'année en cours, et sur la totalité depuis le début du marché ».",
            "« CA HT (commandé) » : le CA HT facturé demandé par le CCTP CAIH 5 est, tant que la facturation n'est pas "
            "en service, le montant HT commandé de chaque ligne après sa remise complémentaire (commandes émises, "
            "en cours, livrées, vérifiées ou closes ; ni les brouillons ni les commandes annulées).",
            "« CATALOGUE » : l'article est celui qui valorise une solution du catalogue de l'accord (CCTP CANUT "
            "5.1.2) ; « BPU » : un article du BPU de base.",
            "Les tableaux des onglets suivants sont calculés sur les lignes de l'onglet « source » ; l'onglet "
            "« source » se trie et se filtre (filtre automatique sur la ligne d'en-tête).",
        ]
        for i, note in enumerate(notes, start=len(rows) + 3):
            self._cell(sheet, i, 0, note)

    def _semesters(self, sheet: Any) -> None:
        sheet.set_column(0, 0, 22)
        sheet.set_column(1, 1, 18)
        rows = [(s.label, amount) for s, amount in sorted(self.totals.by_semester.items())]
        last = self._table(sheet, 0, ("Semestre", "CA HT"), rows, (None, self.money))
        if rows:
            chart = self._chart("column", sheet, "Volume d'affaires par semestre (CA HT)", (1, 0, last, 0),
                                [("CA HT", (1, 1, last, 1))])
            self._insert(sheet, 1, 3, chart, {"x_scale": 1.4, "y_scale": 1.3})

    def _per_beneficiary(self, sheet: Any) -> None:
        t = self.totals
        years = sorted({y for (_tid, y, _m) in t.tenant_month})
        per_year: dict[tuple[Any, int], Decimal] = defaultdict(Decimal)
        for (tid, year, _month), amount in t.tenant_month.items():
            per_year[(tid, year)] += amount
        sheet.set_column(0, 0, 16)
        sheet.set_column(1, 1, 40)
        sheet.set_column(2, 3 + len(years), 16)
        header = (self.header[0], "Établissement", "Région", *(str(y) for y in years), "Total")
        rows = [(b.identifier, b.name, b.region or NO_REGION, *(per_year.get((b.tenant_id, y), Decimal(0))
                                                                 for y in years),
                 sum((per_year.get((b.tenant_id, y), Decimal(0)) for y in years), Decimal(0)))
                for b in self.beneficiaries]
        last = self._table(sheet, 0, header, rows, (None, None, None, *([self.money] * (len(years) + 1))))
        self._autofilter(sheet, max(last, 1), len(header) - 1)
        sheet.freeze_panes(1, 2)
        if rows and years:
            chart = self._chart("bar", sheet, "Volume d'affaires annuel par bénéficiaire (CA HT)", (1, 1, last, 1),
                                [(str(y), (1, 3 + i, last, 3 + i)) for i, y in enumerate(years)], subtype="stacked")
            self._insert(sheet, 1, len(header) + 1, chart, {"x_scale": 1.5, "y_scale": max(1.3, len(rows) / 12)})

    def _periods(self, sheet: Any) -> None:
        by_month = self.totals.by_month
        by_quarter: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
        by_year: dict[int, Decimal] = defaultdict(Decimal)
        for (year, month), amount in by_month.items():
            by_quarter[(year, _quarter(month))] += amount
            by_year[year] += amount
        sheet.set_column(0, 0, 12)
        sheet.set_column(1, 1, 16)
        sheet.set_column(3, 3, 12)
        sheet.set_column(4, 4, 16)
        sheet.set_column(6, 6, 10)
        sheet.set_column(7, 7, 16)
        months = [(f"{y}-{m:02d}", v) for (y, m), v in sorted(by_month.items())]
        quarters = [(f"{y}-T{q}", v) for (y, q), v in sorted(by_quarter.items())]
        years = [(str(y), v) for y, v in sorted(by_year.items())]
        # Three tables side by side, written row by row (constant_memory writes rows in order).
        self._row(sheet, 0, ("Mois", "CA HT", "", "Trimestre", "CA HT", "", "Année", "CA HT"), self.head)
        for i in range(max(len(months), len(quarters), len(years))):
            for col, table in ((0, months), (3, quarters), (6, years)):
                if i < len(table):
                    self._cell(sheet, i + 1, col, table[i][0])
                    self._cell(sheet, i + 1, col + 1, table[i][1], self.money)
        if months:
            chart = self._chart("line", sheet, "Volume d'affaires global par mois (CA HT)", (1, 0, len(months), 0),
                                [("CA HT", (1, 1, len(months), 1))])
            self._insert(sheet, 1, 9, chart, {"x_scale": 1.5, "y_scale": 1.2})
            chart = self._chart("column", sheet, "Par trimestre", (1, 3, len(quarters), 3),
                                [("CA HT", (1, 4, len(quarters), 4))])
            self._insert(sheet, 20, 9, chart)
            chart = self._chart("column", sheet, "Par année", (1, 6, len(years), 6), [("CA HT", (1, 7, len(years), 7))])
            self._insert(sheet, 20, 17, chart)

    def _beneficiary_periods(self, sheet: Any) -> None:
        """CANUT 7: per beneficiary (its SIRET), the volume by month, quarter and year; one row per period, so
        that the sheet filters to one beneficiary or one scale."""
        by_id = {b.tenant_id: b for b in self.beneficiaries}
        quarter: dict[tuple[Any, int, int], Decimal] = defaultdict(Decimal)
        year: dict[tuple[Any, int], Decimal] = defaultdict(Decimal)
        for (tid, y, m), amount in self.totals.tenant_month.items():
            quarter[(tid, y, _quarter(m))] += amount
            year[(tid, y)] += amount
        rows: list[tuple[Any, ...]] = []
        for scale, entries in (("Mois", [((tid, y), f"{y}-{m:02d}", v)
                                         for (tid, y, m), v in self.totals.tenant_month.items()]),
                               ("Trimestre", [((tid, y), f"{y}-T{q}", v) for (tid, y, q), v in quarter.items()]),
                               ("Année", [((tid, y), str(y), v) for (tid, y), v in year.items()])):
            for (tid, _y), period, amount in sorted(entries, key=lambda e: (by_id[e[0][0]].name, e[1])):
                b = by_id[tid]
                rows.append((b.identifier, b.name, scale, period, amount))
        sheet.set_column(0, 0, 16)
        sheet.set_column(1, 1, 40)
        sheet.set_column(2, 3, 12)
        sheet.set_column(4, 4, 16)
        last = self._table(sheet, 0, (self.header[0], "Établissement", "Échelle", "Période", "CA HT"), rows,
                           (None, None, None, None, self.money))
        self._autofilter(sheet, max(last, 1), 4)
        sheet.freeze_panes(1, 0)

    def _split(self, sheet: Any, title: str, label: str, values: dict[tuple[str, bool], Decimal],
               names: dict[str, str], order: Sequence[str]) -> None:
        keys = [k for k in order if (k, False) in values] + sorted(
            {k for k, _ in values} - set(order))
        rows = [(names.get(k, k), values.get((k, True), Decimal(0)), values.get((k, False), Decimal(0))) for k in keys]
        sheet.set_column(0, 0, 30)
        sheet.set_column(1, 2, 22)
        last = self._table(sheet, 0, (label, f"CA HT {self.meta.semester.label}", "CA HT depuis le début du marché"),
                           rows, (None, self.money, self.money))
        if rows:
            self._insert(sheet, 1, 4, self._chart("pie", sheet, f"{title} — {self.meta.semester.label}",
                                                  (1, 0, last, 0), [("CA HT du semestre", (1, 1, last, 1))]))
            self._insert(sheet, 17, 4, self._chart("pie", sheet, f"{title} — depuis le début du marché",
                                                   (1, 0, last, 0), [("CA HT depuis le début", (1, 2, last, 2))]))

    def _kinds(self, sheet: Any) -> None:
        self._split(sheet, "BPU de base et catalogue", "Partie", self.totals.kind,
                    {"BPU": "BPU", "CATALOGUE": "CATALOGUE"}, ("BPU", "CATALOGUE"))

    def _modes(self, sheet: Any) -> None:
        self._split(sheet, "Achat et location", "Achat ou location", self.totals.mode, dict(MODES), tuple(MODES))

    def _articles(self, sheet: Any) -> None:
        """CAIH 5 and CANUT 7 « La répartition des commandes annuelles sur chacune des lignes du BPU »: per year
        and article, quantity and CA HT, each year's articles by CA HT; the chart shows the report year's first."""
        rows = [(year, code, label, kind, quantity, amount)
                for (year, code), (label, kind, quantity, amount) in sorted(
                    self.totals.articles.items(), key=lambda e: (e[0][0], -e[1][3], e[0][1]))]
        sheet.set_column(0, 0, 8)
        sheet.set_column(1, 1, 18)
        sheet.set_column(2, 2, 40)
        sheet.set_column(3, 5, 14)
        last = self._table(sheet, 0, ("Année", "Code article", "Libellé", "BPU ou CATALOGUE", "Quantité", "CA HT"),
                           rows, (None, None, None, None, self.quantity, self.money))
        self._autofilter(sheet, max(last, 1), 5)
        sheet.freeze_panes(1, 0)
        year = self.meta.semester.year
        index = [i for i, r in enumerate(rows, start=1) if r[0] == year][:CHART_ARTICLES]
        if index:
            first, end = index[0], index[-1]
            chart = self._chart("bar", sheet, f"Commandes {year} par ligne du BPU (CA HT)", (first, 1, end, 1),
                                [("CA HT", (first, 5, end, 5))])
            self._insert(sheet, 1, 7, chart, {"x_scale": 1.4, "y_scale": max(1.2, len(index) / 12)})

    def _options(self, sheet: Any) -> None:
        """CAIH 5 « La répartition des commandes annuelles sur chacune des options »: per option (CAIH 2.1.21's
        window « Heures Ouvrées (HO) » or « 24/24 7/7 », 2.1.22's level « 4H, 10H00 et 50H00 » of GTR — GTI for
        infogérance — ordered), the orders, lines and CA HT of the semester and since the start, a column chart of
        both; then per year (« commandes annuelles ») and option."""
        sem = self.meta.semester.label
        sheet.set_column(0, 0, 22)
        sheet.set_column(1, 2, 18)
        sheet.set_column(3, 8, 16)
        rows = [(_option_label(o), o.window, o.level or "—", *s, *a) for o, s, a in self.options.table()]
        head = ("Option", "Plage horaire", "Niveau de service", f"Commandes {sem}", f"Lignes {sem}", f"CA HT {sem}",
                "Commandes depuis le début", "Lignes depuis le début", "CA HT depuis le début du marché")
        money = (None, None, None, None, None, self.money, None, None, self.money)
        last = self._table(sheet, 0, head, rows, money)
        top = last + 2
        self._cell(sheet, top, 0, "Par année (commandes annuelles)", self.bold)
        years = [(year, o.window, o.level or "—", *v) for year, o, v in self.options.years()]
        self._table(sheet, top + 1, ("Année", "Plage horaire", "Niveau de service", "Commandes", "Lignes", "CA HT"),
                    years, (None, None, None, None, None, self.money))
        note = top + len(years) + 3
        self._cell(sheet, note, 0, "CCTP CAIH 2.1.21 et 2.1.22 (CCTP CANUT 6.6 : option 24h/7j) : l'option d'une "
                                   "commande est celle de la politique de service du bénéficiaire en vigueur à la "
                                   "date de la commande (plage horaire commandée, niveau de service par défaut des "
                                   "incidents) ; « — » : les niveaux se choisissent par incident (CANUT 6.6, CPAM).")
        if rows:
            chart = self._chart("column", sheet, "CA HT par option (plage horaire × niveau de service)", (1, 0, last, 0),
                                [(title, (1, col, last, col))
                                 for title, col in ((f"CA HT {sem}", 5), ("CA HT depuis le début du marché", 8))])
            self._insert(sheet, note + 2, 0, chart, {"x_scale": 1.5, "y_scale": 1.2})

    def _regions(self, sheet: Any) -> None:
        """CAIH 5 « La répartition régionale des adhérents »: every beneficiary of the agreements, by region, with
        the CA HT of those that ordered."""
        counts: dict[str, int] = defaultdict(int)
        for b in self.beneficiaries:
            counts[b.region or NO_REGION] += 1
        regions = sorted(counts, key=lambda r: (-counts[r], r))
        rows = [(r, counts[r], self.totals.region.get((r, True), Decimal(0)),
                 self.totals.region.get((r, False), Decimal(0))) for r in regions]
        sheet.set_column(0, 0, 32)
        sheet.set_column(1, 3, 22)
        last = self._table(sheet, 0, ("Région", "Bénéficiaires", f"CA HT {self.meta.semester.label}",
                                      "CA HT depuis le début du marché"), rows, (None, None, self.money, self.money))
        if rows:
            self._insert(sheet, 1, 5, self._chart("pie", sheet, "Répartition régionale des bénéficiaires",
                                                  (1, 0, last, 0), [("Bénéficiaires", (1, 1, last, 1))]))

    def _sla(self, sheet: Any) -> None:
        """CCTP CAIH 2.1.27 (the lot: « pourcentage du nombre d'incidents clôturés dans les temps définis sur le
        nombre d'incidents total clôturés par le titulaire pour la totalité des adhérents », 98 %; reopened at most
        2 %), 2.1.26 (per establishment: 90 % and 5 %) and 6.1 (the COPIL's « taux de respect du GTR »), over the
        report's semester, then the lot month by month (« vérification mensuelle »). ``self.sla``:
        ``incidents.services.PeriodIndicators`` (None: no indicator given).

        CAIH 6.1 also puts « le temps de rétablissement » before the COPIL: the mean time to restore of the
        tickets closed (the GTR clock's business time, ``mean_restoration_seconds``) as a duration ``[h]:mm``,
        rounded to the minute like the dashboard's « 3 h 24 », with the number of tickets it is over."""
        sheet.set_column(0, 0, 36)
        sheet.set_column(1, 12, 15)
        self._cell(sheet, 0, 0, f"Engagements de service — {self.meta.semester.label}", self.title)
        self._cell(sheet, 1, 0, "CCTP CAIH 2.1.26 (par établissement), 2.1.27 (pour le lot) et 6.1 (taux de respect "
                                "du GTR, temps de rétablissement) : un incident compte le mois de sa clôture "
                                "(résolution acceptée ou réputée acceptée) ; « dans les temps » : aucun délai "
                                "contractuel dépassé ; temps de rétablissement : le temps décompté par l'horloge du "
                                "GTR jusqu'à la remise en service, en heures ouvrées du calendrier du contrat, "
                                "suspensions exclues, en moyenne sur les incidents clôturés dont la durée est connue.")
        header = ("Périmètre", "Incidents déclarés", "Incidents clôturés", "Clôturés dans les temps",
                  "Taux de respect du GTR (%)", "Objectif (%)", "Objectif atteint", "Réouverts",
                  "Taux de réouverture (%)", "Maximum (%)", "Objectif atteint",
                  "Temps moyen de rétablissement (h:mm)", "Incidents au temps de rétablissement connu")
        if self.sla is None:
            self._cell(sheet, 3, 0, "Aucun indicateur d'incident n'a été fourni pour ce rapport.")
            return
        sla = self.sla

        def restoration(seconds: int | None) -> dt.timedelta | None:
            return None if seconds is None else dt.timedelta(minutes=(seconds + 30) // 60)

        def values(label: str, m: Any) -> list[tuple[Any, Any]]:
            def met(flag: bool | None) -> tuple[Any, Any]:
                return ("—", None) if flag is None else ("oui", self.good) if flag else ("non", self.bad)

            return [(label, None), (m.declared, None), (m.closed, None), (m.closed_on_time, None),
                    (m.on_time_rate, self.rate), (m.targets.on_time_min, self.rate), met(m.on_time_met),
                    (m.closed_reopened, None), (m.reopen_rate, self.rate), (m.targets.reopen_max, self.rate),
                    met(m.reopen_met), (restoration(m.mean_restoration_seconds), self.duration),
                    (m.restored_timed, None)]

        def table(top: int, head: Sequence[str], rows: list[list[tuple[Any, Any]]]) -> int:
            self._row(sheet, top, head, self.head)
            for i, row in enumerate(rows, start=top + 1):
                for col, (value, fmt) in enumerate(row):
                    self._cell(sheet, i, col, "" if value is None else value, fmt)
            return top + len(rows)

        rows = [values("Lot — tous les bénéficiaires (CAIH 2.1.27)", sla.lot),
                *(values(name, m) for name, m in sla.establishments)]
        last = table(3, header, rows)
        months = [values(m.month.label(), m) for m in sla.months]
        top = last + 2
        self._cell(sheet, top, 0, "Le lot, mois par mois (CAIH 2.1.27, vérification mensuelle)", self.bold)
        table(top + 1, ("Mois", *header[1:]), months)
        if rows:
            chart = self._chart("column", sheet, "Taux de respect du GTR du semestre (%)", (4, 0, last, 0),
                                [("Taux de respect du GTR (%)", (4, 4, last, 4))])
            chart.set_y_axis({"min": 0, "max": 100, "num_format": '0" %"'})
            self._insert(sheet, top + len(months) + 3, 0, chart, {"x_scale": 1.5, "y_scale": 1.2})

"""Benchmark: the whole weekly run on a years-long service log, ours against the obvious way.

Builds a service log with XlsxWriter the way Excel leaves it (Amount as a
formula with its cached value; history rows already invoiced, with Invoice No,
Due Date and Status; an Invoices sheet holding the history invoices, paid),
plus this week's new lines. Then, each in its own subprocess so that time and
peak memory are its own, on identical copies:

* ours: ``automation.pipeline.run_billing`` in smtp mode against a local
  aiosmtpd server (one connection, pre-compiled templates, calamine, the
  surgical write-back);
* naive: the same libraries used the straightforward way: pandas with the
  openpyxl engine, a new DocxTemplate per invoice, a yagmail connection per
  message, openpyxl load + assign + save;
* steady state: ours again on the same day, with nothing new to do (it must
  leave the workbook's bytes as they are).

    python benchmarks/weekly_run.py                       # 100,000 rows, 1,000 clients
    python benchmarks/weekly_run.py --rows 20000 --skip-naive

Not run in CI: it prints numbers, it asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from measure import peak_rss_mb, plain_yagmail  # noqa: E402 - benchmarks/ is on sys.path

AS_OF = date(2026, 6, 1)
NUMBER_FORMAT = "INV-{year}-{seq:04d}"
CLIENT_HEADERS = ["Client", "Email", "CC", "Address", "Terms", "Currency", "Language", "Tax Rate"]
SERVICE_HEADERS = ["Date", "Client", "Description", "Quantity", "Unit Price", "Amount",
                   "Invoice No", "Due Date", "Status", "Error"]  # fmt: skip
INVOICE_HEADERS = ["Invoice No", "Client", "Currency", "Terms", "Invoice Date", "Due Date",
                   "Total", "Paid Amount", "Paid Date", "Balance", "Status", "Sent At",
                   "Last Sent", "Reissue", "Reissue Count", "Note"]  # fmt: skip
SERVICES = [
    "Monthly bookkeeping",
    "Payroll run",
    "VAT return preparation",
    "Bank reconciliation",
    "Year-end accounts & notes",
    "Advisory call <30 min>",
    "Expense claims review",
    "Management accounts",
]
PHASES = ("read", "plan", "render", "send", "write-back", "report")


# -- the workbook -------------------------------------------------------------


def client_name(i: int) -> str:
    return f"Client {i:04d} LLP"


def build_workbook(path: Path, rows: int, clients: int, new_lines: int) -> dict[str, int]:
    """History (invoiced a week at a time, one invoice per client and week) + this week."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    bold = wb.add_format({"bold": True})
    day_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    stamp_fmt = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    money = wb.add_format({"num_format": "#,##0.00"})

    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, CLIENT_HEADERS, bold)
    for i in range(clients):
        ws.write_row(
            i + 1,
            0,
            [client_name(i), f"client{i:04d}@clients.example", "", f"{i} Abay Avenue\nAlmaty",
             "Net 30", "USD", "en", "12%"],
        )  # fmt: skip

    history = max(0, rows - new_lines)
    per_week = max(1, new_lines)
    weeks = math.ceil(history / per_week)
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, SERVICE_HEADERS, bold)
    invoices: dict[tuple[int, int], list[Any]] = {}  # (week, client) -> [number, date, total]
    seq_by_year: dict[int, int] = {}
    for index in range(rows):
        r = index + 1
        is_new = index >= history
        week = weeks if is_new else index // per_week  # 0 = oldest history week
        position = (index - history) if is_new else index % per_week
        client = position % clients
        week_start = AS_OF - timedelta(days=7 * (weeks - week + 1))
        served = (
            week_start + timedelta(days=position % 5)
            if not is_new
            else (AS_OF - timedelta(days=1 + position % 5))
        )
        qty = 1 + r % 3
        price = 40 + (r * 7) % 90 + 0.5
        ws.write_datetime(r, 0, datetime(served.year, served.month, served.day), day_fmt)
        ws.write_string(r, 1, client_name(client))
        ws.write_string(r, 2, SERVICES[r % len(SERVICES)] + ("" if r % 11 else f" (ref {r})"))
        ws.write_number(r, 3, qty)
        ws.write_number(r, 4, price, money)
        ws.write_formula(r, 5, f"=D{r + 1}*E{r + 1}", money, qty * price)
        if is_new:
            continue
        issued = week_start + timedelta(days=7)
        key = (week, client)
        if key not in invoices:
            seq = seq_by_year.get(issued.year, 0) + 1
            seq_by_year[issued.year] = seq
            number = NUMBER_FORMAT.format(year=issued.year, month=issued.month, seq=seq)
            invoices[key] = [number, issued, Decimal(0)]
        invoices[key][2] += Decimal(str(qty * price))
        ws.write_string(r, 6, invoices[key][0])
        due = issued + timedelta(days=30)
        ws.write_datetime(r, 7, datetime(due.year, due.month, due.day), day_fmt)
        ws.write_string(r, 8, "Invoiced")
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, rows, len(SERVICE_HEADERS) - 1)

    ws = wb.add_worksheet("Invoices")
    ws.write_row(0, 0, INVOICE_HEADERS, bold)
    ordered = sorted(invoices.items(), key=lambda kv: (kv[1][1], kv[1][0]))
    for r, ((_week, client), (number, issued, subtotal)) in enumerate(ordered, start=1):
        total = float((subtotal * Decimal("1.12")).quantize(Decimal("0.01")))
        due = issued + timedelta(days=30)
        paid_on = issued + timedelta(days=12)
        sent = datetime(issued.year, issued.month, issued.day, 9, 30)
        ws.write_string(r, 0, number)
        ws.write_string(r, 1, client_name(client))
        ws.write_string(r, 2, "USD")
        ws.write_string(r, 3, "Net 30")
        ws.write_datetime(r, 4, datetime(issued.year, issued.month, issued.day), day_fmt)
        ws.write_datetime(r, 5, datetime(due.year, due.month, due.day), day_fmt)
        ws.write_number(r, 6, total, money)
        ws.write_number(r, 7, total, money)
        ws.write_datetime(r, 8, datetime(paid_on.year, paid_on.month, paid_on.day), day_fmt)
        ws.write_number(r, 9, 0, money)
        ws.write_string(r, 10, "Paid")
        ws.write_datetime(r, 11, sent, stamp_fmt)
        ws.write_datetime(r, 12, sent, stamp_fmt)
        ws.write_number(r, 14, 0)
        ws.write_string(r, 15, f"Emailed on {issued.isoformat()}.")
    summary = wb.add_worksheet("Summary")
    summary.write(0, 0, "Invoiced to date")
    summary.write_formula(0, 1, f"=SUM(Invoices!G2:G{len(ordered) + 1})")
    wb.close()
    return {"history_rows": history, "history_invoices": len(invoices)}


# -- a local SMTP server (as in tests/smtp_servers.py) ------------------------


class Sink:
    """Accepts every message and counts it (keeps nothing: the parent stays small)."""

    def __init__(self) -> None:
        self.count = 0
        self.connections = 0

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.count += 1
        return "250 2.0.0 queued"


def smtp_server(sink: Sink) -> Any:
    """The tests' loopback aiosmtpd server (TCP_NODELAY, port bound before start)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from smtp_servers import running_server

    return running_server(sink)


# -- the two approaches (each runs in a child process) -------------------------


def company() -> Any:
    from automation.model import CompanyInfo

    return CompanyInfo(
        name="Ledgerwise Bookkeeping",
        address="5 Abay Avenue\nAlmaty",
        email="billing@ledgerwise.example",
        phone="+7 727 000 0000",
        iban="KZ00 0000 0000 0000 0000",
    )


def run_ours(workbook: Path, port: int) -> dict[str, Any]:
    from automation.config import BillingConfig, Config, EmailConfig
    from automation.pipeline import RunRequest, run_billing

    config = Config(
        company=company(),
        billing=BillingConfig(number_format=NUMBER_FORMAT),
        email=EmailConfig(
            mode="smtp",
            host="127.0.0.1",
            port=port,
            security="none",
            sender="billing@ledgerwise.example",
        ),
    )
    began = time.perf_counter()
    summary = run_billing(RunRequest(workbook=workbook, as_of=AS_OF, config=config))
    wall = time.perf_counter() - began
    return {
        "wall": wall,
        "timings": dict(summary.timings),
        "invoices": sum(1 for s in summary.sent if s.kind == "invoice"),
        "failed": len(summary.failed),
        "errors": len(summary.errors),
        "written": summary.workbook_written,
    }


def run_naive(workbook: Path, port: int) -> dict[str, Any]:
    """The obvious script, with the same libraries and the same results in the workbook."""
    import openpyxl
    import pandas as pd
    from docxtpl import DocxTemplate

    from automation.compose import email_context, make_document
    from automation.config import Config
    from automation.ledger import LedgerInvoice, number_pattern
    from automation.mail import render_email
    from automation.model import Client, InvoiceLine
    from automation.money import D, round_money
    from automation.render import build_context, invoice_path

    timings: dict[str, float] = {}
    config = Config(company=company())
    began = started = time.perf_counter()
    sheets = pd.read_excel(workbook, sheet_name=None, engine="openpyxl")
    services, clients_frame = sheets["Services"], sheets["Clients"]
    invoices_frame = sheets["Invoices"]
    timings["read"] = time.perf_counter() - started

    started = time.perf_counter()
    clients = {
        row.Client: Client(
            key=row.Client.casefold(),
            name=row.Client,
            emails=(row.Email,),
            address=row.Address,
            terms=row.Terms,
            currency=row.Currency,
            language=row.Language,
            tax_rate=Decimal("0.12"),
            row=i + 2,
        )
        for i, row in enumerate(clients_frame.itertuples())
    }
    pattern = number_pattern(NUMBER_FORMAT)
    seq = 0
    for number in pd.concat([services["Invoice No"], invoices_frame["Invoice No"]]).dropna():
        match = pattern.match(str(number))
        if match and int(match["year"]) == AS_OF.year:
            seq = max(seq, int(match["seq"]))
    new = services[services["Invoice No"].isna()]
    drafts = []
    for name, group in new.groupby("Client", sort=False):
        client = clients[name]
        seq += 1
        number = NUMBER_FORMAT.format(year=AS_OF.year, month=AS_OF.month, seq=seq)
        lines = tuple(
            InvoiceLine(
                row.Date.date(),
                row.Description,
                D(row.Quantity),
                D(row._5),
                round_money(D(row.Amount), "USD"),
                int(index) + 2,
            )
            for index, row in zip(group.index, group.itertuples(), strict=True)
        )
        subtotal = sum((ln.amount for ln in lines), Decimal(0))
        tax = round_money(subtotal * client.tax_rate, "USD")
        due = AS_OF + timedelta(days=30)
        inv = LedgerInvoice(number, client.key, client.name, "USD", "Net 30", AS_OF, due,
                            subtotal, client.tax_rate, tax, subtotal + tax, lines, None, None, 0,
                            None, None, False, "")  # fmt: skip
        drafts.append((inv, client, [int(i) + 2 for i in group.index]))
    timings["plan"] = time.perf_counter() - started

    started = time.perf_counter()
    out = workbook.parent / "invoices"
    files = []
    for inv, client, _rows in drafts:
        doc = make_document(inv, client, config, inv.due_date)
        template = DocxTemplate(str(ROOT / "templates" / "invoice.docx"))
        template.render(build_context(doc), autoescape=True)
        path = invoice_path(out, doc)
        path.parent.mkdir(parents=True, exist_ok=True)
        template.save(str(path))
        files.append(path)
    timings["render"] = time.perf_counter() - started

    started = time.perf_counter()
    sent_at = datetime.combine(AS_OF, datetime.now().time()).replace(microsecond=0)
    for (inv, client, _rows), path in zip(drafts, files, strict=True):
        ctx = email_context(inv, client, config, {"as_of": AS_OF.isoformat()}, inv.due_date)
        subject, text, html = render_email("invoice", client.language, ctx)
        yag = plain_yagmail("billing@ledgerwise.example", port)
        yag.send(list(client.emails), subject, contents=[text, html], attachments=str(path))
        yag.close()
    timings["send"] = time.perf_counter() - started

    started = time.perf_counter()
    wb = openpyxl.load_workbook(workbook)
    ws = wb["Services"]
    for inv, _client, rows in drafts:
        for row in rows:
            ws.cell(row, 7, inv.invoice_no)
            ws.cell(row, 8, inv.due_date)
            ws.cell(row, 9, "Invoiced")
    ws = wb["Invoices"]
    for inv, _client, _rows in drafts:
        ws.append([inv.invoice_no, inv.client, inv.currency, inv.terms, inv.invoice_date,
                   inv.due_date, inv.total, None, None, inv.total, "Sent", sent_at, sent_at,
                   None, 0, f"Emailed on {AS_OF.isoformat()}."])  # fmt: skip
    wb.save(workbook)
    timings["write-back"] = time.perf_counter() - started
    return {
        "wall": time.perf_counter() - began,
        "timings": timings,
        "invoices": len(drafts),
        "failed": 0,
        "errors": 0,
        "written": True,
    }


def child(approach: str, workbook: Path, port: int) -> None:
    result = (run_naive if approach == "naive" else run_ours)(workbook, port)
    # The run's own process; renderer workers (separate processes) are not included.
    result["peak_mb"] = peak_rss_mb()
    print(json.dumps(result))


def measure(approach: str, workbook: Path, port: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", approach, "--file", str(workbook),
           "--port", str(port)]  # fmt: skip
    began = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{approach} run failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall"] = time.perf_counter() - began
    return result


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def show(label: str, r: dict[str, Any]) -> None:
    t = r["timings"]
    phases = "  ".join(f"{p} {t.get(p, 0.0):6.2f}" for p in PHASES if p in t or p != "report")
    rate = r["invoices"] / r["wall"] if r["wall"] else 0.0
    other = r["wall"] - sum(t.values())
    print(f"{label:<8} {phases}  other {other:5.2f} (building messages, ledger)")
    print(
        f"{'':<8} total {r['wall']:6.2f} s  ({r['process_wall']:.2f} s with interpreter start)"
        f"  {r['invoices']} invoices  {rate:7.1f} invoices/s  peak {r['peak_mb']:.0f} MB"
        + (f"  failed {r['failed']}" if r["failed"] else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--new-lines", type=int, default=5000)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--workdir", type=Path, help="keep the files here (default: a temp dir)")
    parser.add_argument("--child", choices=["ours", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.file, args.port)
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        source = work / "source.xlsx"
        began = time.perf_counter()
        facts = build_workbook(source, args.rows, args.clients, args.new_lines)
        print(
            f"built {args.rows:,} Services rows ({facts['history_rows']:,} history, "
            f"{args.rows - facts['history_rows']:,} new for {args.clients:,} clients), "
            f"{facts['history_invoices']:,} history invoices, in "
            f"{time.perf_counter() - began:.1f} s ({source.stat().st_size / 1e6:.1f} MB)"
        )
        copies = {}
        for name in ("ours", "naive"):
            folder = work / name
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            copies[name] = folder / "service_log.xlsx"
            shutil.copy(source, copies[name])
        sink = Sink()
        with smtp_server(sink) as port:
            ours = measure("ours", copies["ours"], port)
            show("ours", ours)
            print(f"{'':<8} {sink.connections} SMTP connection(s) for {sink.count} messages")
            if not args.skip_naive:
                sink.count = sink.connections = 0
                naive = measure("naive", copies["naive"], port)
                show("naive", naive)
                print(f"{'':<8} {sink.connections} SMTP connection(s) for {sink.count} messages")
                print("per phase (naive / ours):")
                for phase in PHASES[:-1]:
                    a, b = naive["timings"].get(phase, 0.0), ours["timings"].get(phase, 0.0)
                    print(f"  {phase:<11} {a:7.2f} s / {b:6.2f} s = {a / b if b else 0:6.1f}x")
                print(
                    f"end to end: ours is {naive['wall'] / ours['wall']:.1f}x faster "
                    f"({naive['wall']:.1f} s / {ours['wall']:.1f} s)"
                )
            before = digest(copies["ours"])
            sink.count = sink.connections = 0
            steady = measure("ours", copies["ours"], port)
            show("steady", steady)
            unchanged = digest(copies["ours"]) == before
            print(
                f"steady state: {steady['wall']:.2f} s, {sink.count} messages, workbook "
                + ("unchanged" if unchanged else "CHANGED")
            )


if __name__ == "__main__":
    main()

"""The command line: a thin shell over `automation.pipeline`.

    python run_billing.py                  # the weekly run, as of today
    python run_billing.py --dry-run        # preview only: nothing sent, nothing written
    python run_billing.py check            # validate the workbook and config
    python run_billing.py init ~/billing   # a starter folder
    python run_billing.py schedule         # cron / systemd / Task Scheduler entries
    python run_billing.py --demo           # the whole run on a copy of the sample

Exit codes: 0 all done; 1 rows need attention or emails failed; 2 the config,
workbook or mail login cannot be used; 3 the workbook is open elsewhere or
another run is going.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import date, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from .config import Config, ConfigError, find_config, load_config
from .errors import EXIT_ATTENTION, EXIT_BUSY, EXIT_OK, EXIT_UNUSABLE, BusyError, UnusableError
from .mail import MailError, sender_address
from .pipeline import REPO_TEMPLATES, Paths, RunRequest, ensure_not_busy, load, run_billing
from .read import WorkbookError
from .summary import RunSummary, outbox_line, summary_lines
from .text import one_line
from .updates import invoice_rows, payment_errors

REPO = Path(__file__).resolve().parent.parent
SAMPLE_WORKBOOK = REPO / "workbooks" / "service_log.xlsx"
SAMPLE_CONFIG = REPO / "workbooks" / "billing.toml"
DEMO_DIR = Path(tempfile.gettempdir()) / "billing-demo"
KEEP_LOGS = 200
KIND_WORDS = {
    "invoice": "invoice",
    "reissue": "reissued",
    "thanks": "thank-you",
    "underpaid": "part-payment note",
    "overpaid": "overpayment note",
    "escalated": "escalated",
    "Draft": "draft",
}

log = logging.getLogger("automation")
log.addHandler(logging.NullHandler())  # the run log file is the only place logs go


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-03-09") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_billing.py",
        description="Weekly billing from the service-log workbook.",
        epilog="Exit codes: 0 done, 1 needs attention, 2 unusable input, 3 busy (try later).",
    )
    parser.add_argument(
        "command", nargs="?", default="run", choices=["run", "check", "init", "schedule"]
    )
    parser.add_argument("directory", nargs="?", help="for init: the folder to create")
    parser.add_argument("--config", type=Path, help="billing.toml to use")
    parser.add_argument("--workbook", type=Path, help="the service-log workbook")
    parser.add_argument("--as-of", type=_date, help="behave as if today were this date")
    parser.add_argument("--dry-run", action="store_true", help="preview only; change nothing")
    parser.add_argument("--outbox", type=Path, help="write emails as .eml files here instead")
    parser.add_argument("--only", metavar="CLIENT", help="bill and remind only this client")
    parser.add_argument("--demo", action="store_true", help="run on a copy of the sample")
    return parser


def resolve(args: argparse.Namespace) -> tuple[Config, Path]:
    """The config and the workbook, per SPEC: --config, beside the workbook, then cwd."""
    workbook: Path | None = args.workbook
    config_path = find_config(args.config, workbook)
    config = load_config(config_path)
    if workbook is None:
        base = config_path.parent if config_path else Path.cwd()
        workbook = Path(config.billing.workbook)
        workbook = workbook if workbook.is_absolute() else base / workbook
    return config, workbook


def _summary_table(summary: RunSummary, console: Console) -> None:
    title = "Dry run (nothing sent, nothing written)" if summary.dry_run else "Billing run"
    console.print(f"[bold]{title} as of {summary.as_of.isoformat()}[/bold]")
    rows = summary.previews if summary.dry_run else summary.sent
    groups: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    by_kind: dict[str, list[tuple[str, str, str, str]]] = {}
    for item in rows:
        by_kind.setdefault(KIND_WORDS.get(item.kind, item.kind), []).append(
            (item.invoice_no, item.client, item.amount, item.note)
        )
    groups.extend(by_kind.items())
    if summary.failed:
        groups.append(
            ("FAILED", [(i.invoice_no, i.client, i.amount, i.note) for i in summary.failed])
        )
    if summary.partial:
        groups.append(
            (
                "COPY REFUSED",
                [(i.invoice_no, i.client, i.amount, i.note) for i in summary.partial],
            )
        )
    if summary.escalated:
        groups.append(
            (
                "ESCALATED: please call",
                [(i.invoice_no, i.client, i.amount, i.note) for i in summary.escalated],
            )
        )
    if groups:
        table = Table(show_lines=False)
        for name in ("What", "Invoice", "Client", "Amount", "Note"):
            table.add_column(name, overflow="fold")
        for kind, items in groups:
            for number, client, amount, note in items:
                table.add_row(kind, number, client, amount, note)
        console.print(table)
    else:
        console.print("Nothing to send this week.")
    for currency, outstanding in sorted(summary.outstanding.items()):
        console.print(f"Outstanding {currency}: {outstanding:,}")
    if summary.errors:
        console.print(f"[bold]{len(summary.errors)} rows need attention:[/bold]")
        for error in summary.errors:
            console.print(f"  {error}", markup=False, highlight=False)
    for note in summary.notes:
        console.print(one_line(note), markup=False, highlight=False)
    if summary.report:
        console.print(f"Receivables report: {summary.report}", markup=False, highlight=False)
    if outbox_line(summary):
        console.print(outbox_line(summary), markup=False, highlight=False)


def _progress_factory(console: Console) -> tuple[AbstractContextManager[object], Callable]:
    if not console.is_terminal:
        return nullcontext(), lambda label, total: lambda: None
    progress = Progress(console=console, transient=True)

    def factory(label: str, total: int) -> Callable[[], None]:
        if total <= 5:
            return lambda: None
        task = progress.add_task(label, total=total)
        return lambda: progress.advance(task)

    return progress, factory


def _log_to_file(workbook: Path) -> logging.Handler | None:
    """A plain-text run log under .billing/logs/ (one file per run)."""
    folder = workbook.resolve().parent / ".billing" / "logs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    path = folder / f"run-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}.log"
    for old in sorted(folder.glob("run-*.log"))[: -(KEEP_LOGS - 1)]:
        old.unlink(missing_ok=True)  # about four years of weekly runs are kept
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def command_run(args: argparse.Namespace, console: Console) -> int:
    config, workbook = resolve(args)
    request = RunRequest(
        workbook=workbook,
        as_of=args.as_of or date.today(),
        config=config,
        dry_run=args.dry_run,
        outbox=args.outbox,
        only=args.only,
    )
    handler = _log_to_file(workbook) if not args.dry_run and workbook.is_file() else None
    try:
        log.info("run as of %s on %s (dry run: %s)", request.as_of, workbook, args.dry_run)
        display, factory = _progress_factory(console)
        with display:
            summary = run_billing(request, factory)
        _summary_table(summary, console)
        log.info("summary\n%s", "\n".join(summary_lines(summary)))
        return summary.exit_code
    except (ConfigError, WorkbookError, UnusableError, BusyError) as exc:
        log.error("run stopped: %s", exc)
        raise
    except Exception:
        log.error("unexpected error\n%s", traceback.format_exc())
        raise
    finally:
        if handler is not None:
            log.removeHandler(handler)
            handler.close()


def command_check(args: argparse.Namespace, console: Console) -> int:
    config, workbook = resolve(args)
    request = RunRequest(workbook=workbook, as_of=args.as_of or date.today(), config=config)
    if not workbook.is_file():
        raise UnusableError(f"the workbook {workbook} does not exist.")
    ensure_not_busy(Paths.for_request(request))
    try:
        sender_address(config.email, config.company)
    except MailError as exc:
        raise UnusableError(f"billing.toml [email]: {exc}") from None
    data, book, _lines, errors = load(request)
    problems = list(book.errors) + [errors[r] for r in sorted(errors)]
    problems += payment_errors(data.invoices, invoice_rows(data.invoices))
    if not problems:
        console.print(f"{workbook.name}: no problems found.")
        return EXIT_OK
    console.print(f"{workbook.name}: {len(problems)} rows need attention:")
    for problem in problems:
        console.print(f"  {problem}", markup=False, highlight=False)
    return EXIT_ATTENTION


def command_init(args: argparse.Namespace, console: Console) -> int:
    from .starter import StarterError, init_folder

    if not args.directory:
        console.print("init needs a folder: python run_billing.py init DIR")
        return EXIT_UNUSABLE
    try:
        created = init_folder(Path(args.directory), REPO_TEMPLATES)
    except StarterError as exc:
        console.print(f"init: {exc}", markup=False)
        return EXIT_UNUSABLE
    console.print(f"Created {len(created)} files in {args.directory}:", markup=False)
    for path in created:
        console.print(f"  {path}", markup=False, highlight=False)
    console.print(
        "Next: fill in billing.toml and the workbook, then "
        f"python run_billing.py --workbook {Path(args.directory) / 'service_log.xlsx'} "
        "--dry-run",
        markup=False,
    )
    return EXIT_OK


def command_schedule(args: argparse.Namespace, console: Console) -> int:
    from .schedule import outbox_warning, schedule_text

    config, workbook = resolve(args)
    script = REPO / "run_billing.py"
    if outbox_warning(config.email):
        console.print(outbox_warning(config.email), markup=False, highlight=False)
    console.print(
        schedule_text(sys.executable, script, workbook.resolve().parent),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return EXIT_OK


def command_demo(args: argparse.Namespace, console: Console) -> int:
    """The whole run on a fresh copy of the bundled sample; the sample is never touched."""
    if DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)
    DEMO_DIR.mkdir(parents=True)
    shutil.copy2(SAMPLE_WORKBOOK, DEMO_DIR / SAMPLE_WORKBOOK.name)
    shutil.copy2(SAMPLE_CONFIG, DEMO_DIR / SAMPLE_CONFIG.name)
    console.print(f"Demo folder: {DEMO_DIR}", markup=False, highlight=False)
    args.workbook = DEMO_DIR / SAMPLE_WORKBOOK.name
    args.config = DEMO_DIR / SAMPLE_CONFIG.name
    args.outbox = args.outbox or DEMO_DIR / "outbox"
    code = command_run(args, console)
    console.print(
        f"Open {DEMO_DIR / 'invoices'} for the invoices, {DEMO_DIR / 'outbox'} for the emails "
        f"and {args.workbook} for the updated workbook.",
        markup=False,
        highlight=False,
    )
    return code


COMMANDS: dict[str, Callable[[argparse.Namespace, Console], int]] = {
    "run": command_run,
    "check": command_check,
    "init": command_init,
    "schedule": command_schedule,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.outbox is not None:
        args.outbox = args.outbox.absolute()  # as typed: from the current folder
    console = Console(highlight=False, soft_wrap=True)
    command = command_demo if args.demo else COMMANDS[args.command]
    try:
        return command(args, console)
    except (ConfigError, WorkbookError, UnusableError) as exc:
        console.print(f"Cannot run: {exc}", markup=False, highlight=False)
        return EXIT_UNUSABLE
    except BusyError as exc:
        console.print(f"Not now: {exc}", markup=False, highlight=False)
        return EXIT_BUSY
    except KeyboardInterrupt:
        console.print("Stopped. What was sent is recorded; the next run finishes the rest.")
        return EXIT_ATTENTION
    except Exception as exc:  # the bookkeeper never sees a traceback (it is in the run log)
        console.print(
            f"The run stopped on an unexpected problem: {exc!r}. What was sent is recorded, "
            "and the next run finishes the rest. Details are in .billing/logs/.",
            markup=False,
            highlight=False,
        )
        return EXIT_ATTENTION


if __name__ == "__main__":
    raise SystemExit(main())

"""The command line: a thin shell over `automation.pipeline`.

    python run_billing.py                  # the weekly run, as of today
    python run_billing.py --dry-run        # preview only: nothing sent, nothing written
    python run_billing.py check            # validate the workbook and config
    python run_billing.py init ~/billing   # a starter folder
    python run_billing.py schedule         # cron / systemd / Task Scheduler entries
    python run_billing.py payments [FILE...] # import bank statements, match, apply
    python run_billing.py login            # sign the mailbox in (Microsoft 365, Google)
    python run_billing.py statement        # last month's statements of account
    python run_billing.py --demo           # the whole run on a copy of the sample
    python run_billing.py init --help      # each command's options and an example

Each command is one `Command` entry in COMMANDS (name, purpose, example, the
function adding its options, the function running it); `run` is the default
when no command is named. Installed with pip, the same commands are
`run-billing ...`.

Exit codes: 0 all done; 1 rows need attention or emails failed; 2 the config,
workbook or mail login cannot be used; 3 the workbook is open elsewhere or
another run is going.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import shlex
import shutil
import sys
import tempfile
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO, cast

from rich.console import Console

from . import space
from .bank.apply import build_payers
from .bundled import SAMPLE_CONFIG, SAMPLE_WORKBOOK
from .clock import process_age
from .config import Config, ConfigError, find_config, load_config
from .errors import EXIT_ATTENTION, EXIT_BUSY, EXIT_OK, EXIT_UNUSABLE, BusyError, UnusableError
from .pipeline import (
    REPO_TEMPLATES,
    Paths,
    RunRequest,
    check_email_settings,
    check_mail_settings,
    ensure_not_busy,
    load,
    run_billing,
    run_problems,
    vet_templates,
)
from .prechecks import refuse_unwritable
from .private import copy_as_new, owner_only
from .read import WorkbookError, folder_given
from .reconcile import sequence_errors
from .request import outbox_folder
from .runlog import LogFormatter
from .sending import test_mode_note
from .smtp_pool import connections_text
from .summary import (
    KIND_WORDS,
    RunSummary,
    correction_lines,
    item_text,
    needs_attention,
    outbox_line,
    outstanding_lines,
    phases_line,
    summary_lines,
)
from .text import one_line
from .validate import listed_errors

#: One per user: on a shared machine another user's demo folder is not this user's to replace.
DEMO_DIR = Path(tempfile.gettempdir()) / (
    f"billing-demo-{os.getuid()}" if hasattr(os, "getuid") else "billing-demo"
)
KEEP_LOGS = 200
#: How an unexpected error's note names the run log that holds its traceback.
LOGGED_IN = "logged in "
#: More rows than this in the run's summary are listed as plain lines, not a table.
TABLE_ROWS = 60

log = logging.getLogger("automation")
log.addHandler(logging.NullHandler())  # the run log file is the only place logs go


def _date(text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-03-09") from None
    if not 1900 <= day.year <= 2999:  # due dates and reminders are counted on from it
        raise argparse.ArgumentTypeError(f"{text!r} is not a date the billing can be as of")
    return day


EXIT_CODES = """exit codes:
  0  all done
  1  finished, but rows need attention or emails failed (all listed)
  2  the configuration, the workbook or the mail login cannot be used; nothing changed
  3  the workbook is open in another program or another run is going; run again later"""


def add_folder_options(parser: argparse.ArgumentParser) -> None:
    """--config and --workbook: which billing folder the command works on."""
    parser.add_argument("--config", type=Path, metavar="PATH", help="billing.toml to use")
    parser.add_argument("--workbook", type=Path, metavar="PATH", help="the service-log workbook")


def add_check_options(parser: argparse.ArgumentParser) -> None:
    add_folder_options(parser)
    parser.add_argument(
        "--as-of", type=_date, metavar="YYYY-MM-DD", help="behave as if today were this date"
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    add_check_options(parser)
    parser.add_argument("--dry-run", action="store_true", help="preview only; change nothing")
    parser.add_argument(
        "--outbox", type=Path, metavar="DIR", help="write emails as .eml files here instead"
    )
    parser.add_argument("--only", metavar="CLIENT", help="bill and remind only this client")
    parser.add_argument("--demo", action="store_true", help="run on a copy of the sample")


def add_payments_options(parser: argparse.ArgumentParser) -> None:
    add_check_options(parser)
    parser.add_argument(
        "files", nargs="*", type=Path, metavar="FILE",
        help="statement files: 1C, camt.053/054, MT940, OFX/QFX or CSV ([bank.csv]); "
        "with none, the files waiting in [bank] inbox, and what is typed on Review lines",
    )  # fmt: skip
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be matched; change nothing"
    )


def add_init_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="the folder to create (or an empty one)")


def add_statement_options(parser: argparse.ArgumentParser) -> None:
    add_check_options(parser)
    parser.add_argument(
        "client",
        nargs="?",
        metavar="CLIENT",
        help="one client (default: every client with activity or a balance)",
    )
    parser.add_argument(
        "--from",
        dest="start",
        type=_date,
        metavar="YYYY-MM-DD",
        help="first day of the period (default: the first day of last month)",
    )
    parser.add_argument(
        "--to",
        dest="end",
        type=_date,
        metavar="YYYY-MM-DD",
        help="last day of the period (default: the last day of last month)",
    )


def add_schedule_options(parser: argparse.ArgumentParser) -> None:
    add_folder_options(parser)
    parser.add_argument("--day", default="Mon", help="weekday of the run (default Mon)")
    parser.add_argument("--time", default="07:00", help="time of day, HH:MM (default 07:00)")


def add_login_options(parser: argparse.ArgumentParser) -> None:
    add_folder_options(parser)


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, what it is for, how it is typed, and what runs it.

    To add a command, write `add_<name>_options(parser)` and
    `command_<name>(args, console) -> exit code` (in its own module if it is
    more than argument handling) and add one `Command(...)` to COMMANDS.
    """

    name: str
    purpose: str
    example: str
    add_options: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace, Console], int]


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


def require_workbook(args: argparse.Namespace, workbook: Path) -> None:
    """Stop (exit 2) when there is no workbook, saying where it was looked for and what to do."""
    if workbook.is_file():
        return
    if workbook.is_dir():
        raise UnusableError(folder_given(workbook))
    places = [workbook.parent] if args.workbook else []
    places += [] if Path.cwd() in places else [Path.cwd()]
    found = args.config or find_config(None, args.workbook)
    config = (
        f" (the settings came from {found})"
        if found
        else ", and there is no billing.toml in " + " or ".join(str(p) for p in places)
    )
    raise UnusableError(
        f"the workbook {workbook} does not exist{config}. To start a billing folder, run "
        "`run-billing init DIR` (or `python run_billing.py init DIR`); to use one elsewhere, "
        "pass --workbook PATH or run from its folder."
    )


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
    if groups and sum(len(items) for _, items in groups) > TABLE_ROWS:
        # A thousand rows are a list to keep, not a screen to read: plain aligned
        # lines (as in the run log), which print in a millisecond where rich's
        # table layout takes a third of a second.
        lines = []
        for kind, items in groups:
            lines.append(f"{kind}:")
            lines.extend(
                one_line(f"  {item_text(number, name, amount, note)}".rstrip())
                for number, name, amount, note in items
            )
        console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)
    elif groups:
        from rich.table import Table
        from rich.text import Text

        table = Table(show_lines=False)
        for name in ("What", "Invoice", "Client", "Amount", "Note"):
            table.add_column(name, overflow="fold")
        for kind, items in groups:
            for cells in items:  # Text, not str: a name like "[bold]X[/]" is not markup
                table.add_row(kind, *(Text(one_line(str(cell))) for cell in cells))
        console.print(table)
    else:
        console.print("Nothing to send this week.")
    for line in correction_lines(summary):
        console.print(line, markup=False, highlight=False)
    for line in outstanding_lines(summary):
        console.print(line, markup=False, highlight=False)
    if summary.errors:
        console.print(f"[bold]{needs_attention(len(summary.errors))}:[/bold]")
        for error in summary.errors:
            console.print(f"  {one_line(str(error))}", markup=False, highlight=False)
    for note in summary.notes:
        console.print(one_line(note), markup=False, highlight=False)
    if summary.report:
        console.print(f"Receivables report: {summary.report}", markup=False, highlight=False)
    if outbox_line(summary):
        console.print(outbox_line(summary), markup=False, highlight=False)


def _progress_factory(console: Console) -> tuple[AbstractContextManager[object], Callable]:
    if not console.is_terminal:
        return nullcontext(), lambda label, total: lambda: None
    from rich.progress import Progress  # ~0.1 s to import: only on a terminal

    progress = Progress(console=console, transient=True)

    def factory(label: str, total: int) -> Callable[[], None]:
        if total <= 5:
            return lambda: None
        task = progress.add_task(label, total=total)
        return lambda: progress.advance(task)

    return progress, factory


class _RunLog(logging.FileHandler):
    """The run log: a line that cannot be written (a full disk) is left out quietly, not
    told on the terminal with Python's traceback; the run says what went wrong itself."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        return None


def _log_to_file(workbook: Path) -> logging.FileHandler | None:
    """A plain-text run log under .billing/logs/ (one file per run)."""
    folder = workbook.resolve().parent / ".billing" / "logs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    path = folder / f"run-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}.log"
    for old in sorted(folder.glob("run-*.log"))[: -(KEEP_LOGS - 1)]:
        with contextlib.suppress(OSError):  # about four years of weekly runs are kept
            old.unlink(missing_ok=True)
    try:
        handler: logging.FileHandler = _RunLog(path, encoding="utf-8")
    except OSError:  # a logs folder the run may not write in: the run goes on without its log
        return None
    handler.setFormatter(LogFormatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def command_run(args: argparse.Namespace, console: Console) -> int:
    config, workbook = resolve(args)
    require_workbook(args, workbook)
    request = RunRequest(
        workbook=workbook,
        as_of=args.as_of or date.today(),
        config=config,
        dry_run=args.dry_run,
        outbox=args.outbox,
        only=args.only,
        as_of_given=args.as_of is not None,
    )
    handler = _log_to_file(workbook) if not args.dry_run and workbook.is_file() else None
    try:
        log.info("run as of %s on %s (dry run: %s)", request.as_of, workbook, args.dry_run)
        display, factory = _progress_factory(console)
        startup = process_age()
        with display:
            summary = run_billing(request, factory)
        if startup is not None:
            summary.timings["start-up"] = startup
        _summary_table(summary, console)
        log.info("summary\n%s", "\n".join(summary_lines(summary)))
        log.info("%s", phases_line(summary.timings))
        log.info("write-back: %d cell updates", summary.cells_written)
        return summary.exit_code
    except (ConfigError, WorkbookError, UnusableError, BusyError) as exc:
        log.error("run stopped: %s", exc)
        raise
    except Exception as exc:
        log.error("unexpected error\n%s", traceback.format_exc())
        if handler is not None:  # what the bookkeeper is told to look at (`main`)
            exc.add_note(f"{LOGGED_IN}{handler.baseFilename}")
        raise
    finally:
        if handler is not None:
            log.removeHandler(handler)
            handler.close()


def command_check(args: argparse.Namespace, console: Console) -> int:
    config, workbook = resolve(args)
    request = RunRequest(
        workbook=workbook,
        as_of=args.as_of or date.today(),
        config=config,
        as_of_given=args.as_of is not None,
    )
    require_workbook(args, workbook)
    paths = Paths.for_request(request)
    refuse_unwritable(paths, outbox=outbox_folder(request, paths))  # as the run refuses it
    ensure_not_busy(paths)
    vet_templates(paths)
    check_email_settings(config)
    mail = check_mail_settings(request, paths)  # the run's login, tried: exit 2 as the run
    if mail:
        console.print(mail, markup=False, highlight=False)
    if config.email.connections > 1:
        console.print(connections_text(config.email), markup=False, highlight=False)
    if config.email.redirect_to:
        note = test_mode_note(config.email.redirect_to, ahead=True)
        console.print(f"Note: {note}", markup=False, highlight=False)
    loaded = load(request)
    data, book, _lines, errors = loaded
    problems = list(book.errors) + sequence_errors(data, config)
    problems += listed_errors(errors, book)
    problems += build_payers(book)[1]  # a Payer ID on two clients
    # Whatever else the run would list: corrections, empty invoices, bank statements.
    run_errors, run_notes = run_problems(request, loaded)
    problems += [p for p in run_errors if p not in problems]
    for note in [*run_notes, *data.package_notes]:  # a digital signature the run breaks
        console.print(one_line(note), markup=False, highlight=False)
    if not problems:
        console.print(f"{workbook.name}: no problems found.")
        return EXIT_OK
    console.print(f"{workbook.name}: {needs_attention(len(problems))}:", markup=False)
    for problem in problems:
        console.print(f"  {one_line(str(problem))}", markup=False, highlight=False)
    return EXIT_ATTENTION


#: Bank lines `payments` lists in the terminal; the rest are in the Payments sheet.
BANK_TABLE_ROWS = 200


def command_payments(args: argparse.Namespace, console: Console) -> int:
    """Import statements and apply what matches; exit 1 while lines wait for review."""
    config, workbook = resolve(args)
    folder = next((f for f in args.files if f.is_dir()), None)
    if folder is not None:  # as --workbook DIR is told
        raise UnusableError(f"{folder} is a folder, not a statement file: name the file in it.")
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        raise UnusableError(f"no such statement file: {', '.join(missing)}.")
    request = RunRequest(
        workbook=workbook,
        as_of=args.as_of or date.today(),
        config=config,
        dry_run=args.dry_run,
        statements=tuple(f.absolute() for f in args.files),
        payments_only=True,
        as_of_given=args.as_of is not None,
    )
    summary = run_billing(request)
    title = "Dry run (nothing recorded, nothing written)" if args.dry_run else "Bank payments"
    console.print(f"[bold]{title} as of {summary.as_of.isoformat()}[/bold]")
    if summary.bank_lines:
        from rich.table import Table
        from rich.text import Text

        table = Table(show_lines=False)
        for name in ("Status", "Amount", "Payer", "Invoice No", "Rule / note"):
            table.add_column(name, overflow="fold")
        # Lines waiting for review first; a long statement's lines are in the Payments
        # sheet (a table of 5,000 took longer to print than the import took).
        order = {"Review": 0, "Applied": 1}
        lines = sorted(summary.bank_lines, key=lambda item: order.get(item.kind, 2))
        for item in lines[:BANK_TABLE_ROWS]:  # payer and purpose from the bank: literally
            cells = (item.kind, item.amount, item.client, item.invoice_no, item.note)
            table.add_row(*(Text(one_line(cell)) for cell in cells))
        console.print(table)
        if len(lines) > BANK_TABLE_ROWS:
            left = Counter(item.kind for item in lines[BANK_TABLE_ROWS:])
            said = ", ".join(f"{n} {kind}" for kind, n in sorted(left.items()))
            console.print(
                f"... and {len(lines) - BANK_TABLE_ROWS} more lines ({said}): every line is in "
                "the Payments sheet.",
                markup=False,
            )
    else:
        console.print("No new incoming payments.")
    for error in summary.errors:
        console.print(f"  {one_line(str(error))}", markup=False, highlight=False)
    for note in summary.notes:
        console.print(one_line(note), markup=False, highlight=False)
    return summary.payments_exit_code


def command_init(args: argparse.Namespace, console: Console) -> int:
    from .starter import StarterError, init_folder

    try:
        created = init_folder(Path(args.directory), REPO_TEMPLATES)
    except StarterError as exc:
        console.print(f"init: {exc}", markup=False)
        return EXIT_UNUSABLE
    console.print(f"Created {len(created)} files in {args.directory}:", markup=False)
    for path in created:
        console.print(f"  {path}", markup=False, highlight=False)
    workbook = shlex.quote(str(Path(args.directory) / "service_log.xlsx"))
    console.print(
        "Next: fill in billing.toml and the workbook, then preview the run with\n"
        f"  run-billing --workbook {workbook} --dry-run\n"
        f"(or, from a copy of the project: python run_billing.py --workbook {workbook} --dry-run)",
        markup=False,
        highlight=False,
    )
    return EXIT_OK


def command_schedule(args: argparse.Namespace, console: Console) -> int:
    from .schedule import ScheduleError, outbox_warning, password_warning, schedule_text

    config, workbook = resolve(args)
    script = Path(__file__).resolve().parent.parent / "run_billing.py"
    # The workbook and settings named here are named to every scheduled run too.
    named = ["--workbook", str(workbook.resolve())] if args.workbook else []
    # The settings found here must be the ones found from the workbook's folder, where the
    # scheduled run starts: else they are named too.
    found_there = config.path is not None and config.path.resolve() == (
        workbook.resolve().parent / "billing.toml"
    )
    if config.path is not None and (args.config or not found_there):
        named += ["--config", str(config.path.resolve())]
    try:
        text = schedule_text(
            sys.executable,
            script if script.is_file() else None,  # installed: python -m automation
            workbook.resolve().parent,
            args.day,
            args.time,
            named,
        )
    except ScheduleError as exc:
        console.print(f"schedule: {exc}", markup=False, highlight=False)
        return EXIT_UNUSABLE
    if config.path is None:
        console.print(
            "Warning: no billing.toml was found, so the scheduled run would stop at once "
            "(exit 2): make one with `run-billing init DIR`, or pass --config.",
            markup=False, highlight=False,
        )  # fmt: skip
    elif outbox_warning(config.email):
        console.print(outbox_warning(config.email), markup=False, highlight=False)
    elif password_warning(config.email):
        console.print(password_warning(config.email), markup=False, highlight=False)
    console.print(text, markup=False, highlight=False, soft_wrap=True)
    return EXIT_OK


def command_statement(args: argparse.Namespace, console: Console) -> int:
    from .statement_run import StatementRequest, make_statements, statement_lines

    config, workbook = resolve(args)
    request = StatementRequest(
        workbook, args.as_of or date.today(), config, args.client, args.start, args.end
    )
    # The templates as check and the run try them: a fault named (exit 2) before any work.
    vet_templates(Paths.for_request(RunRequest(workbook, request.as_of, config)))
    result = make_statements(request)
    for line in statement_lines(result, config.billing.language):
        console.print(line, markup=False, highlight=False)
    return EXIT_ATTENTION if result.errors else EXIT_OK


def command_login(args: argparse.Namespace, console: Console) -> int:
    """Sign the sending mailbox in once (OAuth 2.0) and check the mail server accepts it."""
    import webbrowser

    from .mail import MailLoginError, try_login
    from .oauth import OAuthError, login

    config, workbook = resolve(args)
    cfg = config.email
    if cfg.auth != "oauth2":
        raise UnusableError(
            'login is for Microsoft 365 and Google mail: set auth = "oauth2", oauth_provider '
            "and client_id in [email] (see the README). With password sign-in, the password "
            f"comes from the environment variable {cfg.password_env or 'named by password_env'}."
        )
    billing = Paths.for_request(RunRequest(workbook, date.today(), config)).billing

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False)

    try:
        where = login(cfg, billing, say, webbrowser.open)
    except OAuthError as exc:
        say(f"Not signed in: {exc}")
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        say("Sign-in cancelled; nothing was stored.")
        return EXIT_ATTENTION
    say(f"Signed in for {cfg.username}. The sign-in is kept in {where}; scheduled runs use it.")
    if cfg.mode != "smtp":
        return EXIT_OK
    try:
        try_login(cfg, billing)
    except MailLoginError as exc:
        say(f"But the mail server cannot be used yet: {exc}")
        return EXIT_UNUSABLE
    say(f"The mail server {cfg.host} accepted the sign-in (nothing was sent).")
    return EXIT_OK


def command_demo(args: argparse.Namespace, console: Console) -> int:
    """The whole run on a fresh copy of the bundled sample; the sample is never touched."""
    folder = demo_folder()
    copy_as_new(SAMPLE_WORKBOOK, folder / SAMPLE_WORKBOOK.name)  # writable, whatever the
    copy_as_new(SAMPLE_CONFIG, folder / SAMPLE_CONFIG.name)  # installed sample's mode
    console.print(f"Demo folder: {folder}", markup=False, highlight=False)
    args.workbook = folder / SAMPLE_WORKBOOK.name
    args.config = folder / SAMPLE_CONFIG.name
    args.outbox = args.outbox or folder / "outbox"
    code = command_run(args, console)
    console.print(
        f"Open {folder / 'invoices'} for the invoices, {args.outbox} for the emails "
        f"and {args.workbook} for the updated workbook.",
        markup=False,
        highlight=False,
    )
    return code


def demo_folder() -> Path:
    """DEMO_DIR made anew and empty; a new folder beside it when what is there cannot be
    replaced (a link left at its name that this user may not remove)."""
    try:
        if DEMO_DIR.is_symlink() or DEMO_DIR.is_file():  # rmtree refuses a link, even broken
            DEMO_DIR.unlink()
        elif DEMO_DIR.exists():
            shutil.rmtree(DEMO_DIR)
        DEMO_DIR.mkdir(parents=True)
    except OSError:
        return Path(tempfile.mkdtemp(prefix=f"{DEMO_DIR.name}-", dir=DEMO_DIR.parent))
    return DEMO_DIR


COMMANDS: tuple[Command, ...] = (
    Command(
        "run",
        "the weekly run: bill, number, email, remind, write back",
        "%(prog)s --as-of 2026-03-09 --dry-run\n"
        "  %(prog)s --demo          # the whole run on a copy of the sample",
        add_run_options,
        command_run,
    ),
    Command(
        "check",
        "validate the workbook and config; change nothing",
        "%(prog)s --workbook ~/billing/service_log.xlsx",
        add_check_options,
        command_check,
    ),
    Command(
        "payments",
        "import bank statements, match payments to open invoices, and apply them",
        "%(prog)s statements/kaspi-2026-03.txt --dry-run",
        add_payments_options,
        command_payments,
    ),
    Command(
        "init",
        "make a starter folder: workbook, billing.toml and templates",
        "%(prog)s ~/billing",
        add_init_options,
        command_init,
    ),
    Command(
        "schedule",
        "print cron, systemd and Task Scheduler entries for the weekly run",
        "%(prog)s --workbook ~/billing/service_log.xlsx --day Fri --time 08:30",
        add_schedule_options,
        command_schedule,
    ),
    Command(
        "login",
        "sign the sending mailbox in to Microsoft 365 or Google (OAuth 2.0), once",
        "%(prog)s --workbook ~/billing/service_log.xlsx",
        add_login_options,
        command_login,
    ),
    Command(
        "statement",
        "statements of account (last month by default) as Word documents",
        "%(prog)s 'Acme Dental Clinic' --from 2026-10-01 --to 2026-10-31",
        add_statement_options,
        command_statement,
    ),
)
DEFAULT_COMMAND = "run"
HELP_FLAGS = {"-h", "--help", "--version"}


def program_name() -> str:
    """The program as it was started, for --help, --version and the examples: the installed
    command `run-billing`, `python -m automation`, else the script `run_billing.py`."""
    started = Path(sys.argv[0])
    if started.name.startswith("run-billing"):  # run-billing.exe on Windows too
        return "run-billing"
    if started.name == "__main__.py" and started.parent.name == __package__:
        python = Path(sys.executable).name.removesuffix(".exe") or "python"
        return f"{python} -m {__package__}"
    return "run_billing.py"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program_name(),
        description="Weekly billing from the service-log workbook. "
        "`%(prog)s COMMAND --help` shows a command's options and an example.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(
        title="commands (run is the default)", dest="command", metavar="COMMAND", required=True
    )
    synopses: list[str] = []
    for command in COMMANDS:
        sub = commands.add_parser(
            command.name,
            help=command.purpose,
            description=command.purpose[0].upper() + command.purpose[1:] + ".",
            epilog=f"example:\n  {command.example}\n\n{EXIT_CODES}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_options(sub)
        sub.set_defaults(handler=command.handler)
        synopsis = " ".join(sub.format_usage().removeprefix("usage: ").replace(" [-h]", "").split())
        if command.name == DEFAULT_COMMAND:
            synopsis = synopsis.replace(f" {DEFAULT_COMMAND} ", f" [{DEFAULT_COMMAND}] ", 1)
        synopses.append(synopsis)
    # Every command's own synopsis heads --help: what can be typed, at a glance.
    parser.usage = "\n       ".join(synopses)
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Arguments with `run` put in front when no command is named (`--demo`, `--as-of ...`)."""
    words = list(sys.argv[1:] if argv is None else argv)
    names = {c.name for c in COMMANDS}
    if not words or (words[0] not in names and words[0] not in HELP_FLAGS):
        words.insert(0, DEFAULT_COMMAND)
    return build_parser().parse_args(words)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if getattr(args, "outbox", None) is not None:
        args.outbox = args.outbox.absolute()  # as typed: from the current folder
    console = Console(file=cast(TextIO, LenientStream(sys.stdout)), highlight=False, soft_wrap=True)
    command = command_demo if getattr(args, "demo", False) else args.handler
    try:
        with owner_only():  # everything the command creates is the owner's alone
            return command(args, console)
    except (ConfigError, WorkbookError, UnusableError) as exc:
        console.print(f"Cannot run: {one_line(str(exc))}", markup=False, highlight=False)
        return EXIT_UNUSABLE
    except BusyError as exc:
        console.print(f"Not now: {one_line(str(exc))}", markup=False, highlight=False)
        return EXIT_BUSY
    except KeyboardInterrupt:
        console.print("Stopped. What was sent is recorded; the next run finishes the rest.")
        return EXIT_ATTENTION
    except OSError as exc:
        if (said := access_problem(exc)) is None:
            return _unexpected(console, exc, args)
        console.print(said, markup=False, highlight=False)
        return EXIT_ATTENTION
    except Exception as exc:  # the bookkeeper never sees a traceback (it is in the run log)
        return _unexpected(console, exc, args)


def access_problem(exc: OSError) -> str | None:
    """What to tell of a file or folder this user may not use (no permission: to read as
    well as to write), or on a disk or share mounted read-only; None for other problems.

    >>> print(access_problem(PermissionError(13, "Permission denied", "/b/templates")))
    ... # doctest: +NORMALIZE_WHITESPACE
    The run stopped: it may not use /b/templates (Permission denied). Give your user
    access to the billing folder and its files (or run where you can); what was sent
    before this is recorded, and the next run finishes the rest.
    """
    import errno

    where = exc.filename or "a file the run needs"
    if isinstance(exc, PermissionError):
        return (
            f"The run stopped: it may not use {where} ({exc.strerror or 'permission denied'}). "
            "Give your user access to the billing folder and its files (or run where you can); "
            "what was sent before this is recorded, and the next run finishes the rest."
        )
    if exc.errno == errno.EROFS:
        return (
            f"The run stopped: {where} is on a disk or share that is read-only here. Run "
            "where the billing folder can be written (or ask for the share to be writable); "
            "what was sent before this is recorded, and the next run finishes the rest."
        )
    return None


def _unexpected(console: Console, exc: Exception, args: argparse.Namespace) -> int:
    """A problem no other branch of `main` tells: a full disk, else said as it is."""
    if _disk_full(exc):
        console.print(
            "The run stopped: the disk is full (no space left to write the ledger, the "
            f"documents or the workbook). Free some space on {_full_place(exc, args)} "
            "and run again; what was sent before this is recorded, the workbook "
            "is as it was or fully updated, and the next run finishes the rest.",
            markup=False,
            highlight=False,
        )
        return EXIT_ATTENTION
    logged = [n for n in getattr(exc, "__notes__", ()) if n.startswith(LOGGED_IN)]
    details = f" Details are in {logged[0].removeprefix(LOGGED_IN)}." if logged else ""
    console.print(
        f"The run stopped on an unexpected problem: {exc!r}. What was sent is recorded, "
        f"and the next run finishes the rest.{details}",
        markup=False,
        highlight=False,
    )
    return EXIT_ATTENTION


class LenientStream:
    """The program's output as a scheduled run needs it: what the output cannot take never
    stops the program after its work is done, nor hides the message of one that stopped.

    A character the output's encoding lacks (a client "Łódź" on a Windows console, or in
    the log file Task Scheduler writes in cp1252) is shown as "?"; output that cannot be
    written at all (a full disk, a closed pipe) is lost, as it would be on no console.
    Everything else is the stream's own (its encoding, whether it is a terminal).
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except UnicodeEncodeError:
            encoding = getattr(self._stream, "encoding", None) or "ascii"
            with suppress(OSError, ValueError, LookupError):
                self._stream.write(text.encode(encoding, "replace").decode(encoding))
        except (OSError, ValueError):  # no room, a closed pipe or a closed stream
            pass
        return len(text)

    def flush(self) -> None:
        with suppress(OSError, ValueError):
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _disk_full(exc: BaseException) -> bool:
    """Whether a problem is a full disk: the OS's ENOSPC, or SQLite's "disk is full", also
    as the cause of another error."""
    import errno

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "database or disk is full" in str(seen) or "No space left on device" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _full_place(exc: BaseException, args: argparse.Namespace) -> str:
    """The disk that is full: that of the folder the failed write was writing in, else the
    temporary folder's when it has no room and the billing folder's has, else the billing
    folder's."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and (folder := space.written_folder(seen)) is not None:
            return f"the disk of {space.folder_said(folder)}"
        seen = seen.__cause__ or seen.__context__
    workbook = getattr(args, "workbook", None)
    billing = workbook.parent if isinstance(workbook, Path) else Path.cwd()
    if space.little_room(space.temp_folder()) and not space.little_room(billing):
        return f"the disk of {space.folder_said(space.temp_folder())}"
    return "the disk of the billing folder"


#: Python's cycle collector runs after this many new container objects (700 by default).
GC_YOUNG_THRESHOLD = 10_000


def program(argv: Sequence[str] | None = None) -> int:
    """`main` as the whole program: what the entry points call, and the process then ends.

    Python's cycle collector walks every container object it knows each time
    it runs a full pass. A run makes millions (the workbook's rows, the
    ledger's), and about 0.6 s of CPU went on passes that found almost
    nothing, plus a last pass over everything as the process ended. So the
    modules imported at start are set aside (`gc.freeze`: they live as long
    as the program), young objects are collected less often, and at the end
    everything is set aside, so the process ends without that last pass.
    Open files, the ledger and the locks are all closed by then.
    Not for callers that go on after it (the tests call `main`).
    """
    settle_process()
    code = main(argv)
    gc.freeze()
    _let_output_go()
    return code


def _let_output_go() -> None:
    """Output that could not be written (a full disk, a closed pipe) is let go, so that
    Python ending does not report it with a traceback and a changed exit code."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            with suppress(OSError, ValueError):
                nowhere = os.open(os.devnull, os.O_WRONLY)
                os.dup2(nowhere, stream.fileno())
                os.close(nowhere)


def settle_process() -> None:
    """What `program` does first (the benchmarks that time a phase alone start the same
    way): the modules imported so far are set aside from the cycle collector, and
    young objects are collected less often.

    And numpy's linear algebra library (OpenBLAS) is told to start no threads of
    its own when numpy is imported (it is not yet: modules are imported where
    they are used): the tool multiplies no matrices, and those threads spin on
    the cores while they wait, taking about 0.05 s of CPU from the reading
    threads on a 2-core machine. What the bookkeeper set is kept.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), max(middle, 20), max(old, 20))


if __name__ == "__main__":
    raise SystemExit(program())

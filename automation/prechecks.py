"""Checks before anything happens: the workbook not open elsewhere, no other run
going, `--only` naming a client, a usable business calendar, trusted templates.

Each raises the error the command line turns into an exit code (BusyError: 3,
UnusableError: 2); none of them changes anything.

    with ExitStack() as stack:
        hold_run_lock(stack, paths)      # BusyError while another run holds it
        ensure_not_busy(paths, locked=True)
"""

from __future__ import annotations

import difflib
import os
import tempfile
from contextlib import ExitStack
from dataclasses import fields
from datetime import date, datetime, timedelta
from pathlib import Path

import filelock

from .config import Config, EmailConfig
from .config_text import at_line
from .errors import BusyError, UnusableError
from .mail import (
    MailError,
    check_addresses,
    check_smtp_settings,
    missing_password,
    try_login,
    vet_email_templates,
)
from .request import REPO_TEMPLATES, Paths, RunRequest
from .terms import BusinessCalendar, CalendarError
from .validate import ClientBook, client_key

BUSY_RUN = (
    "another billing run is in progress (it holds .billing/run.lock); "
    "run again when it has finished."
)


def hold_run_lock(stack: ExitStack, paths: Paths) -> None:
    """Take .billing/run.lock for the rest of `stack`; BusyError (exit 3) when it is held."""
    paths.billing.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(paths.billing / "run.lock"), timeout=0)
    try:
        stack.enter_context(lock)
    except filelock.Timeout:
        raise BusyError(BUSY_RUN) from None


def ensure_not_busy(paths: Paths, locked: bool = False) -> None:
    """Raise BusyError (exit 3) when the workbook is open elsewhere or a run is going.

    `check` and `--dry-run` stop too: the file on disk may lack what is still
    unsaved in Excel, and a run in progress may be halfway through its updates.
    """
    why = open_elsewhere(paths.workbook)
    if why:
        raise BusyError(
            f"{why}. Nothing was changed and nothing was sent. Close the workbook, then "
            "run again now, or leave it to the next scheduled run."
        )
    lock_file = paths.billing / "run.lock"
    if not locked and lock_file.exists():
        try:
            with filelock.FileLock(str(lock_file), timeout=0):
                pass
        except filelock.Timeout:
            raise BusyError(BUSY_RUN) from None


def check_only(request: RunRequest, book: ClientBook) -> None:
    """`--only` must name a client of the Clients sheet (else nothing would happen, silently)."""
    if request.only is None or client_key(request.only) in book.clients:
        return
    raise UnusableError(
        f"--only {request.only!r} matches no client in Clients.{near(request.only, book)}"
    )


def near(name: str, book: ClientBook) -> str:
    """ " Did you mean 'Acme Dental Clinic'?" for a client name that matches none ("")."""
    names = [c.name for c in book.clients.values()]
    # "Acme" for "Acme Dental Clinic" is too short for difflib alone: names containing it count.
    part = [n for n in names if client_key(name) in client_key(n)]
    close = list(dict.fromkeys(part + difflib.get_close_matches(name, names, n=3)))[:3]
    return f" Did you mean {' or '.join(repr(n) for n in close)}?" if close else ""


def open_elsewhere(workbook: Path) -> str | None:
    """Why the workbook looks open in another program, or None."""
    owner = workbook.with_name("~$" + workbook.name)
    lo_lock = workbook.with_name(f".~lock.{workbook.name}#")
    for marker in (owner, lo_lock):
        if marker.exists():
            return f"{workbook.name} is open in another program ({marker.name} is beside it)" + (
                stale_owner_hint(marker, workbook) if marker is owner else ""
            )
    try:
        with workbook.open("r+b"):
            pass
    except PermissionError:
        if not os.access(workbook, os.W_OK):  # its own permissions, not another program
            return (
                f"{workbook.name} cannot be opened for writing: the file is read-only for "
                "this user (clear Read-only in its Properties, or chmod u+w it)"
            )
        return f"{workbook.name} cannot be opened for writing (open in another program?)"
    except OSError as exc:
        return f"{workbook.name} cannot be opened for writing ({exc.strerror})"
    return None


def stale_owner_hint(owner: Path, workbook: Path) -> str:
    """Why an Excel owner file older than the workbook's last save may be a leftover.

    Excel writes ~$name when it opens a workbook and deletes it on close; one
    left by a crash blocks every run. Saving in Excel does not renew it, so
    an older owner file proves nothing alone: the hint says how to be sure.
    """
    try:
        if owner.stat().st_mtime >= workbook.stat().st_mtime:
            return ""
    except OSError:
        return ""
    return (
        f"; {owner.name} is older than the workbook's last save, so it may be stale, left "
        "by an Excel that crashed: when Excel is closed (on every computer that opens this "
        f"folder), deleting {owner.name} is safe"
    )


def calendar_for(config: Config) -> BusinessCalendar:
    try:
        return BusinessCalendar(
            config.billing.business_days,
            config.billing.holidays_country,
            config.billing.holidays_subdivision,
        )
    except CalendarError as exc:
        raise UnusableError(f"billing.toml: {exc}") from None


def unwritable_folder(
    paths: Paths, dry_run: bool = False, outbox: Path | None = None
) -> tuple[Path, str] | None:
    """(the first folder the run must write in that this user may not, what goes there),
    else None: known before anything is numbered or sent. `outbox`: where messages are
    written in outbox mode."""
    wanted = (
        [(paths.preview, "its previews")]
        if dry_run
        else [
            # the workbook's new copy is written beside it, then put in its place
            (paths.workbook.parent, "the updated workbook"),
            (paths.billing, "its ledger and backups"),
            (paths.billing / "backups", "the backups of the workbook and the ledger"),
            (paths.billing / "logs", "its run log"),
            (paths.invoices, "the invoices"),
            (paths.reports, "the receivables report"),
            *([(outbox, "the outbox's messages")] if outbox is not None else []),
        ]
    )
    for folder, what in wanted:
        existing = _nearest_existing(folder)
        if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
            return existing, what
    return None


def _nearest_existing(folder: Path) -> Path:
    """`folder`, or the nearest folder above it that exists: a folder the run makes needs
    the one it goes in to be usable."""
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def unmakeable_folder(
    paths: Paths, dry_run: bool = False, outbox: Path | None = None
) -> tuple[Path, str, str] | None:
    """(a folder the run must write in that cannot be there, what goes there, why), else
    None: a file where a folder must be, a drive or place where no folder can be made
    (`/proc/...`, a network drive not connected). Tried by making and removing an empty
    folder in the nearest one there, so nothing is left changed."""
    wanted = [(paths.preview, "its previews")] if dry_run else [
        (paths.invoices, "the invoices"), (paths.reports, "the receivables report"),
        *([(outbox, "the outbox's messages")] if outbox is not None else []),
    ]  # fmt: skip
    for folder, what in wanted:
        existing = _nearest_existing(folder)
        if not existing.is_dir():
            return folder, what, f"{existing} is a file, not a folder"
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".billing-check-", dir=existing))
        except OSError as exc:
            return folder, what, exc.strerror or str(exc)
    return None


def refuse_unwritable(paths: Paths, dry_run: bool = False, outbox: Path | None = None) -> None:
    """Exit 2 when the run could not write where it must (`unwritable_folder`,
    `unmakeable_folder`): said before anything is numbered, by the run, --dry-run and
    check alike."""
    unwritable = unwritable_folder(paths, dry_run, outbox)
    if unwritable is not None:
        folder, what = unwritable
        raise UnusableError(
            f"this user may not write in {folder}, where the run writes {what}: give your "
            "user write access to it, or copy the billing folder somewhere you can write and "
            "run there."
        )
    unmakeable = unmakeable_folder(paths, dry_run, outbox)
    if unmakeable is not None:
        folder, what, why = unmakeable
        raise UnusableError(
            f"the run cannot write {what} in {folder} ({why}): correct output_dir in "
            "[billing] (or outbox_dir in [email], or --outbox) in billing.toml, or connect "
            "the drive it names."
        )


def vet_templates(paths: Paths, word: bool = True) -> None:
    """The folder's own templates, tried once in the sandbox before anything is numbered.

    A template that reaches beyond its data raises TemplateRefusedError (exit 2);
    the bundled templates are the package's own and need no trial. Word
    templates (`word`) are tried once there is something to render.
    """
    if paths.email_templates is not None:
        vet_email_templates(paths.email_templates)
    if word and paths.templates != REPO_TEMPLATES:
        from .render import InvoiceRenderer  # docx and docxtpl: only when there is work

        InvoiceRenderer(paths.templates).vet()


def check_email_settings(config: Config, sender: bool = True) -> None:
    """The [email] addresses (`mail.check_addresses`) as an UnusableError (exit 2)."""
    try:
        check_addresses(config.email, config.company, sender)
    except MailError as exc:
        raise email_settings_error(config, exc) from None


def refuse_placeholder_sender(config: Config, outbox: Path | None) -> None:
    """Exit 2 before anything is numbered when emails would go to clients from the company
    `init` wrote as an example ("Your Company", billing@example.com). An outbox is sent by
    the bookkeeper's own mail program: only told there (`notices`)."""
    from .starter import PLACEHOLDER_COMPANY, PLACEHOLDER_EMAIL

    if outbox is not None or config.email.mode != "smtp":
        return
    sender = (config.email.sender or config.company.email).strip().casefold()
    if config.company.name.strip() == PLACEHOLDER_COMPANY or sender == PLACEHOLDER_EMAIL:
        raise UnusableError(
            f"billing.toml still has the example company init wrote under [company] (name "
            f'"{config.company.name.strip()}", email {sender}): put your firm\'s name, address '
            "and email there before invoices are emailed to clients."
        )


def check_mail_settings(request: RunRequest, paths: Paths) -> str | None:
    """For `check` and `--dry-run`: the mail server the run would use, tried the way the run
    opens it (`mail.try_login`: connect, TLS, log in, QUIT; nothing sent, nothing numbered).
    What the run would refuse stops here the same way (exit 2, the run's words); else a
    line saying what the server accepted. None in outbox mode (nothing to log in to), and
    for `payments`, which sends no client mail.

    One thing is only told, not refused: no SMTP password in this environment (its
    variable unset). The scheduled run's environment often sets what this terminal's
    does not; the server is still reached, without logging in.
    """
    refuse_placeholder_sender(request.config, request.outbox)
    cfg = request.config.email
    if request.outbox is not None or cfg.mode != "smtp":
        return None
    try:
        check_smtp_settings(cfg)
        if request.payments_only:
            return None
        lacking = missing_password(cfg)
        said = try_login(cfg, paths.billing, login=not lacking)
    except MailError as exc:
        raise UnusableError(f"the mail server cannot be used: {exc}") from None
    if not lacking:
        return said
    holder = f"sets {cfg.password_env}" if cfg.password_env else "reaches the OS keyring"
    return (
        f"Note: {cfg.host}:{cfg.effective_port} answered, but the login for {cfg.username} "
        f"was not tried: {lacking} A run started here would stop on it (exit 2); a scheduled "
        f"run whose environment {holder} logs in as usual."
    )


def email_settings_error(config: Config, exc: Exception) -> UnusableError:
    """What is wrong with the [email] settings (exit 2); without any billing.toml, that."""
    if config.path is None:
        return UnusableError(
            f"no billing.toml was found (beside the workbook or in this folder): {exc} Make "
            "a folder with `run-billing init`, or write billing.toml with your company's "
            "email under [company]."
        )
    said = str(exc)
    if said.startswith("the sender address "):  # its option: `from`, else the company's
        option = "[email] from" if config.email.sender else "[company] email"
        said = said.replace("the sender address", option, 1)
    elif said.split(" ", 1)[0] in {f.name for f in fields(EmailConfig)}:  # "bcc has ..."
        said = f"[email] {said}"
    elif not said.startswith("[company] "):
        return UnusableError(f"{config.path.name} [email]: {said}")
    try:
        text = config.path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):  # moved since it was read: said without a line
        text = ""
    return UnusableError(at_line(config.path.name, text, said))


#: How far the clock may seem to go back between runs (a time zone changed by travel) before
#: the run believes the computer's date is wrong.
CLOCK_SLACK = timedelta(days=1)


def refuse_clock_behind(request: RunRequest, last_started: datetime | None) -> None:
    """Exit 2 when the computer's date is before the last run's: its clock is wrong (a
    machine woken before it set its clock). A run as of that date would issue invoices
    dated and due a year back, numbered in last year's series. A date given with
    --as-of is the bookkeeper's: that run goes ahead, and the next compare with it (the
    way out when it was the last run's clock that was wrong)."""
    now = datetime.now()
    if last_started is None or request.as_of_given or now >= last_started - CLOCK_SLACK:
        return
    today = now.date().isoformat()
    raise UnusableError(
        f"this computer's date is {today}, before the last run's "
        f"({last_started.date().isoformat()}): one of the two clocks was wrong. Set this "
        f"computer's clock right; if it is right (the last run's was not), run once with "
        f"--as-of {today}, and the runs after it go on as usual. Nothing was changed."
    )



def refuse_as_of_before_last(request: RunRequest, last_as_of: date | None) -> None:
    """Exit 2 when the run is as of a date before the latest as-of date of a run in the
    ledger (`Ledger.last_as_of`) and before today: its invoices would be numbered after
    ones dated later, emailed with a due date already past, and reissued as overdue by
    the next run. Work of a week missed is billed by a run as of that latest date or
    later. The same date again (a rerun) goes ahead; so does a date from today on: the
    last run was then dated ahead (a clock that was, an --as-of mistyped), and today
    is the way back (`refuse_clock_behind`)."""
    today = datetime.now().date()
    if last_as_of is None or request.as_of >= last_as_of or request.as_of >= today:
        return
    asked, last = request.as_of.isoformat(), last_as_of.isoformat()
    way = (
        f"run as of {last} or later (without --as-of: today)"
        if last_as_of <= today
        else f"run as of {last} or later; if that date was wrong (a clock that was ahead, "
        f"an --as-of mistyped), run as of today, --as-of {today.isoformat()}"
    )
    raise UnusableError(
        f"this run is as of {asked}, before the last run's as-of date ({last}, recorded in "
        f".billing/ledger.sqlite): its invoices would be numbered after ones dated {last}, "
        f"emailed with due dates already past, and reissued as overdue by the next run. To "
        f"bill work of an earlier week, {way}: it bills everything due, dated that day. "
        "Nothing was changed."
    )

"""A rerun with nothing to do, proved from its inputs and answered without reading them.

A weekly run that leaves nothing owed (every message delivered, every cell
written, no follow-up or statement due today, nothing new to report but the
row errors of rows it could not bill) keeps, in .billing/rerun.json, a key
over everything a run reads and what a run would then show. A later run
whose inputs give the same key can do nothing but show that again: it says
so, and writes nothing (no ledger row, no backup, no report, not a byte of
the workbook). Anything else runs in full.

The key covers the as-of date, the settings, the program itself, the
computer, the templates, the bytes of the workbook, of the ledger and of the
report, and the request; a statement file in the bank inbox, `--only`, `payments` and
dry runs are never answered this way.

    summary = replay(request, paths)   # None: run in full
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path

from .bank.apply import inbox_files, inbox_of
from .model import RowError
from .request import Paths, RunRequest, outbox_folder
from .summary import NotCounted, RunSummary
from .whereabouts import computer_name

#: The record's name in .billing/; its `format` changes whenever what it holds does.
RECORD = "rerun.json"
FORMAT = 3
NOTHING_CHANGED = (
    "Nothing has changed since the last run (the workbook, the ledger, the settings and "
    "the date are the same): there is nothing to do, and nothing was written."
)


@dataclass(frozen=True)
class Quiet:
    """What a run shows when there is nothing to do: the state, not news.

    Attributes:
        outstanding: the amounts still owed, per currency.
        notes: the workbook's notices (services waiting to become billable...).
        report: the receivables report of the as-of date, as it stands.
        errors: the row errors of rows no run bills until they are fixed.
        not_counted: the open invoices typed by hand, per currency (not in `outstanding`).
    """

    outstanding: dict[str, Decimal]
    notes: tuple[str, ...]
    report: Path
    errors: tuple[RowError, ...] = ()
    not_counted: dict[str, NotCounted] = field(default_factory=dict)


def replay(request: RunRequest, paths: Paths) -> RunSummary | None:
    """The summary of a run with nothing to do, when nothing changed since one; else None.

    Call under the run lock, after the busy checks: it reads, and writes nothing.
    """
    started = time.perf_counter()
    record = _read_record(paths)
    if record is None:
        return None
    quiet, key = record
    if inputs_key(request, paths, quiet.report) != key:
        return None
    summary = RunSummary(
        request.as_of,
        language=request.config.billing.language,
        outbox=outbox_folder(request, paths),
    )
    summary.errors = list(quiet.errors)
    summary.outstanding = dict(quiet.outstanding)
    summary.not_counted = dict(quiet.not_counted)
    summary.notes = [*quiet.notes, NOTHING_CHANGED]
    summary.report = quiet.report
    summary.timings["rerun check"] = time.perf_counter() - started
    return summary


def remember(request: RunRequest, paths: Paths, quiet: Quiet) -> None:
    """Keep the key of this run's inputs as it leaves them (call once the ledger is closed)."""
    key = inputs_key(request, paths, quiet.report)
    if key is None:
        return
    record = {
        "format": FORMAT,
        "key": key,
        "outstanding": {currency: str(amount) for currency, amount in quiet.outstanding.items()},
        "notes": list(quiet.notes),
        "report": str(quiet.report),
        "errors": [[e.sheet, e.row, e.column, e.message] for e in quiet.errors],
        "not_counted": [[n.currency, n.count, str(n.balance)] for n in quiet.not_counted.values()],
    }
    target = paths.billing / RECORD
    partial = target.with_name(target.name + ".part")
    partial.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(partial, target)


def forget(paths: Paths) -> None:
    """Drop the record: a run in full is about to change what it was taken of."""
    (paths.billing / RECORD).unlink(missing_ok=True)


def inputs_key(request: RunRequest, paths: Paths, report: Path) -> str | None:
    """A digest of everything a weekly run reads, or None when a rerun may not be skipped."""
    if request.dry_run or request.payments_only or request.only is not None or request.statements:
        return None
    if inbox_files(inbox_of(paths.workbook, request.config)):
        return None  # statements to import: always a run in full
    ledger = paths.billing / "ledger.sqlite"
    if ledger.with_name(ledger.name + "-wal").exists():
        return None  # left open by a run that stopped: its last steps are not in the file
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}:{len(data)}:".encode())
        digest.update(data)

    add("format", str(FORMAT).encode())
    add("as_of", request.as_of.isoformat().encode())
    add("config", repr(request.config).encode())
    add("request", repr((request.outbox, paths, outbox_folder(request, paths))).encode())
    add("computer", computer_name().encode())  # a copy run elsewhere is told (`whereabouts`)
    try:
        add("program", program_digest())
        add("templates", folder_digest(paths.templates))
        if paths.email_templates is not None:
            add("email templates", folder_digest(paths.email_templates))
        for label, path in (("workbook", paths.workbook), ("ledger", ledger), ("report", report)):
            with path.open("rb") as file:
                add(label, hashlib.file_digest(file, "sha256").digest())
    except OSError:
        return None  # unreadable now: a run in full says why
    return digest.hexdigest()


@cache
def program_digest() -> bytes:
    """The program's own source: another version may well decide otherwise."""
    return folder_digest(Path(__file__).resolve().parent, "*.py")


def folder_digest(folder: Path, pattern: str = "*") -> bytes:
    """The names and contents of every file under `folder`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob(pattern) if p.is_file()):
        digest.update(f"{path.relative_to(folder).as_posix()}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.digest()


def _read_record(paths: Paths) -> tuple[Quiet, str] | None:
    try:
        record = json.loads((paths.billing / RECORD).read_text(encoding="utf-8"))
        if record["format"] != FORMAT:
            return None
        quiet = Quiet(
            {currency: Decimal(amount) for currency, amount in record["outstanding"].items()},
            tuple(record["notes"]),
            Path(record["report"]),
            tuple(RowError(*error) for error in record["errors"]),
            {c: NotCounted(c, int(n), Decimal(amount)) for c, n, amount in record["not_counted"]},
        )
        return quiet, str(record["key"])
    except (OSError, ValueError, KeyError, TypeError, ArithmeticError):
        return None

"""The receivables report written by a process of its own while the run writes back.

What the report shows is known once the messages are sent, but writing it
(XlsxWriter, a cell at a time: about 1.3 s for 5,000 open invoices) is pure
Python, so a thread would only take turns with the write-back. The run hands
it to a worker process instead, on the other core, when the write-back
starts, and collects it after the write-back; a small report is written in
the run's own process when collected, as before, a process not being worth
its start-up.

    pending = start_report(items, as_of, paths.reports, credit_notes, left_out, names)
    ...                                   # the write-back goes on meanwhile
    path = pending.wait()                 # ReportError: what the bookkeeper is told

The worker only writes the file under a temporary name; `wait` moves it into
place, so a run that stops before it collects the report leaves last week's
copy as it was (`abandon` stops the worker and removes the temporary file; a
killed run's worker removes it itself once it sees the run gone).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Mapping, Sequence
from contextlib import suppress
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from .processes import cpu_count, fresh_context
from .report import (
    CreditNoteItem,
    Receivable,
    ReportError,
    cannot_write,
    report_names,
    write_receivables_report,
    write_workbook,
)

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

#: Open invoices from which the report is worth a process of its own: fewer
#: are written in a tenth of a second or less, about what starting one costs.
BACKGROUND_FROM = 1000

#: A Receivable as it crosses to the worker: text and day numbers, which pickle
#: about seven times faster than Decimal and date objects.
FlatReceivable = tuple[str, str, str, int, int, str, str, str, str, str]

WRITTEN, REFUSED, CRASHED = "written", "refused", "crashed"


class PendingReport:
    """A receivables report on its way: written by a worker, or here when collected."""

    def __init__(
        self,
        items: Sequence[Receivable],
        as_of: date,
        out_dir: Path,
        credit_notes: Sequence[CreditNoteItem],
        left_out: str = "",
        names: Mapping[str, str] | None = None,
    ) -> None:
        self._args = (items, as_of, out_dir, credit_notes, left_out, names)
        self._worker: BaseProcess | None = None
        self._answers: Connection | None = None
        self._sender: threading.Thread | None = None  # handing the invoices to the worker
        self._target = Path()
        self._temp_name = ""

    @property
    def in_background(self) -> bool:
        """Whether a worker process is writing it."""
        return self._worker is not None

    def wait(self) -> Path:
        """The report in place: the worker's, or written now. ReportError when it cannot be."""
        if self._worker is None:
            return write_receivables_report(*self._args)
        try:
            outcome, text = self._answer()
            if outcome == WRITTEN:
                try:
                    os.replace(self._temp_name, self._target)
                except OSError as exc:
                    raise cannot_write(self._target, exc) from None
        finally:
            self._let_go()
        if outcome == REFUSED:
            raise ReportError(text)
        if outcome == CRASHED:  # not the file: the worker. Written here, as it always was.
            return write_receivables_report(*self._args)
        return self._target

    def abandon(self) -> None:
        """The run stops without it: the worker is stopped and its unfinished file removed."""
        if self._worker is None:
            return
        if self._worker.is_alive():
            self._worker.terminate()
        self._let_go()

    def _answer(self) -> tuple[str, str]:
        """What the worker answered; CRASHED when it ended without an answer."""
        assert self._answers is not None and self._sender is not None
        self._sender.join()  # done once the worker has them all, or is gone
        try:
            outcome, text = self._answers.recv()
        except (EOFError, OSError):
            return CRASHED, ""
        return outcome, text

    def _let_go(self) -> None:
        """Close the pipe (the worker's cue to end), wait for the worker, drop what is left."""
        worker, answers, sender = self._worker, self._answers, self._sender
        assert worker is not None and answers is not None and sender is not None
        self._worker = self._answers = self._sender = None
        sender.join()  # before its pipe is closed (a stopped worker ends its sending)
        answers.close()
        worker.join()
        if self._temp_name and os.path.exists(self._temp_name):
            os.remove(self._temp_name)


def start_report(
    items: Sequence[Receivable],
    as_of: date,
    out_dir: Path,
    credit_notes: Sequence[CreditNoteItem] = (),
    left_out: str = "",
    names: Mapping[str, str] | None = None,
    background_from: int | None = None,
) -> PendingReport:
    """The report of `items`, begun in a worker process when it is big enough to gain
    (`names`: each client's name in Clients, by client key: `report.as_named`).

    Never raises: whatever stops a worker from starting (a full process table,
    a folder that cannot be written) leaves the report to be written when
    collected, where the same trouble, if it lasts, is told as before.
    """
    pending = PendingReport(items, as_of, out_dir, credit_notes, left_out, names)
    listed = [item for item in items if item.balance != 0]  # open, or owed back
    least = BACKGROUND_FROM if background_from is None else background_from
    if len(listed) < least or cpu_count() < 2:
        return pending
    try:
        target, temp_name = report_names(out_dir, as_of)
    except OSError:
        return pending
    pending._target, pending._temp_name = target, temp_name
    try:
        context = fresh_context()
        answers, answer = context.Pipe()
        worker = context.Process(
            target=_write_in_worker,
            args=(answer, as_of, temp_name, target.name),
            name="receivables-report",
            daemon=True,  # never outlives the run's interpreter
        )
        try:
            worker.start()
        finally:
            answer.close()  # the worker's end: EOF here once the worker is gone
    except Exception:  # no worker: written when collected
        with suppress(OSError):
            os.remove(temp_name)
        pending._temp_name = ""
        return pending
    # The invoices go down the pipe from a thread: the worker takes them once it has
    # imported what it needs (0.2-0.5 s), and the pipe holds less than 5,000 of them.
    payload = ([flat(item) for item in listed], list(credit_notes), left_out, dict(names or {}))
    sender = threading.Thread(target=_hand_over, args=(answers, payload), name="report-data")
    sender.start()
    pending._worker, pending._answers, pending._sender = worker, answers, sender
    return pending


def _hand_over(answers: Connection, payload: object) -> None:
    with suppress(OSError):  # the worker is gone: `wait` finds it out
        answers.send(payload)


def flat(item: Receivable) -> FlatReceivable:
    """`item` as plain text and day numbers (`unflat` gives it back, equal)."""
    return (
        item.invoice_no, item.client, item.currency,
        item.invoice_date.toordinal(), item.due_date.toordinal(),
        str(item.total), str(item.paid), str(item.balance), item.status, str(item.credited),
    )  # fmt: skip


def unflat(row: FlatReceivable) -> Receivable:
    no, client, currency, invoiced, due, total, paid, balance, status, credited = row
    return Receivable(
        no, client, currency, date.fromordinal(invoiced), date.fromordinal(due),
        Decimal(total), Decimal(paid), Decimal(balance), status, Decimal(credited),
    )  # fmt: skip


def _write_in_worker(answer: Connection, as_of: date, temp_name: str, target_name: str) -> None:
    """In the worker: write the workbook, answer how it went; never a traceback on screen.

    It stays until the run lets go of the pipe, then leaves no file of its own
    behind: a run killed meanwhile leaves no half report and no worker.
    """
    # Ctrl-C reaches the whole process group: the run stops, and stops the worker
    # (`abandon`); the worker itself neither stops on its own nor prints a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        from xlsxwriter.exceptions import FileCreateError

        rows, credit_notes, left_out, names = answer.recv()
        try:
            write_workbook(
                temp_name, [unflat(row) for row in rows], as_of, credit_notes, left_out, names
            )
        except (OSError, FileCreateError) as exc:
            reply = (REFUSED, str(cannot_write(Path(target_name), exc)))
        else:
            reply = (WRITTEN, "")
    except BaseException as exc:  # a fault here is the run's to meet again: it writes it itself
        reply = (CRASHED, repr(exc))
    try:
        answer.send(reply)
        # The run moves the file into place, then closes its end of the pipe: what is
        # still under the temporary name then is a stopped run's (killed, or given up).
        answer.recv()
    except (EOFError, OSError):
        pass  # the run has let go, or is gone
    finally:
        answer.close()
        with suppress(OSError):
            os.remove(temp_name)

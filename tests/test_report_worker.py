"""The receivables report written by a worker process: the same workbook, the same errors."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from conftest import Folder, client, service, write_workbook

import automation.report_worker
from automation.report import (
    CLIENT_SHEET,
    OPEN_SHEET,
    CreditNoteItem,
    Receivable,
    ReportError,
    write_receivables_report,
)
from automation.report_worker import flat, start_report, unflat

AS_OF = date(2026, 6, 30)
CURRENCIES = ("USD", "EUR", "JPY", "KZT", "BHD")


def receivables(count: int) -> list[Receivable]:
    """Invoices of many clients and currencies: open, paid, overpaid and credited."""
    items = []
    for i in range(count):
        currency = CURRENCIES[i % len(CURRENCIES)]
        total = Decimal(10_000 + i * 37) / 100
        paid = total if i % 4 == 0 else total + 1 if i % 9 == 0 else Decimal("0.00")
        due = AS_OF - timedelta(days=(i * 13) % 200 - 20)
        items.append(
            Receivable(f"INV-2026-{i:04d}", f"Client {i % 17} & <Co>", currency,
                       due - timedelta(days=30), due, total, paid, total - paid,
                       "Overdue" if due < AS_OF else "Sent", Decimal(i % 3))
        )  # fmt: skip
    return items


NOTES = [CreditNoteItem("CN-2026-0001", AS_OF, "INV-2026-0003", "Client 3 & <Co>", "EUR",
                        Decimal("12.50"), "void")]  # fmt: skip


def parts(path: Path) -> dict[str, bytes]:
    """Every part of the .xlsx but its creation time."""
    with zipfile.ZipFile(path) as package:
        return {n: package.read(n) for n in package.namelist() if n != "docProps/core.xml"}


def test_worker_writes_the_same_workbook(tmp_path: Path) -> None:
    items = receivables(4000)  # more than the pipe holds: handed over while the worker reads
    here = write_receivables_report(items, AS_OF, tmp_path / "here", NOTES)
    pending = start_report(items, AS_OF, tmp_path / "there", NOTES, background_from=1)
    assert pending.in_background
    there = pending.wait()
    assert there == tmp_path / "there" / "receivables-2026-06-30.xlsx"
    assert parts(there) == parts(here)
    assert [p.name for p in there.parent.iterdir()] == [there.name]  # no temporary file left
    assert openpyxl.load_workbook(there)[OPEN_SHEET].max_row > 2000


def test_small_report_written_when_collected(tmp_path: Path) -> None:
    pending = start_report(receivables(5), AS_OF, tmp_path, background_from=10)
    assert not pending.in_background
    assert list(tmp_path.iterdir()) == []  # nothing written until it is asked for
    assert pending.wait().name == "receivables-2026-06-30.xlsx"


def test_worker_refused_is_the_same_error(tmp_path: Path) -> None:
    (tmp_path / "receivables-2026-06-30.xlsx").mkdir()  # a directory is not replaced by a file
    pending = start_report(receivables(50), AS_OF, tmp_path, background_from=1)
    assert pending.in_background
    with pytest.raises(ReportError) as raised:
        pending.wait()
    with pytest.raises(ReportError) as in_process:
        write_receivables_report(receivables(50), AS_OF, tmp_path)
    temp = re.compile(r"\.receivables-\w+\.xlsx")  # a new temporary name each time
    assert temp.sub("", str(raised.value)) == temp.sub("", str(in_process.value))
    assert "receivables-2026-06-30.xlsx" in str(raised.value)
    assert [p.name for p in tmp_path.iterdir()] == ["receivables-2026-06-30.xlsx"]


def test_worker_killed_report_written_here(tmp_path: Path) -> None:
    items = receivables(4000)  # the worker killed before it has taken them all
    pending = start_report(items, AS_OF, tmp_path, background_from=1)
    worker = pending._worker  # as if the system had stopped it (out of memory)
    assert worker is not None
    worker.kill()
    worker.join()
    path = pending.wait()
    assert parts(path) == parts(write_receivables_report(items, AS_OF, tmp_path / "again"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", path.name]


def test_abandoned_report_leaves_last_copy(tmp_path: Path) -> None:
    last = write_receivables_report(receivables(3), AS_OF, tmp_path)
    before = last.read_bytes()
    pending = start_report(receivables(4000), AS_OF, tmp_path, background_from=1)
    worker = pending._worker
    assert worker is not None
    pending.abandon()
    assert not worker.is_alive()
    assert [p.name for p in tmp_path.iterdir()] == [last.name]
    assert last.read_bytes() == before
    pending.abandon()  # twice: nothing more to do


def test_flat_round_trip() -> None:
    odd = Receivable("INV-1", "Ünïcode Ltd", "JPY", date(1, 1, 1), date(9999, 12, 31),
                     Decimal("1E+3"), Decimal("-0.00"), Decimal("1000.005"), "Sent",
                     Decimal("0.1000"))  # fmt: skip
    for item in [odd, *receivables(20)]:
        back = unflat(flat(item))
        assert back == item
        assert [str(v) for v in vars(back).values()] == [str(v) for v in vars(item).values()]


def test_run_with_report_in_background(folder: Folder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(automation.report_worker, "BACKGROUND_FROM", 1)
    started = []
    real_start = automation.report_worker.PendingReport.wait

    def wait(self: automation.report_worker.PendingReport) -> Path:
        started.append(self.in_background)
        return real_start(self)

    monkeypatch.setattr(automation.report_worker.PendingReport, "wait", wait)
    write_workbook(
        folder.workbook,
        [client("Acme Ltd"), client("Beta LLC")],
        [service(date(2026, 3, 2), "Acme Ltd", "Bookkeeping", 2, 150),
         service(date(2026, 3, 4), "Beta LLC", "Tax return", 1, 400)],
    )  # fmt: skip
    assert folder.run("--as-of", "2026-03-09") == 0
    assert started == [True]
    report = folder.root / "reports" / "receivables-2026-03-09.xlsx"
    rows = [
        [cell.value for cell in row]
        for row in openpyxl.load_workbook(report)[CLIENT_SHEET].iter_rows(min_row=3)
    ]
    assert [tuple(r[:2]) for r in rows if r[0]] == [
        ("Client", "Invoice No"),
        ("Acme Ltd", "INV-2026-0001"), ("Acme Ltd", "Total USD"),
        ("Beta LLC", "INV-2026-0002"), ("Beta LLC", "Total USD"),
    ]  # fmt: skip
    assert [p.name for p in report.parent.iterdir()] == [report.name]


def test_run_tells_when_background_report_refused(
    folder: Folder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(automation.report_worker, "BACKGROUND_FROM", 1)
    write_workbook(folder.workbook, [client("Acme Ltd")],
                   [service(date(2026, 3, 2), "Acme Ltd", "Bookkeeping", 2, 150)])  # fmt: skip
    (folder.root / "reports" / "receivables-2026-03-09.xlsx").mkdir(parents=True)
    code = folder.run("--as-of", "2026-03-09")
    out = capsys.readouterr().out
    assert "The receivables report was not written: cannot write receivables-2026-03-09.xlsx" in (
        " ".join(out.split())
    )
    assert "Traceback" not in out
    assert code == 0
    assert len(folder.received) == 1
    assert os.listdir(folder.root / "reports") == ["receivables-2026-03-09.xlsx"]


KILLED_RUN = """
import os, signal, sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from automation.report import Receivable
from automation.report_worker import start_report

if __name__ == "__main__":
    items = [Receivable(f"INV-{i}", f"Client {i % 700}", "USD", date(2026, 5, 1),
                        date(2026, 5, 31) - timedelta(days=i % 90), Decimal("100.00"),
                        Decimal("0"), Decimal("100.00"), "Sent") for i in range(3000)]
    pending = start_report(items, date(2026, 6, 30), Path(sys.argv[1]), background_from=1)
    assert pending.in_background
    print(pending._worker.pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # as the power going out, mid write-back
"""


def test_killed_run_leaves_no_report_file_nor_worker(tmp_path: Path) -> None:
    script = tmp_path / "killed_run.py"
    script.write_text(KILLED_RUN)
    reports = tmp_path / "reports"
    run = subprocess.run(
        [sys.executable, str(script), str(reports)],
        capture_output=True, text=True, timeout=120,  # until the worker, too, lets go of them
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )  # fmt: skip
    assert run.returncode == -signal.SIGKILL
    worker = int(run.stdout.split()[0])
    deadline = time.monotonic() + 30
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(worker)
    assert list(reports.iterdir()) == []  # neither the report nor its temporary file
    assert "Traceback" not in run.stderr


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (an orphan's zombie, left to a PID 1 that does not
    reap, counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_ctrl_c_leaves_the_run_to_stop_the_worker(tmp_path: Path) -> None:
    """Ctrl-C reaches the worker too: it keeps its finished file for the run to place."""
    items = receivables(300)
    pending = start_report(items, AS_OF, tmp_path, background_from=1)
    answers, worker = pending._answers, pending._worker
    assert answers is not None and worker is not None
    assert answers.poll(60)  # written and answered; the run is still busy elsewhere
    os.kill(worker.pid or 0, signal.SIGINT)
    time.sleep(0.3)
    assert worker.is_alive()
    path = pending.wait()
    assert parts(path) == parts(write_receivables_report(items, AS_OF, tmp_path / "here"))

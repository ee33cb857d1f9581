"""Never twice, never lost: kill the run at every phase, then run again.

Each scenario runs the real CLI in a child process against a real SMTP server
in this process, kills it with SIGKILL (through BILLING_FAULT, or from outside
while it renders), reruns it, and checks the invariants: every invoice was
delivered, duplicates only as identical Message-IDs, numbers unique and
gapless, the workbook opens and agrees with the ledger.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import filelock
import openpyxl
import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from smtp_servers import Recorder, running_server

from automation.faults import POINTS
from automation.render import PARALLEL_THRESHOLD

REPO = Path(__file__).resolve().parent.parent
AS_OF = "2026-03-09"
CLIENTS = [f"Client {i:02d}" for i in range(1, 7)]


def make_log(folder: Folder, clients: list[str] = CLIENTS) -> None:
    write_workbook(
        folder.workbook,
        [client(name) for name in clients],
        [
            service(date(2026, 3, 2), name, f"Work {k}", 1, 100 + k)
            for name in clients
            for k in range(2)
        ],
    )


def run_child(
    folder: Folder, fault: str | None = None, *args: str, as_of: str = AS_OF
) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "BILLING_FAULT"}
    if fault:
        env["BILLING_FAULT"] = fault
    # Output goes to a file: a pipe would also wait for any process the run left behind.
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "run_billing.py"),
            "--workbook",
            str(folder.workbook),
            "--as-of",
            as_of,
            *args,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    proc.log_path = log.name  # type: ignore[attr-defined]
    log.close()
    return proc


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    proc.wait(timeout=timeout)
    path = Path(proc.log_path)  # type: ignore[attr-defined]
    out = path.read_text()
    path.unlink()
    return proc.returncode, out


def ledger_rows(folder: Folder, query: str) -> list[tuple]:
    conn = sqlite3.connect(folder.root / ".billing" / "ledger.sqlite")
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def assert_invariants(folder: Folder, clients: list[str] = CLIENTS) -> None:
    # Every invoice delivered; a repeat is only the identical Message-ID.
    invoices = ledger_rows(folder, "SELECT invoice_no, client FROM invoices ORDER BY invoice_no")
    assert [n for n, _ in invoices] == [f"INV-2026-{i:04d}" for i in range(1, len(clients) + 1)]
    assert sorted(c for _, c in invoices) == sorted(clients)
    for name in clients:
        address = "".join(ch for ch in name.lower() if ch.isalnum()) + "@clients.example"
        got = [r for r in folder.received if address in r.rcpt_tos]
        assert got, f"{name} never received the invoice"
        assert len({str(r.message["Message-ID"]) for r in got}) == 1, name
        assert len({r.data for r in got}) == 1, f"{name}: a repeat that is not identical"
    states = {s for (s,) in ledger_rows(folder, "SELECT state FROM messages")}
    assert states == {"sent"}
    # The workbook opens and matches the ledger.
    openpyxl.load_workbook(folder.workbook).close()
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    sheet = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    assert services["Status"].tolist() == ["Invoiced"] * len(services)
    owner = dict(ledger_rows(folder, "SELECT client, invoice_no FROM invoices"))
    assert services["Invoice No"].tolist() == [owner[c] for c in services["Client"]]
    assert sorted(sheet["Invoice No"]) == sorted(owner.values())
    assert set(sheet["Status"]) == {"Sent"}
    assert services["Amount"].notna().all()  # cached formula results survived


def test_a_batch_is_marked_sending_before_its_first_message_goes(folder: Folder) -> None:
    """One flush to disk marks a batch of messages; a crash leaves them all `sending`.

    Killed as the first answer comes back, the six messages of the batch are
    all marked though five never left: the next run sends each of them once.
    """
    make_log(folder)
    code, out = finish(run_child(folder, "after-send"))
    assert code == -signal.SIGKILL, out
    before = len(folder.received)
    assert 1 <= before <= 2  # the first, and the one queued behind it if it had left
    states = ledger_rows(folder, "SELECT state FROM messages")
    assert [s for (s,) in states] == ["sending"] * len(CLIENTS)
    code, out = finish(run_child(folder))
    assert code == 0, out
    said = "the run before this one could not tell whether this message arrived"
    assert out.count(said) == len(CLIENTS)
    assert_invariants(folder)
    assert len(folder.received) == len(CLIENTS) + before  # those that had left: twice, identical


def test_outbox_mode_after_a_kill_says_written_again_never_sent(folder: Folder) -> None:
    """Outbox mode, killed after the first file was written: the next run writes the
    marked messages again and says so; it never says they were sent or emailed."""
    config = folder.write_config()
    config.write_text(config.read_text().replace('mode = "smtp"', 'mode = "outbox"'))
    make_log(folder)
    code, out = finish(run_child(folder, "after-send"))
    assert code == -signal.SIGKILL, out
    code, out = finish(run_child(folder))
    assert code == 0, out
    said = " ".join(out.split())
    assert said.count("stopped while writing this message to the outbox") == len(CLIENTS)
    assert "could not tell whether this message arrived" not in said
    assert "sent again" not in said and "was sent now" not in said
    assert len(list((folder.root / "outbox").glob("*.eml"))) == len(CLIENTS)


@pytest.mark.parametrize("point", POINTS)
def test_kill_at_each_phase_then_rerun(folder: Folder, point: str) -> None:
    make_log(folder)
    code, out = finish(run_child(folder, point))
    assert code == -signal.SIGKILL, out
    before = len(folder.received)
    code, out = finish(run_child(folder))
    assert code == 0, out
    if point == "after-send":
        assert "the run before this one could not tell whether this message arrived" in out
        # The message whose answer was not recorded arrived twice, byte for byte the
        # same; so did the next one if it had left, queued behind it, before the kill.
        first = CLIENTS[0].lower().replace(" ", "") + "@clients.example"
        assert len([r for r in folder.received if first in r.rcpt_tos]) == 2
        assert 1 <= before <= 2
    assert_invariants(folder)
    code, out = finish(run_child(folder))
    repeats = before if point == "after-send" else 0  # only what was out when it died
    assert code == 0 and len(folder.received) == len(CLIENTS) + repeats


def test_kill_from_outside_while_rendering(folder: Folder) -> None:
    many = [f"Firm {i:03d}" for i in range(60)]
    make_log(folder, many)
    proc = run_child(folder)
    invoices = folder.root / "invoices"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if invoices.exists() and any(invoices.rglob("*.docx")):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    code, out = finish(proc)
    assert code == -signal.SIGKILL, "the run finished before it could be killed: " + out
    # Render workers must not keep the run's lock: the rerun is not told "busy".
    code, out = finish(run_child(folder))
    assert code == 0, out
    assert_invariants(folder, many)


def test_server_that_hangs_mid_batch(tmp_path: Path) -> None:
    recorder = HangingRecorder(hang_on=3)
    with running_server(recorder) as port:
        folder = Folder(tmp_path, recorder, port)
        folder.write_config(email="timeout = 1.5\nmax_retries = 1")
        make_log(folder)
        code, out = finish(run_child(folder))
        assert code == 1, out  # the hung message is reported, the rest went out
        assert "Client 03" in out
        recorder.hang_on = 0
        code, out = finish(run_child(folder))
        assert code == 0, out
        assert_invariants(folder)


class HangingRecorder(Recorder):
    """Stores message n, then never answers (the client times out)."""

    def __init__(self, hang_on: int) -> None:
        super().__init__()
        self.hang_on = hang_on

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        import asyncio

        result = await super().handle_DATA(server, session, envelope)
        if self.hang_on and len(self.received) == self.hang_on:
            await asyncio.sleep(5)
        return result


class MeddlingRecorder(Recorder):
    """Lets the bookkeeper save the workbook while the run is emailing."""

    def __init__(self, workbook: Path, on: int) -> None:
        super().__init__()
        self.workbook, self.on = workbook, on

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        result = await super().handle_DATA(server, session, envelope)
        if len(self.received) == self.on:
            stat = self.workbook.stat()
            os.utime(self.workbook, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
        return result


def test_workbook_changed_mid_run_keeps_updates_for_next_run(tmp_path: Path) -> None:
    recorder = MeddlingRecorder(tmp_path / "service_log.xlsx", on=2)
    with running_server(recorder) as port:
        folder = Folder(tmp_path, recorder, port)
        folder.write_config()
        make_log(folder)
        before = folder.workbook.read_bytes()
        code, out = finish(run_child(folder))
        assert code == 1, out
        assert "not updated" in out and "next run" in out
        assert folder.workbook.read_bytes() == before  # not overwritten
        assert len(folder.received) == len(CLIENTS)
        owed = ledger_rows(folder, "SELECT COUNT(*) FROM owed_updates")[0][0]
        assert owed > 0
        recorder.on = 0
        code, out = finish(run_child(folder))
        assert code == 0, out
        assert "left over from an earlier run" in out
        assert len(folder.received) == len(CLIENTS)
        assert_invariants(folder)


def test_owner_file_appearing_mid_run(tmp_path: Path) -> None:
    class OpensExcel(Recorder):
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            result = await super().handle_DATA(server, session, envelope)
            (tmp_path / "~$service_log.xlsx").write_text("someone")
            return result

    recorder = OpensExcel()
    with running_server(recorder) as port:
        folder = Folder(tmp_path, recorder, port)
        folder.write_config()
        make_log(folder)
        code, out = finish(run_child(folder))
        assert code == 1 and "open in another program" in out, out
        (tmp_path / "~$service_log.xlsx").unlink()
        code, out = finish(run_child(folder))
        assert code == 0, out
        assert_invariants(folder)


def test_second_run_at_once_exits_3(folder: Folder) -> None:
    make_log(folder)
    before = folder.workbook.read_bytes()
    (folder.root / ".billing").mkdir()
    with filelock.FileLock(str(folder.root / ".billing" / "run.lock")):
        code, out = finish(run_child(folder))
    assert code == 3, out
    assert "another billing run" in out
    assert folder.workbook.read_bytes() == before and folder.received == []


def test_two_runs_started_together(tmp_path: Path) -> None:
    recorder = GatedRecorder()
    with running_server(recorder) as port:
        folder = Folder(tmp_path, recorder, port)
        folder.write_config()
        make_log(folder)
        first = run_child(folder)
        assert recorder.waiting.wait(60), "the first run never reached the mail server"
        # The first run holds the lock, mid-send, until the second has finished.
        second = run_child(folder)
        code2, out2 = finish(second)
        recorder.gate.set()
        code1, out1 = finish(first)
    assert (code1, code2) == (0, 3), (out1, out2)
    assert_invariants(folder)


class GatedRecorder(Recorder):
    """Holds the first message at DATA until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()
        self.gate = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        import asyncio

        self.waiting.set()
        while not self.gate.is_set():
            await asyncio.sleep(0.02)
        return await super().handle_DATA(server, session, envelope)


def test_restoring_last_weeks_copy_bills_nothing_twice(folder: Folder) -> None:
    make_log(folder)
    copy = folder.root / "copy.xlsx"
    shutil.copy2(folder.workbook, copy)
    assert finish(run_child(folder))[0] == 0
    shutil.copy2(copy, folder.workbook)  # the bookkeeper restores an older copy
    code, out = finish(run_child(folder))
    assert code == 0, out
    assert "had no Invoice No in the workbook" in " ".join(out.split())
    assert len(folder.received) == len(CLIENTS)
    assert_invariants(folder)


def test_a_line_edited_in_a_restored_copy_is_told_not_billed_again(folder: Folder) -> None:
    """The copy put back lost the Invoice Nos; a quantity corrected in it before the next
    run changes what the line says. It was billed: told (Rebill or undo), never billed on a
    second invoice; Rebill then bills it as it stands."""
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    make_log(folder)
    copy = folder.root / "copy.xlsx"
    shutil.copy2(folder.workbook, copy)
    assert folder.run("--as-of", AS_OF) == 0
    shutil.copy2(copy, folder.workbook)  # the bookkeeper restores an older copy...
    fix = [CellUpdate("Services", 2, "Quantity", 3), CellUpdate("Services", 2, "Amount", 300)]
    apply_updates(folder.workbook, fix, header_rows={"Services": 1})  # ...and corrects a line
    sent = len(folder.received)
    assert folder.run("--as-of", AS_OF) == 1
    assert len(folder.received) == sent  # nothing billed or sent again
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    first = services.iloc[0]
    assert (first["Invoice No"], first["Status"]) == ("INV-2026-0001", "Error")
    assert str(first["Error"]).startswith(
        "Quantity from 1 to 3 and Amount from 100 to 300 changed after the row was billed on "
        "INV-2026-0001; type Rebill"
    )
    numbers = [f"INV-2026-{1 + k // 2:04d}" for k in range(1, 2 * len(CLIENTS))]
    assert list(services["Invoice No"][1:]) == numbers
    apply_updates(folder.workbook, [CellUpdate("Invoices", 2, "Status", "Rebill")],
                  header_rows={"Invoices": 1})  # fmt: skip
    assert folder.run("--as-of", AS_OF) == 0
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    new = f"INV-2026-{len(CLIENTS) + 1:04d}"
    assert list(services["Invoice No"][:2]) == [new, new]  # both of its rows, as they stand
    invoices = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    assert invoices.set_index("Invoice No").loc[new, "Total"] == 300 + 101


def restore_oldest_backup(folder: Folder) -> None:
    """The bookkeeper copies the oldest workbook backup over the workbook: the log as it
    was before the first run wrote anything back (no Invoice Nos, no Invoices rows)."""
    backups = sorted((folder.root / ".billing" / "backups").glob("service_log-*.xlsx"))
    shutil.copy2(backups[0], folder.workbook)


@pytest.mark.parametrize("second_line", [False, True])
def test_a_line_rebilled_since_the_restored_copy_gets_its_new_invoice_back(
    folder: Folder, capsys: pytest.CaptureFixture[str], second_line: bool
) -> None:
    """Birch's line was corrected and rebilled (INV-2026-0001 void, replaced by
    INV-2026-0003). The oldest backup put back has the line as first billed, without an
    Invoice No: it is the line INV-2026-0003 bills, so it gets that number back, with the
    edited row's Error naming how it differs; nothing is billed or sent again, and no
    invoice is told as having lost a line. Undoing the edit puts all in step."""
    birch = [service(date(2026, 3, 3), "Birch", "B1 setup", 1, 250)]
    if second_line:
        birch.append(service(date(2026, 3, 4), "Birch", "B2 support", 1, 100))
    write_workbook(folder.workbook, [client("Birch"), client("Cedar")],
                   [*birch, service(date(2026, 3, 3), "Cedar", "C1 audit", 1, 100)])  # fmt: skip
    assert folder.run("--as-of", AS_OF) == 0  # INV-2026-0001 Birch, INV-2026-0002 Cedar
    folder.type_in("Services", 2, Quantity=2, Amount=500)
    folder.type_in("Invoices", 2, Status="Rebill")
    assert folder.run("--as-of", "2026-03-10") == 0  # CN-2026-0001, INV-2026-0003
    sent = len(folder.received)
    restore_oldest_backup(folder)
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-11") == 1
    said = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert len(folder.received) == sent  # nothing billed or sent again
    numbers = [n for (n,) in ledger_rows(folder, "SELECT invoice_no FROM invoices")]
    assert sorted(numbers) == ["INV-2026-0001", "INV-2026-0002", "INV-2026-0003"]
    assert "no Services row holds" not in said, said
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    birch_rows = len(birch)
    assert list(services["Invoice No"]) == ["INV-2026-0003"] * birch_rows + ["INV-2026-0002"]
    assert list(services["Status"]) == ["Error"] + ["Invoiced"] * birch_rows
    assert str(services["Error"][0]).startswith(
        "Quantity from 2 to 1 and Amount from 500 to 250 changed after the row was billed on "
        "INV-2026-0003; type Rebill"
    )
    folder.type_in("Services", 2, Quantity=2, Amount=500)  # the edit undone
    assert folder.run("--as-of", "2026-03-12") == 0
    assert len(folder.received) == sent
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    assert list(services["Invoice No"]) == ["INV-2026-0003"] * birch_rows + ["INV-2026-0002"]
    assert set(services["Status"]) == {"Invoiced"}
    assert [d.date() for d in services["Due Date"][:birch_rows]] == [date(2026, 4, 9)] * birch_rows


@pytest.mark.parametrize("rebilled", [False, True])
def test_a_line_of_a_void_invoice_in_the_restored_copy_stays_billed_on_it(
    folder: Folder, rebilled: bool
) -> None:
    """Void is final: the line of a void invoice (voided by a Void, or rebilled and its new
    invoice then voided), put back without its Invoice No by restoring the oldest backup,
    gets the void invoice's number back; it is never billed a second time."""
    write_workbook(folder.workbook, [client("Birch")],
                   [service(date(2026, 3, 3), "Birch", "B1 setup", 1, 250)])  # fmt: skip
    assert folder.run("--as-of", AS_OF) == 0  # INV-2026-0001
    void = "INV-2026-0001"
    if rebilled:
        folder.type_in("Services", 2, Quantity=2, Amount=500)
        folder.type_in("Invoices", 2, Status="Rebill")
        assert folder.run("--as-of", "2026-03-10") == 0  # INV-2026-0002
        void = "INV-2026-0002"
    folder.type_in("Invoices", folder.row_of("Invoices", "Invoice No", void), Status="Void")
    assert folder.run("--as-of", "2026-03-11") == 0
    sent = len(folder.received)
    restore_oldest_backup(folder)
    assert folder.run("--as-of", "2026-03-12") == 0
    assert len(folder.received) == sent
    numbers = [n for (n,) in ledger_rows(folder, "SELECT invoice_no FROM invoices")]
    assert sorted(numbers) == ["INV-2026-0001", "INV-2026-0002"][: 1 + rebilled]
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    assert list(services["Invoice No"]) == [void]


@pytest.mark.parametrize("credited_first", [False, True])
def test_a_void_row_restored_from_before_its_credit_note_gets_it_written_back(
    folder: Folder, credited_first: bool
) -> None:
    """Void typed on INV-2026-0001 ($250; Credit Amount 100 credited before, or none): the
    run issued CN-2026-000n and raised Credit Amount to the Total. The newest backup, taken
    before that write-back, is put back: the row says Void with the lower Credit Amount the
    bookkeeper typed. The next run writes back what the ledger knows (credits, Credit Notes,
    Balance, the Note of the credit note), numbers and sends nothing; a rerun writes nothing."""
    write_workbook(folder.workbook, [client("Birch")],
                   [service(date(2026, 3, 3), "Birch", "B1 setup", 1, 250)])  # fmt: skip
    assert folder.run("--as-of", AS_OF) == 0  # INV-2026-0001
    notes = []
    if credited_first:
        folder.type_in("Invoices", 2, **{"Credit Amount": 100})
        assert folder.run("--as-of", "2026-03-10") == 0  # CN-2026-0001 for 100
        notes.append("CN-2026-0001")
    folder.type_in("Invoices", 2, Status="Void")
    assert folder.run("--as-of", "2026-03-11") == 0
    notes.append(f"CN-2026-{len(notes) + 1:04d}")
    sent = len(folder.received)
    backups = sorted((folder.root / ".billing" / "backups").glob("service_log-*.xlsx"))
    shutil.copy2(backups[-1], folder.workbook)  # the row as the bookkeeper left it: Void typed

    def row() -> dict[str, object]:
        sheet = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
        return sheet.set_index("Invoice No").loc["INV-2026-0001"].to_dict()

    typed = row()
    assert typed["Status"] == "Void"
    assert typed["Balance"] == 250 - 100 * credited_first  # as before the Void run wrote
    for day in ("2026-03-11", "2026-03-18"):
        assert folder.run("--as-of", day) == 0
        assert len(folder.received) == sent  # nothing sent again
        cells = row()
        assert (cells["Status"], cells["Credit Amount"], cells["Credit Notes"]) == (
            "Void", 250, "; ".join(notes)
        )
        assert cells["Balance"] == 0
        assert str(cells["Note"]).startswith(f"Void: credit note {notes[-1]} for $")
    credit_notes = ledger_rows(folder, "SELECT credit_note_no FROM credit_notes ORDER BY 1")
    assert [n for (n,) in credit_notes] == notes  # none numbered again
    written = folder.workbook.read_bytes()
    assert folder.run("--as-of", "2026-03-18") == 0  # a rerun: the row is as the ledger has it
    assert folder.workbook.read_bytes() == written


def test_a_line_of_a_void_invoice_edited_in_the_restored_copy_is_not_billed_again(
    folder: Folder,
) -> None:
    """INV-2026-0001 (two lines) was voided; the oldest backup is put back and a quantity
    corrected in it: the line was billed, on the void invoice, and stays billed there."""
    make_log(folder)
    assert folder.run("--as-of", AS_OF) == 0
    folder.type_in("Invoices", 2, Status="Void")
    assert folder.run("--as-of", "2026-03-10") == 0
    sent = len(folder.received)
    restore_oldest_backup(folder)
    folder.type_in("Services", 2, Quantity=3, Amount=300)
    assert folder.run("--as-of", "2026-03-11") == 0
    assert len(folder.received) == sent
    numbers = [n for (n,) in ledger_rows(folder, "SELECT invoice_no FROM invoices")]
    assert len(numbers) == len(CLIENTS)
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    assert list(services["Invoice No"][:2]) == ["INV-2026-0001"] * 2


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({}, {"Amount": 100}),
        ({"Amount": None}, {"Quantity": 1, "Unit Price": 100}),  # no Amount: Qty x Price
    ],
)
def test_identical_lines_on_one_day_are_both_billed(
    folder: Folder, first: dict, second: dict
) -> None:
    write_workbook(
        folder.workbook,
        [client("Twin")],
        [service(date(2026, 3, 2), "Twin", "Consultation", 1, 100, **first)],
    )
    assert folder.run("--as-of", AS_OF) == 0
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    typed = {"Date": date(2026, 3, 2), "Client": "Twin", "Description": "Consultation", **second}
    apply_updates(
        folder.workbook,
        [CellUpdate("Services", 3, k, v) for k, v in typed.items()],
        header_rows={"Services": 1},
    )
    assert folder.run("--as-of", "2026-03-10") == 0
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    assert services["Invoice No"].tolist() == ["INV-2026-0001", "INV-2026-0002"]
    assert len(folder.received) == 2
    assert len(folder.received) == 2


def test_reissue_due_date_reaches_services_after_a_lost_write_back(folder: Folder) -> None:
    folder.write_config(extra="[reissue]\nevery_days = 7\ndue_in_days = 7")
    write_workbook(
        folder.workbook,
        [client("Late", Terms="Net 7")],
        [service(date(2026, 3, 2), "Late", "Work", 1, 100)],
    )
    assert finish(run_child(folder))[0] == 0  # as of 9 March: due 16 March
    assert finish(run_child(folder, "before-writeback", as_of="2026-03-23"))[0] == -signal.SIGKILL
    code, out = finish(run_child(folder, as_of="2026-03-23"))
    assert code == 0, out
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    sheet = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    assert sheet["Due Date"][0].date() == date(2026, 3, 30)
    assert services["Due Date"][0].date() == date(2026, 3, 30)
    assert len(folder.received) == 2


def test_a_reissue_resent_after_a_kill_keeps_its_new_due_date(folder: Folder) -> None:
    folder.write_config(extra="[reissue]\nevery_days = 7\ndue_in_days = 7")
    write_workbook(
        folder.workbook,
        [client("Late", Terms="Net 7")],
        [service(date(2026, 3, 2), "Late", "Work", 1, 100)],
    )
    assert finish(run_child(folder))[0] == 0  # as of 9 March: due 16 March
    # Killed once the server had the reminder, before its answer was recorded.
    assert finish(run_child(folder, "after-send", as_of="2026-03-23"))[0] == -signal.SIGKILL
    code, out = finish(run_child(folder, as_of="2026-03-23"))  # sent again, identical
    assert code == 0, out
    sheet = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    assert sheet["Due Date"][0].date() == date(2026, 3, 30)  # as the reminder says
    assert "new due date 2026-03-30" in sheet["Note"][0]
    assert len(folder.received) == 3 and folder.received[1].data == folder.received[2].data
    code, out = finish(run_child(folder, as_of="2026-03-27"))  # not overdue: nothing goes
    assert code == 0 and len(folder.received) == 3


# -- corrections: credit notes are numbered and recorded before anything is emailed --


@pytest.mark.parametrize("point", POINTS)
def test_kill_while_correcting_then_rerun(folder: Folder, point: str) -> None:
    from decimal import Decimal

    make_log(folder, CLIENTS[:4])
    assert folder.run("--as-of", AS_OF) == 0  # INV-2026-0001..0004, one per client
    # Client 01: void, part paid; 02: rebill after a quantity fix; 03: a credit; 04: a copy.
    folder.type_in(
        "Invoices", 2, Paid_Amount=Decimal("50"), Paid_Date=date(2026, 3, 10), Status="Void"
    )
    folder.type_in("Services", 4, Quantity=2, Amount=200)
    folder.type_in("Invoices", 3, Status="Rebill")
    folder.type_in("Invoices", 4, Credit_Amount=Decimal("25.50"))
    folder.type_in("Invoices", 5, Resend="Yes")
    before = len(folder.received)
    code, out = finish(run_child(folder, point, "--as-of", "2026-03-16"))
    assert code == -signal.SIGKILL, out
    code, out = finish(run_child(folder, None, "--as-of", "2026-03-16"))
    assert code == 0, out
    code, out = finish(run_child(folder, None, "--as-of", "2026-03-16"))
    assert code == 0 and "Nothing to send" in out, out

    # One credit note per correction, the series gapless; one replacement invoice.
    notes = ledger_rows(
        folder,
        "SELECT credit_note_no, invoice_no, amount, reason FROM credit_notes"
        " ORDER BY credit_note_no",
    )
    assert [n[0] for n in notes] == ["CN-2026-0001", "CN-2026-0002", "CN-2026-0003"]
    assert sorted((n[1], n[2], n[3]) for n in notes) == [
        ("INV-2026-0001", "201.00", "void"),
        ("INV-2026-0002", "201.00", "rebill"),
        ("INV-2026-0003", "25.50", "credit"),
    ]
    numbers = [n for (n,) in ledger_rows(folder, "SELECT invoice_no FROM invoices")]
    assert sorted(numbers) == [f"INV-2026-{i:04d}" for i in range(1, 6)]
    assert {s for (s,) in ledger_rows(folder, "SELECT state FROM messages")} == {"sent"}
    # Each message arrived; a repeat only as the identical bytes with the same Message-ID.
    later = folder.received[before:]
    by_id: dict[str, set[bytes]] = {}
    for got in later:
        by_id.setdefault(str(got.message["Message-ID"]), set()).add(got.data)
    assert all(len(copies) == 1 for copies in by_id.values())
    kinds = {str(m.message["Message-ID"]): str(m.message["X-Billing-Kind"]) for m in later}
    assert sorted(kinds.values()) == ["credit_note"] * 3 + ["invoice", "resend"]
    sheet = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    sheet = sheet.set_index("Invoice No")
    assert sheet.loc["INV-2026-0001", "Status"] == "Void"
    assert sheet.loc["INV-2026-0001", "Balance"] == -50
    assert sheet.loc["INV-2026-0002", "Status"] == "Void"
    assert "INV-2026-0005" in sheet.loc["INV-2026-0002", "Note"]
    assert sheet.loc["INV-2026-0003", "Balance"] == pytest.approx(175.5)
    assert pd.isna(sheet.loc["INV-2026-0004", "Resend"])
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    assert list(services["Invoice No"][2:4]) == ["INV-2026-0005"] * 2
    assert set(services["Status"]) == {"Invoiced"}


#: Enough clients for the render workers, so sending overlaps rendering.
MANY = [f"Client {i:02d}" for i in range(PARALLEL_THRESHOLD + 5)]


@pytest.mark.parametrize("point", ["after-send", "after-render"])
def test_kill_while_sending_overlaps_rendering_then_rerun(folder: Folder, point: str) -> None:
    make_log(folder, MANY)
    code, out = finish(run_child(folder, point))
    assert code == -signal.SIGKILL, out
    code, out = finish(run_child(folder))
    assert code == 0, out
    assert_invariants(folder, MANY)


def test_a_refused_cc_met_by_a_killed_run_is_reported_by_the_next(tmp_path: Path) -> None:
    """A run meets a refused To and a refused CC, records both and is killed before its
    summary: the next run, refused the CC again with the same reply, lists it under COPY
    REFUSED (exit 1); it was never said."""
    from test_delivery import REFUSING_TO_AND_CC, acme_to_and_cc

    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    recorder = Recorder(refuse=REFUSING_TO_AND_CC)
    with running_server(recorder) as port:
        folder = Folder(tmp_path, recorder, port)
        folder.write_config()
        acme_to_and_cc(folder)
        code, out = finish(run_child(folder, "before-writeback", as_of="2026-03-09"))
        assert code == -signal.SIGKILL, out
        fixed = CellUpdate("Clients", 2, "Email", "ann@acme.example; bob@acme.example")
        apply_updates(folder.workbook, [fixed], header_rows={})
        code, out = finish(run_child(folder, None, as_of="2026-03-16"))
    said = " ".join(out.replace("│", " ").split())
    assert code == 1 and "COPY REFUSED" in said and "boss@acme.exmaple" in said, said

"""The whole run against a real Postfix: refused copies, refused To, greylisting.

Postfix (installed by `.ci/run` from Debian) runs as a private instance on a
free loopback port and delivers into Maildirs; the tests count the copies
each mailbox holds. Without Postfix or root the tests skip, saying why.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from email import message_from_bytes
from pathlib import Path

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from postfix_server import Postfix, running_postfix, unavailable
from smtp_servers import Recorder

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(unavailable() is not None, reason=f"no Postfix: {unavailable()}"),
]

CLIENTS = ("Acme", "Beta", "Gamma")
#: Clients of the run over two connections (mailboxes of their own: copies are counted).
PAIRED = tuple(f"Pair{i}" for i in range(1, 7))
ARCHIVE = "archive@ledgerwise.example"
TYPO = "acounts@delta.example"


@pytest.fixture(scope="module")
def postfix() -> Iterator[Postfix]:
    mailboxes = {f"{n.lower()}@clients.example" for n in (*CLIENTS, *PAIRED, "Grey")}
    mailboxes |= {"ann@delta.example"}
    with running_postfix(mailboxes, refuse={ARCHIVE, TYPO}, greylist={}) as server:
        yield server


def folder_for(tmp_path: Path, postfix: Postfix, email: str = "") -> Folder:
    folder = Folder(tmp_path, Recorder(), postfix.port)
    folder.write_config(email=f'bcc = "{ARCHIVE}"\nretry_window = 3\nmax_retries = 4\n{email}')
    return folder


def statuses(folder: Folder) -> dict[str, str]:
    sheet = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    return dict(zip(sheet["Client"], sheet["Status"], strict=True))


def test_three_weekly_runs_with_a_refused_bcc_leave_one_copy_per_client(
    tmp_path: Path, postfix: Postfix
) -> None:
    folder = folder_for(tmp_path, postfix)
    write_workbook(
        folder.workbook,
        [client(n) for n in CLIENTS],
        [service(date(2026, 3, 2), n, "Bookkeeping", 1, 100) for n in CLIENTS],
    )
    codes = [folder.run("--as-of", week) for week in ("2026-03-09", "2026-03-16", "2026-03-23")]
    postfix.settle()
    assert codes == [1, 0, 0], postfix.log()
    for name in CLIENTS:
        assert postfix.copies(f"{name.lower()}@clients.example") == 1, name
    assert set(statuses(folder).values()) == {"Sent"}
    sheet = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    assert all(f"the bcc copy to {ARCHIVE}: 550 5.1.1" in note for note in sheet["Note"])


def test_greylisting_and_a_refused_to_address(tmp_path: Path, postfix: Postfix) -> None:
    postfix.greylist["grey@clients.example"] = 2
    folder = folder_for(tmp_path, postfix)
    write_workbook(
        folder.workbook,
        [client("Grey"), client("Delta", Email=f"ann@delta.example; {TYPO}")],
        [service(date(2026, 3, 2), n, "Bookkeeping", 1, 100) for n in ("Grey", "Delta")],
    )
    assert folder.run("--as-of", "2026-03-09") == 1
    postfix.settle()
    assert postfix.greylist["grey@clients.example"] == 0
    assert postfix.copies("grey@clients.example") == 1  # deferred twice, then delivered
    assert postfix.copies("ann@delta.example") == 1
    assert statuses(folder) == {"Grey": "Sent", "Delta": "Failed"}
    sheet = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    note = sheet.set_index("Client").loc["Delta", "Note"]
    assert f"not delivered to {TYPO}" in note and "550 5.1.1" in note
    assert "to those addresses alone (ann@delta.example already has it)" in note

    # The next run tries the refused address alone: Ann still holds one copy.
    assert folder.run("--as-of", "2026-03-16") == 1
    postfix.settle()
    assert postfix.copies("ann@delta.example") == 1
    (raw,) = postfix.mailbox("ann@delta.example")
    assert message_from_bytes(raw)["Message-ID"]


def test_two_connections_deliver_each_client_once_with_greylisting(
    tmp_path: Path, postfix: Postfix
) -> None:
    postfix.greylist["pair3@clients.example"] = 1
    folder = folder_for(tmp_path, postfix, "connections = 2")
    write_workbook(
        folder.workbook,
        [client(n) for n in PAIRED],
        [service(date(2026, 3, 2), n, "Bookkeeping", 1, 100) for n in PAIRED],
    )
    codes = [folder.run("--as-of", week) for week in ("2026-03-09", "2026-03-16")]
    postfix.settle()
    assert codes == [1, 0], postfix.log()  # 1: the archive copy is refused, as above
    assert postfix.greylist["pair3@clients.example"] == 0
    for name in PAIRED:
        assert postfix.copies(f"{name.lower()}@clients.example") == 1, name
    assert set(statuses(folder).values()) == {"Sent"}

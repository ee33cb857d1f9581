"""A firm adopting the tool mid-year: invoices made before it, in its own numbering.

Its Invoices sheet holds hand-made invoices the tool did not issue (`2026-1`,
`A/18`, and one in the tool's own format by chance). New invoices are never
numbered so that a bank reference naming one of the firm's would be read as
them ("Inv 2026-3" as INV-2026-0003), and a payment whose reference names a
hand-made invoice is never applied to another invoice by its amount: one the
bookkeeper already typed on that row is recognised, any other waits in Review
saying to record it on the row by hand.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from statements import CSV_CONFIG, Tx, csv_bank

from automation.bank.match import REVIEW
from automation.cli import main

D = Decimal
ACME, BETA = "Acme GmbH", "Beta BV"
BILLED = date(2026, 3, 2)


def hand_row(number: object, name: str, total: int, status: str | None = "Sent") -> dict:  # type: ignore[type-arg]
    return {"Invoice No": number, "Client": name, "Total": total, "Status": status}


def adopting_folder(folder: Folder, hand: list[dict], billed: list[tuple[str, int]]) -> None:  # type: ignore[type-arg]
    """Clients Acme and Beta (EUR), the hand-made invoices `hand` on Services and
    Invoices, and new work to bill: (client, amount) each."""
    folder.write_config(extra='currency = "EUR"\n' + CSV_CONFIG)
    services = [service(date(2026, 1, 15), row["Client"], "Before the tool", 1, row["Total"],
                        **{"Invoice No": row["Invoice No"]}) for row in hand]  # fmt: skip
    services += [service(BILLED, name, "Bookkeeping", 1, amount) for name, amount in billed]
    write_workbook(folder.workbook, [client(ACME, Currency="EUR"), client(BETA, Currency="EUR")],
                   services, invoices=hand)  # fmt: skip


def invoices(folder: Folder) -> pd.DataFrame:
    frame = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    return frame.set_index(frame["Invoice No"].astype(str))


def payments_sheet(folder: Folder) -> pd.DataFrame:
    frame = pd.read_excel(folder.workbook, sheet_name="Payments", engine="calamine")
    return frame.set_index("Bank Ref")


def test_new_numbers_skip_those_a_reference_to_the_firms_own_would_be_read_as(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """The firm numbered 2026-1, 2026/2, 2026-3: "Inv 2026-3" would read as INV-2026-0003,
    so the tool starts at INV-2026-0004; Acme paying its old 2026-3 so is not credited to
    another client's invoice."""
    hand = [hand_row("2026-1", ACME, 200, "Paid"), hand_row("2026/2", BETA, 300, "Paid"),
            hand_row("2026-3", ACME, 500)]  # fmt: skip
    adopting_folder(folder, hand, [(ACME, 700), (BETA, 500)])
    assert main(["--workbook", str(folder.workbook), "--dry-run", "--as-of", "2026-03-02"]) == 0
    assert "INV-2026-0004" in capsys.readouterr().out
    assert folder.run("--as-of", "2026-03-02") == 0
    issued = [n for n in invoices(folder).index if n.startswith("INV-")]
    assert issued == ["INV-2026-0004", "INV-2026-0005"]

    inbox = folder.root / "statements"
    inbox.mkdir()
    (inbox / "march.csv").write_bytes(csv_bank([
        Tx(date(2026, 3, 6), D("500.00"), "ACME GMBH", purpose="Inv 2026-3 March bookkeeping",
           ref="TX41"),
    ]))  # fmt: skip
    sent = len(folder.received)
    assert folder.run("--as-of", "2026-03-09") == 0  # the line waits in Payments
    line = payments_sheet(folder).loc["TX41"]
    assert line["Status"] == REVIEW
    assert invoices(folder)["Paid Amount"].isna().loc[["INV-2026-0004", "INV-2026-0005"]].all()
    assert len(folder.received) == sent  # no note to anyone about money not applied

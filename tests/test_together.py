"""Features used together, the way a bookkeeper's week goes: bank import, corrections,
follow-ups and partial runs in one folder, through the command line."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from statements import Tx, camt053

from automation.cli import main
from automation.model import CellUpdate
from automation.writeback import apply_updates

D = Decimal
NOV30 = date(2026, 11, 30)


def invoices(folder: Folder) -> pd.DataFrame:
    frame = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    return frame.set_index("Invoice No")


def type_paid(folder: Folder, number: str, amount: str, day: date) -> None:
    row = int(list(invoices(folder).index).index(number)) + 2
    apply_updates(
        folder.workbook,
        [CellUpdate("Invoices", row, "Paid Amount", D(amount)),
         CellUpdate("Invoices", row, "Paid Date", day)],
        header_rows={"Invoices": 1},
    )  # fmt: skip


def subjects_to(folder: Folder, address: str) -> list[str]:
    return [str(r.message["Subject"]) for r in folder.received if address in r.rcpt_tos]


@pytest.mark.parametrize("between", ["payments", "only"])
def test_a_typed_payment_is_thanked_after_a_payments_import_or_an_only_run(
    folder: Folder, between: str
) -> None:
    """`payments` and `run --only` send no follow-ups for other invoices; they must not
    set those invoices aside as settled, or the thank-you is never sent."""
    write_workbook(
        folder.workbook,
        [client("Acme"), client("Blue", Terms="2/10 Net 30")],
        [service(date(2026, 11, 2), "Acme", "Audit"), service(date(2026, 11, 5), "Blue", "Pay")],
    )
    assert folder.run("--as-of", NOV30.isoformat()) == 0
    type_paid(folder, "INV-2026-0002", "98.00", date(2026, 12, 5))  # discount earned
    if between == "payments":
        statement = folder.root / "other.xml"
        statement.write_bytes(camt053([Tx(date(2026, 12, 6), D("1.00"), "Stranger",
                                          purpose="gift", ref="S-1")], currency="USD"))
        main(["payments", "--workbook", str(folder.workbook), "--as-of", "2026-12-07",
              str(statement)])  # fmt: skip
    else:
        assert folder.run("--as-of", "2026-12-07", "--only", "Acme") == 0
    assert not any("thank" in s.lower() for s in subjects_to(folder, "blue@clients.example"))

    assert folder.run("--as-of", "2026-12-07") == 0
    thanks = [s for s in subjects_to(folder, "blue@clients.example") if "thank" in s.lower()]
    assert len(thanks) == 1, subjects_to(folder, "blue@clients.example")
    assert invoices(folder).loc["INV-2026-0002", "Status"] == "Paid"

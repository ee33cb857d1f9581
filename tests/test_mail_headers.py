"""The header lines of whole runs' messages as a real server (aiosmtpd on loopback) receives
them: every line within RFC 5322's 998 octets and folded at 78, every RFC 2047 word within
75 characters, From and Reply-To a readable name and an address in clear; a CC address a
server without SMTPUTF8 cannot take is a refused copy, not a failed invoice; an unusable
`reply_to` stops the run before anything is numbered.
"""

from __future__ import annotations

import re
from datetime import date
from email import message_from_bytes
from email.errors import NonASCIILocalPartDefect, UndecodableBytesDefect
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from smtp_servers import Received, Recorder, running_server

from automation.cli import main

pytestmark = pytest.mark.timeout(90)

AS_OF = "2026-03-09"
ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
#: 20 CC addresses: a Cc header of some 1,150 characters on one line.
MANY_CC = [f"accounts.payable.department{i:02d}@subsidiary-company.example" for i in range(20)]
LONG_NAME = "Бухгалтерская фирма «Ледгервайз и партнёры», общество с ограниченной ответственностью "


def folder_with(tmp_path: Path, recorder: Recorder, port: int, email: str = "") -> Folder:
    folder = Folder(tmp_path, recorder, port)
    folder.write_config(email=f"retry_window = 0\n{email}")
    return folder


def one_client(folder: Folder, name: str = "Acme", **values: object) -> None:
    write_workbook(folder.workbook, [client(name, **values)],
                   [service(date(2026, 3, 2), name, "Bookkeeping", 1, 100)])  # fmt: skip


def check(folder: Folder) -> int:
    return main(["check", "--workbook", str(folder.workbook)])


def invoice_row(folder: Folder) -> pd.Series:
    sheet = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    return sheet.iloc[0]


def well_formed(received: Received) -> EmailMessage:
    """The message, once its header lines are found within RFC 5322 and RFC 2047."""
    head = received.data.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        assert len(line.decode("utf-8")) <= 78, line  # folded at 78 characters
    for line in received.data.split(b"\r\n"):
        assert len(line) <= 998
    for word in ENCODED_WORD.findall(received.data):
        assert len(word) <= 75, word
    # Raw UTF-8 (RFC 6532, for a server that offers SMTPUTF8) is all the parser may flag.
    utf8 = () if head.isascii() else (NonASCIILocalPartDefect, UndecodableBytesDefect)
    message = received.message
    for name, value in message.items():
        flagged = [d for d in getattr(value, "defects", ()) if not isinstance(d, utf8)]
        assert not flagged, (name, flagged)
    return message


def shown_name(received: Received, header: str) -> str:
    """The display name in a From or Reply-To as an RFC 2047 reader shows it (Python's
    `email.policy` keeps the space between two encoded words of a display name, which
    RFC 2047 drops and mail programs drop)."""
    written = message_from_bytes(received.data)[header]  # compat32: the value as written
    return str(make_header(decode_header(written))).rpartition(" <")[0]


# -- a CC the server cannot take ----------------------------------------------------------


def test_a_cc_a_server_without_smtputf8_cannot_take_is_a_refused_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The invoice goes to its To and its ASCII CC, written in ASCII; the CC with letters
    beyond ASCII before the @ is reported as a refused copy, and no later run sends again."""
    plain = Recorder()
    with running_server(plain, enable_SMTPUTF8=False) as port:
        folder = folder_with(tmp_path, plain, port)
        one_client(folder, Email="ivan@pochta.example", CC="иван@почта.example; boss@acme.example")
        assert folder.run("--as-of", AS_OF) == 1
        out = " ".join(capsys.readouterr().out.replace("│", " ").split())
        assert folder.run("--as-of", "2026-03-16") == 0
    (got,) = plain.received
    assert got.rcpt_tos == ["ivan@pochta.example", "boss@acme.example"]
    assert got.data.isascii()
    message = well_formed(got)
    assert str(message["To"]) == "ivan@pochta.example"
    assert str(message["Cc"]) == "boss@acme.example"
    row = invoice_row(folder)
    assert row["Status"] == "Sent"
    assert row["Note"].startswith(
        "Emailed to ivan@pochta.example, cc boss@acme.example on 2026-03-09. Not delivered to "
        "cc иван@xn--80a1acny.example: the address иван@xn--80a1acny.example has letters other "
        "than ASCII before the @, and the mail server 127.0.0.1 does not accept such addresses "
        "(it does not offer SMTPUTF8)"
    )
    assert "COPY REFUSED" in out and "$100.00" in out
    assert "иван@" not in " ".join(plain.rcpt_commands)  # never named to the server


def test_a_to_address_a_server_without_smtputf8_cannot_take_still_fails_the_invoice(
    tmp_path: Path,
) -> None:
    plain = Recorder()
    with running_server(plain, enable_SMTPUTF8=False) as port:
        folder = folder_with(tmp_path, plain, port)
        one_client(folder, Email="иван@почта.example", CC="boss@acme.example")
        assert folder.run("--as-of", AS_OF) == 1
    assert plain.received == []
    row = invoice_row(folder)
    assert row["Status"] == "Failed" and "does not offer SMTPUTF8" in row["Note"]


def test_a_statement_to_a_cc_a_server_without_smtputf8_cannot_take_reaches_its_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The monthly statement was built with that CC in its Cc header, in raw UTF-8, for a
    server that cannot take it; now it is built as the invoice is: in ASCII for the To,
    the CC reported as a refused copy."""
    plain = Recorder()
    with running_server(plain, enable_SMTPUTF8=False) as port:
        folder = folder_with(tmp_path, plain, port)
        folder.write_config(extra="[statements]\nday = 1", email="retry_window = 0")
        write_workbook(
            folder.workbook,
            [client("Ames", CC="иван@почта.example")],
            [service(date(2026, 9, 28), "Ames", "Monthly bookkeeping", 1, 1000)],
        )
        assert folder.run("--as-of", "2026-10-01") == 1  # the invoice; the CC refused
        capsys.readouterr()
        assert folder.run("--as-of", "2026-11-01") == 1  # the statement; the same
        out = " ".join(capsys.readouterr().out.replace("│", " ").split())
    (got,) = [r for r in plain.received if r.message["X-Billing-Kind"] == "statement"]
    assert got.rcpt_tos == ["ames@clients.example"]
    assert got.data.isascii()
    message = well_formed(got)
    assert str(message["To"]) == "ames@clients.example" and message["Cc"] is None
    # the statement's row (no invoice number), besides the reissued invoice's
    assert "COPY REFUSED Ames $1,000.00 Not delivered to cc иван@xn--80a1acny." in out
    assert "иван@" not in " ".join(plain.rcpt_commands)


# -- Reply-To -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply_to", "name", "address"),
    [('"Büro Müller, Buchhaltung" <acc@ledgerwise.example>', "Büro Müller, Buchhaltung",
      "acc@ledgerwise.example"),
     ("acc@пример.example", "", "acc@xn--e1afmkfd.example"),
     (f'"{(LONG_NAME * 3).strip()}" <acc@ledgerwise.example>', (LONG_NAME * 3).strip(),
      "acc@ledgerwise.example")],
)  # fmt: skip
def test_reply_to_is_a_name_and_an_address_as_from_is(
    tmp_path: Path, reply_to: str, name: str, address: str
) -> None:
    recorder = Recorder()
    with running_server(recorder) as port:
        folder = folder_with(tmp_path, recorder, port, f"reply_to = '{reply_to}'")
        one_client(folder)
        assert check(folder) == 0
        assert folder.run("--as-of", AS_OF) == 0
    (got,) = recorder.received
    message = well_formed(got)
    (mailbox,) = message["Reply-To"].addresses
    assert mailbox.addr_spec == address
    assert shown_name(got, "Reply-To") == name


def test_an_unusable_reply_to_stops_check_and_the_run_before_anything_is_numbered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder()
    with running_server(recorder) as port:
        folder = folder_with(tmp_path, recorder, port, "reply_to = 'accounts at ledgerwise'")
        one_client(folder)
        assert check(folder) == 2
        assert folder.run("--as-of", AS_OF) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "[email] reply_to has an invalid address: 'accounts at ledgerwise'." in out
    assert "billing.toml, line " in out
    assert recorder.received == []
    assert not (tmp_path / ".billing" / "ledger.sqlite").exists()  # nothing numbered


def test_a_reply_to_with_letters_beyond_ascii_before_the_at_is_refused_up_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Written in an ASCII message it would hide in an encoded word: replies would go
    nowhere. Told by `check` and the run, before anything is numbered."""
    recorder = Recorder()
    reply_to = "reply_to = '\"Бухгалтерия\" <бухгалтерия@пример.рф>'"
    with running_server(recorder) as port:
        folder = folder_with(tmp_path, recorder, port, reply_to)
        one_client(folder)
        assert check(folder) == 2
        assert folder.run("--as-of", AS_OF) == 2
    out = " ".join(capsys.readouterr().out.split())
    told = "reply_to бухгалтерия@xn--e1afmkfd.xn--p1ai has letters other than ASCII before"
    assert told in out
    assert recorder.received == []
    assert not (tmp_path / ".billing" / "ledger.sqlite").exists()


# -- folding ----------------------------------------------------------------------------------


def test_a_message_with_raw_utf8_headers_is_folded_too(tmp_path: Path) -> None:
    """A To with letters beyond ASCII before the @ makes the message SMTPUTF8: its 20-address
    Cc is folded as an ASCII message's is, not one line the server refuses as too long."""
    recorder = Recorder()
    with running_server(recorder, enable_SMTPUTF8=True) as port:
        folder = folder_with(tmp_path, recorder, port, 'from_name = "Ледгервайз и партнёры"')
        one_client(folder, "Иван", Email="иван@почта.example", CC="; ".join(MANY_CC))
        assert folder.run("--as-of", AS_OF) == 0
    (got,) = recorder.received
    message = well_formed(got)
    assert [a.addr_spec for a in message["Cc"].addresses] == MANY_CC
    assert str(message["To"]) == "иван@xn--80a1acny.example"
    assert shown_name(got, "From") == "Ледгервайз и партнёры"
    assert invoice_row(folder)["Status"] == "Sent"


@pytest.mark.parametrize("name", ["ТОО «Бухгалтерская компания Ледгервайз и партнёры»",
                                  (LONG_NAME * 5).strip()])  # fmt: skip
def test_a_sender_name_beyond_ascii_is_cut_into_short_encoded_words(
    tmp_path: Path, name: str
) -> None:
    """One RFC 2047 word for the whole name ran over 75 characters, and for a long name over
    the 998 octets of a line: the server refused the message at every run."""
    recorder = Recorder()
    with running_server(recorder) as port:
        folder = folder_with(tmp_path, recorder, port, f'from_name = "{name}"')
        one_client(folder)
        assert folder.run("--as-of", AS_OF) == 0
    (got,) = recorder.received
    message = well_formed(got)
    assert message["From"].addresses[0].addr_spec == "billing@ledgerwise.example"
    assert shown_name(got, "From") == name

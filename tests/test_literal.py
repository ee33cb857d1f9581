"""Cell text reaches the terminal and the run log literally: no markup, no forged lines."""

from __future__ import annotations

import logging
import re
from datetime import date
from pathlib import Path

import pandas as pd
from conftest import client, service, write_workbook

from automation.cli import main
from automation.runlog import LogFormatter
from automation.text import one_line

NAMES = [
    "Bad [/x] Client",
    "[bold red]X[/]",
    "[link=https://evil.example/pay]Pay here[/link]",
    "Acme\r\n2026-03-09 07:00:00,000 INFO all invoices paid",
]


def test_log_formatter_marks_every_later_line() -> None:
    record = logging.LogRecord("automation", logging.INFO, "", 0, "summary\n%s", ("a\r\nb",), None)
    text = LogFormatter("%(levelname)s %(message)s").format(record)
    assert text.splitlines() == ["INFO summary", "  | a", "  | b"]


def test_names_are_shown_literally_and_forge_no_log_line(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    (tmp_path / "billing.toml").write_text('[email]\nfrom = "billing@firm.example"\n')
    clients = [client(name, Email=f"c{i}@clients.example") for i, name in enumerate(NAMES)]
    services = [service(date(2026, 3, 2), name, "Work") for name in NAMES]
    services.append(service(date(2026, 3, 2), "[red]Nobody[/red]", "Work"))
    book = write_workbook(tmp_path / "log.xlsx", clients, services)
    code = main(
        ["--workbook", str(book), "--as-of", "2026-03-09", "--outbox", str(tmp_path / "out")]
    )
    out = capsys.readouterr().out
    assert code == 1, out  # the unknown client's row; every named client was billed
    assert len(list((tmp_path / "out").glob("*.eml"))) == len(NAMES)
    for name in NAMES:
        assert one_line(name) in out, name
    assert '"[red]Nobody[/red]" is not in Clients' in out
    assert "1 row needs attention:" in out
    assert "\x1b]8;" not in out  # no terminal hyperlink was made
    [log] = (tmp_path / ".billing" / "logs").glob("run-*.log")
    entry = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) |  \| ")
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines and all(entry.match(line) for line in lines), lines
    assert not any(line.startswith("2026-03-09 07:00:00,000") for line in lines)
    assert sum("all invoices paid" in line for line in lines) >= 1


def test_the_statement_command_shows_names_literally(tmp_path: Path, capsys) -> None:
    """`statement` printed the name raw: its ESC sequence ran in the terminal and its line
    break forged a statement line, as the run and `payments` never do."""
    name = "Evil\x1b[31m Ltd\r\n  Acme Ltd (USD), closing balance $0.00: forged"
    (tmp_path / "billing.toml").write_text('[email]\nfrom = "billing@firm.example"\n')
    book = write_workbook(
        tmp_path / "log.xlsx", [client(name)], [service(date(2026, 3, 2), name, "Work")]
    )
    out = tmp_path / "out"
    assert main(["--workbook", str(book), "--as-of", "2026-03-09", "--outbox", str(out)]) == 0
    capsys.readouterr()
    assert main(["statement", "--workbook", str(book), "--as-of", "2026-04-02"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "\x1b" not in "".join(lines) and "\r" not in "".join(lines)
    assert [line for line in lines if "closing balance" in line] == [
        line for line in lines if line.startswith(f"  {one_line(name)} (USD), closing balance")
    ]


def test_invisible_characters_in_cell_text_are_shown_by_their_code(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """A zero-width space, a BOM or a bidi control pasted into a name made the error name
    a client that looks exactly like one in Clients; letters of every script stay."""
    monkeypatch.setenv("COLUMNS", "250")
    (tmp_path / "billing.toml").write_text('[email]\nfrom = "billing@firm.example"\n')
    names = ["Acme\u200b Ltd", "\ufeffAcme Ltd", "Acme\u2066 Ltd\u2069", "Ac\u00adme Ltd"]
    kept = "Café 東京 Ёлка 👍 می\u200cخواهم"
    services = [service(date(2026, 3, 2), name, "Work") for name in [*names, kept]]
    book = write_workbook(
        tmp_path / "log.xlsx", [client("Acme Ltd"), client(kept, Email="k@clients.example")],
        services,
    )  # fmt: skip
    out = tmp_path / "out"
    assert main(["--workbook", str(book), "--as-of", "2026-03-09", "--outbox", str(out)]) == 1
    shown = capsys.readouterr().out
    [log] = (tmp_path / ".billing" / "logs").glob("run-*.log")
    logged = log.read_text(encoding="utf-8")
    cells = pd.read_excel(book, sheet_name="Services", engine="openpyxl")["Error"]
    for escaped in [r"Acme\u200b Ltd", r"\ufeffAcme Ltd", r"Acme\u2066 Ltd\u2069", r"Ac\xadme"]:
        assert f'"{escaped}' in shown and f'"{escaped}' in logged, escaped
        assert any(f'"{escaped}' in str(cell) for cell in cells), escaped
    assert kept in shown and len(list(out.glob("*.eml"))) == 1

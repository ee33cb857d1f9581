"""The commands a bookkeeper types: check, init, schedule, --demo, --help."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import xlsxwriter
from conftest import CLIENT_HEADERS, SERVICE_HEADERS, Folder, client, service, write_workbook

import automation.cli as cli
from automation.cli import main
from automation.config import Config
from automation.read import read_workbook
from automation.terms import ACCEPTED_FORMS
from automation.validate import validate_clients

REPO = Path(__file__).resolve().parent.parent


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def config_beside(folder: Path) -> None:
    (folder / "billing.toml").write_text('[email]\nfrom = "billing@firm.example"\n')


def test_check_clean_workbook_exits_0(tmp_path: Path, capsys) -> None:
    config_beside(tmp_path)
    book = write_workbook(
        tmp_path / "log.xlsx", [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")]
    )
    before = digest(book)
    assert main(["check", "--workbook", str(book)]) == 0
    assert "no problems found" in capsys.readouterr().out
    assert digest(book) == before and not (tmp_path / ".billing").exists()


def test_a_currency_is_judged_in_use_on_the_runs_date(tmp_path: Path, capsys) -> None:
    """The lev (BGN) was Bulgaria's money until the euro took over in January 2026: a run
    as of a day in 2025 (catching up, or a test) bills in it; one as of March names EUR."""
    config_beside(tmp_path)
    book = write_workbook(
        tmp_path / "log.xlsx",
        [client("Sofia Ltd", Currency="BGN")],
        [service(date(2025, 11, 28), "Sofia Ltd", "Work")],
    )
    assert main(["check", "--workbook", str(book), "--as-of", "2025-12-01"]) == 0
    capsys.readouterr()
    assert main(["check", "--workbook", str(book), "--as-of", "2026-03-02"]) == 1
    assert '"BGN" is not the code of a currency in use today; use EUR.' in capsys.readouterr().out


def test_check_lists_every_problem_and_changes_nothing(tmp_path: Path, capsys) -> None:
    config_beside(tmp_path)
    book = write_workbook(
        tmp_path / "log.xlsx",
        [client("Acme", Currency="XYZ"), client("Beta", Language="fr"),
         client("Cora", Currency="DEM"), client("Dina", Currency="USS")],
        [
            service(date(2026, 3, 2), "Acme", "Work"),
            service(date(2026, 3, 2), "Gamma", "Work"),
            service(date(2026, 3, 2), "Beta", ""),
        ],
    )
    before = digest(book)
    assert main(["check", "--workbook", str(book)]) == 1
    out = capsys.readouterr().out
    assert 'Clients row 2, Currency: "XYZ" is not an ISO currency code' in out
    assert 'Clients row 3, Language: "fr" is not supported' in out
    # withdrawn (the mark), or never money (a fund code): no invoice is made out in them
    dem = 'Clients row 4, Currency: "DEM" is not the code of a currency in use today; use EUR.'
    assert dem in out
    assert 'Clients row 5, Currency: "USS" is not the code of a currency in use today' in out
    assert 'Services row 3, Client: "Gamma" is not in Clients' in out
    assert "Services row 4, Description: the description is missing" in out
    assert digest(book) == before


def test_check_unusable_workbook_exits_2(tmp_path: Path, capsys) -> None:
    book = tmp_path / "log.xlsx"
    book.write_bytes(b"PK\x03\x04 broken zip")
    assert main(["check", "--workbook", str(book)]) == 2
    assert "Cannot run" in capsys.readouterr().out


def make_the_example_real(workbook: Path) -> None:
    """What the bookkeeper does first: the example client and its service become theirs."""
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    apply_updates(
        workbook,
        [CellUpdate("Clients", 2, "Client", "Acme"), CellUpdate("Services", 2, "Client", "Acme")],
        header_rows={"Clients": 1, "Services": 1},
    )


def test_init_makes_a_folder_where_a_dry_run_works(tmp_path: Path, capsys) -> None:
    target = tmp_path / "billing"
    assert main(["init", str(target)]) == 0
    assert (target / "service_log.xlsx").exists() and (target / "billing.toml").exists()
    assert (target / "templates" / "invoice.docx").exists()
    assert (target / "templates" / "email" / "en" / "invoice.txt").exists()
    capsys.readouterr()
    assert main(["--workbook", str(target / "service_log.xlsx"), "--dry-run"]) == 1
    assert "is the example client `init` made" in capsys.readouterr().out  # never billed
    make_the_example_real(target / "service_log.xlsx")
    assert main(["--workbook", str(target / "service_log.xlsx"), "--dry-run"]) == 0
    assert "Dry run" in capsys.readouterr().out
    assert list((target / "preview").rglob("*.docx"))
    assert main(["init", str(target)]) == 2  # never overwrites


def test_init_s_example_company_never_emails_a_client(tmp_path: Path, capsys) -> None:
    """Outbox mode tells of the example company; smtp mode stops (exit 2) before numbering."""
    target = tmp_path / "billing"
    assert main(["init", str(target)]) == 0
    make_the_example_real(target / "service_log.xlsx")
    book = ["--workbook", str(target / "service_log.xlsx")]
    capsys.readouterr()
    assert main([*book, "--dry-run"]) == 0
    assert 'still has the example company name "Your Company"' in capsys.readouterr().out
    config = target / "billing.toml"
    text = config.read_text()
    assert 'mode = "outbox"' in text
    config.write_text(text.replace('mode = "outbox"', 'mode = "smtp"', 1))
    for command in (["check", *book], [*book, "--dry-run"], book):
        assert main(command) == 2
        out = " ".join(capsys.readouterr().out.split())
        assert "still has the example company init wrote under [company]" in out
    services = pd.read_excel(target / "service_log.xlsx", sheet_name="Services",
                             engine="calamine")  # fmt: skip
    assert services["Invoice No"].isna().all()  # nothing numbered


def test_schedule_prints_entries_for_these_paths(tmp_path: Path, capsys) -> None:
    book = write_workbook(tmp_path / "my log.xlsx", [client("Acme")], [])
    assert main(["schedule", "--workbook", str(book)]) == 0
    out = capsys.readouterr().out
    cron = next(line for line in out.splitlines() if line.startswith("0 7 * * 1"))
    words = shlex.split(cron.split(" ", 5)[5])
    assert str(tmp_path) in words and sys.executable in words
    # The workbook named here is named to the scheduled run (it is not service_log.xlsx).
    assert words[words.index("run") + 1 :][:2] == ["--workbook", str(book)]
    assert f'"--workbook" "{book}"' in out  # systemd's ExecStart
    assert f'--workbook \\"{book}\\"' in out  # schtasks
    assert "Persistent=true" in out and "schtasks /Create" in out
    assert "no billing.toml was found, so the scheduled run would stop" in out
    # From the folder itself, with its billing.toml: the entries name nothing more.
    (tmp_path / "billing.toml").write_text('[billing]\nworkbook = "my log.xlsx"\n')
    assert main(["schedule", "--config", str(tmp_path / "billing.toml")]) == 0
    out = capsys.readouterr().out
    cron = next(line for line in out.splitlines() if line.startswith("0 7 * * 1"))
    assert shlex.split(cron.split(" ", 5)[5])[-6:-3] == [
        "run", "--config", str(tmp_path / "billing.toml")
    ]  # fmt: skip


def test_demo_runs_on_a_copy(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(cli, "DEMO_DIR", tmp_path / "demo")
    sample = REPO / "workbooks" / "service_log.xlsx"
    before = digest(sample)
    assert main(["--demo", "--as-of", "2026-11-23"]) == 1  # the sample has two bad rows
    out = capsys.readouterr().out
    assert "INV-2026-0001" in out and "Acme Dental Clinic" in out
    assert "Acme Dentall Clinic" in out  # the mistake is reported with its row
    assert digest(sample) == before
    demo = tmp_path / "demo"
    assert len(list((demo / "outbox").glob("*.eml"))) == 8
    assert len(list((demo / "invoices" / "2026").glob("*.docx"))) == 8
    services = pd.read_excel(
        demo / "service_log.xlsx", sheet_name="Services", header=3, engine="calamine"
    )
    assert (services["Status"] == "Invoiced").sum() == 18
    assert (demo / "reports" / "receivables-2026-11-23.xlsx").exists()
    assert f"{demo / 'outbox'} for the emails" in " ".join(out.split())
    elsewhere = tmp_path / "mine"
    assert main(["--demo", "--as-of", "2026-11-23", "--outbox", str(elsewhere)]) == 1
    assert f"{elsewhere} for the emails" in " ".join(capsys.readouterr().out.split())
    assert len(list(elsewhere.glob("*.eml"))) == 8


def test_help_and_bad_arguments() -> None:
    ok = subprocess.run(
        [sys.executable, str(REPO / "run_billing.py"), "--help"], capture_output=True, text=True
    )
    assert ok.returncode == 0 and "--as-of" in ok.stdout
    bad = subprocess.run(
        [sys.executable, str(REPO / "run_billing.py"), "--as-of", "soon"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "not a date like" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("argv", [["--config", "/nowhere/billing.toml"]])
def test_missing_config_exits_2(argv: list[str], capsys) -> None:
    assert main(argv) == 2
    assert "does not exist" in capsys.readouterr().out


def test_check_reports_a_missing_sender_address(tmp_path: Path, capsys) -> None:
    book = write_workbook(
        tmp_path / "log.xlsx", [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")]
    )
    (tmp_path / "billing.toml").write_text("[email]\nmode = 'outbox'\n")
    assert main(["check", "--workbook", str(book)]) == 2
    assert "no sender address" in capsys.readouterr().out


def test_the_folders_own_templates_are_used(tmp_path: Path) -> None:
    target = tmp_path / "billing"
    assert main(["init", str(target)]) == 0
    subject = target / "templates" / "email" / "en" / "invoice.subject"
    subject.write_text("Our bill {{ invoice_no }}")
    outbox = tmp_path / "out"
    workbook = target / "service_log.xlsx"
    make_the_example_real(workbook)
    assert main(["--workbook", str(workbook), "--outbox", str(outbox)]) == 0
    from email import message_from_bytes, policy

    [eml] = list(outbox.glob("*.eml"))
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert str(message["Subject"]).startswith("Our bill INV-")


def test_run_log_has_every_phase_of_the_run(tmp_path: Path) -> None:
    config_beside(tmp_path)
    book = write_workbook(
        tmp_path / "log.xlsx", [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")]
    )
    code = main(
        ["--workbook", str(book), "--as-of", "2026-03-09", "--outbox", str(tmp_path / "outbox")]
    )
    assert code == 0
    (log,) = (tmp_path / ".billing" / "logs").glob("run-*.log")
    (line,) = [ln for ln in log.read_text().splitlines() if " phases: " in ln]
    names = [part.rsplit(" ", 2)[0] for part in line.split(" phases: ")[1].split(", ")]
    assert names == [
        "start-up",
        "read",
        "plan",
        "render",
        "message build",
        "send",
        "write-back",
        "report",
    ]
    # One invoice: Invoice No, Due Date and Status of its Services row, its Invoices row.
    (cells,) = [ln for ln in log.read_text().splitlines() if " write-back: " in ln]
    updates = int(cells.split(" write-back: ")[1].split()[0])
    assert 3 < updates < 40 and cells.endswith(f"write-back: {updates} cell updates")


@pytest.mark.skipif(sys.platform != "linux", reason="process start time from /proc")
def test_process_age_counts_from_the_process_start() -> None:
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "from automation.clock import process_age; print(process_age())"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    elapsed = time.perf_counter() - began
    age = float(done.stdout)
    assert 0 < age <= elapsed + 0.02  # the kernel counts in 10 ms ticks


def test_top_level_help_lists_commands_and_exit_codes(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())  # argparse wraps to the terminal's width
    for command in cli.COMMANDS:
        assert f"{command.name} {command.purpose}" in flat
    assert "[run] [--config PATH]" in out  # run is the default command
    for code in ("0  all done", "1  finished", "2  the configuration", "3  the workbook is open"):
        assert code in out


@pytest.mark.parametrize("name", [c.name for c in cli.COMMANDS])
def test_each_command_has_its_own_help_with_an_example(name: str, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main([name, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    command = next(c for c in cli.COMMANDS if c.name == name)
    assert out.startswith(f"usage: run_billing.py {name}")
    assert command.purpose[1:] in " ".join(out.split())
    assert "example:\n  run_billing.py " + name in out


@pytest.mark.parametrize(
    ("started", "shown"),
    [
        ("/opt/billing/bin/run-billing", "run-billing"),
        ("C:/Tools/run-billing.exe", "run-billing"),
        (
            "/opt/billing/lib/python3.11/site-packages/automation/__main__.py",
            "python3 -m automation",
        ),
        ("/home/me/billing-automation/run_billing.py", "run_billing.py"),
        ("/usr/lib/python3/dist-packages/pytest/__main__.py", "run_billing.py"),
    ],
)
def test_the_program_is_named_as_it_was_started(
    started: str, shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run-billing --help` and `python -m automation --help` said `usage: run_billing.py`,
    a file an installed package does not have."""
    monkeypatch.setattr(sys, "argv", [started, "--help"])
    monkeypatch.setattr(sys, "executable", "/opt/billing/bin/python3")
    assert cli.program_name() == shown
    assert cli.build_parser().format_usage().startswith(f"usage: {shown} [run] ")


def test_python_m_automation_names_itself(tmp_path: Path) -> None:
    python = Path(sys.executable).name
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(REPO)}
    shown = [
        subprocess.run(
            [sys.executable, "-m", "automation", *words],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            check=True,
        ).stdout
        for words in (["--help"], ["--version"], ["init", "--help"])
    ]
    assert shown[0].startswith(f"usage: {python} -m automation [run] ")
    assert shown[1].split()[:3] == [python, "-m", "automation"]
    assert f"example:\n  {python} -m automation init ~/billing" in shown[2]


def test_init_config_names_the_command_that_works_installed_or_not() -> None:
    """billing.toml told installed users to type `run_billing.py payments FILE` and
    `run_billing.py login`: a file they do not have."""
    from automation.starter import EXAMPLE_CONFIG

    comments = " ".join(
        line.lstrip("# ") for line in EXAMPLE_CONFIG.splitlines() if line.startswith("#")
    )
    for command in ("payments FILE", "login"):
        assert f"`run-billing {command}`" in comments
        assert f"`python run_billing.py {command}` from a copy of the project" in comments
    assert re.findall(r"(?<!python )run_billing\.py", comments) == []


def test_init_needs_a_folder_and_schedule_refuses_a_bad_day(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["init"])
    assert stop.value.code == 2
    book = write_workbook(tmp_path / "log.xlsx", [client("Acme")], [])
    assert main(["schedule", "--workbook", str(book), "--day", "Someday"]) == 2
    assert "is not a weekday" in capsys.readouterr().out
    # a path through a file: said plainly, not as a run stopped by an unexpected problem
    assert main(["init", str(book / "billing")]) == 2
    out = capsys.readouterr().out
    assert out.startswith(f"init: cannot make the folder {book / 'billing'} (")
    assert "unexpected" not in out


@pytest.mark.parametrize(
    "problem",
    [OSError(28, "No space left on device"),
     __import__("sqlite3").OperationalError("database or disk is full")],
)  # fmt: skip
def test_a_full_disk_is_said_plainly(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch, capsys, problem: Exception
) -> None:
    def full(*_args: object, **_kw: object) -> None:
        raise problem

    config_beside(tmp_path)
    book = write_workbook(tmp_path / "log.xlsx", [client("Acme")], [])
    monkeypatch.setattr(cli, "run_billing", full)
    assert main(["--workbook", str(book), "--as-of", "2026-03-09"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("The run stopped: the disk is full") and "unexpected" not in out


@pytest.mark.parametrize(
    "args", [["--as-of", "2026-03-09"], ["--as-of", "2026-03-09", "--dry-run"]]
)
def test_an_unexpected_problem_names_the_log_only_when_there_is_one(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch, capsys, args: list[str]
) -> None:
    """ "Details are in .billing/logs/" was said where no log was written (a dry run, the
    demo's folder): the run names its log file, which holds the traceback; others do not."""

    def broken(*_args: object, **_kw: object) -> None:
        raise RuntimeError("boom")

    config_beside(tmp_path)
    book = write_workbook(tmp_path / "log.xlsx", [client("Acme")], [])
    monkeypatch.setattr(cli, "run_billing", broken)
    assert main(["--workbook", str(book), *args]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("The run stopped on an unexpected problem: RuntimeError('boom').")
    logs = list((tmp_path / ".billing" / "logs").glob("run-*.log"))
    if "--dry-run" in args:
        assert logs == [] and "Details" not in out
    else:
        assert out.endswith(f"Details are in {logs[0]}.")
        assert "RuntimeError: boom" in logs[0].read_text()


def test_a_stale_link_where_the_demo_folder_goes_is_replaced(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """A link left at the demo folder's name (its target gone) stopped --demo with exit 1 and
    "details are in .billing/logs/", a log that was never written."""
    demo = tmp_path / "demo"
    demo.symlink_to(tmp_path / "gone")
    monkeypatch.setattr(cli, "DEMO_DIR", demo)
    assert main(["--demo", "--as-of", "2026-11-23"]) == 1  # the sample has two bad rows
    out = capsys.readouterr().out
    assert "unexpected" not in out and "INV-2026-0001" in out
    assert demo.is_dir() and not demo.is_symlink()
    assert len(list((demo / "outbox").glob("*.eml"))) == 8
    assert not (tmp_path / "gone").exists()


def test_a_demo_folder_that_cannot_be_replaced_gives_way_to_a_new_one(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    demo = tmp_path / "demo"
    monkeypatch.setattr(cli, "DEMO_DIR", demo)

    def refused(*_args: object, **_kw: object) -> None:  # another user's link in /tmp
        raise PermissionError(1, "Operation not permitted")

    demo.symlink_to(tmp_path / "theirs")
    monkeypatch.setattr(Path, "unlink", refused)
    folder = cli.demo_folder()
    assert folder != demo and folder.parent == tmp_path and folder.is_dir()
    assert list(folder.iterdir()) == []


def test_a_new_command_is_one_entry(monkeypatch, capsys) -> None:
    def add_options(parser) -> None:
        parser.add_argument("word")

    def handler(args, console) -> int:
        console.print(f"echo {args.word}")
        return 0

    extra = cli.Command("echo", "say a word back", "%(prog)s hello", add_options, handler)
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, extra))
    assert main(["echo", "hello"]) == 0
    assert "echo hello" in capsys.readouterr().out


def test_init_hint_names_both_ways_to_run(tmp_path: Path, capsys) -> None:
    assert main(["init", str(tmp_path / "books")]) == 0
    out = capsys.readouterr().out
    assert "run-billing --workbook" in out and "python run_billing.py --workbook" in out


def test_schedule_refuses_a_folder_path_with_a_newline(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "Books\n0 * * * * touch forged"
    folder.mkdir()
    book = write_workbook(folder / "log.xlsx", [client("Acme")], [])
    assert main(["schedule", "--workbook", str(book)]) == 2
    out = capsys.readouterr().out
    assert "contains a line break" in out and "\n0 * * * *" not in out


def attention_lines(out: str) -> set[str]:
    """The located problems a command listed (the indented lines after "need(s) attention")."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "attention" in line)
    return {line.strip() for line in lines[start + 1 :] if line.startswith("  ")}


def test_check_reports_everything_the_run_would(tmp_path: Path, capsys) -> None:
    config_beside(tmp_path)
    absurd = "INV-2026-" + "9" * 30
    book = write_workbook(
        tmp_path / "log.xlsx",
        [client("Acme"), client("Beta", Currency="XYZ"), client("Gamma", Terms="Net soon")],
        [
            service(date(2026, 3, 2), "Acme", "Work"),
            service(date(2026, 3, 2), "Acme", "Old work", **{"Invoice No": absurd}),
            service(date(2026, 3, 2), "Nobody", "Work"),
            service(date(2026, 3, 2), "Acme", ""),
            service(date(2026, 3, 2), "Acme", "Huge", 10**20, 1),
            service("05/03/2026", "Acme", "Ambiguous date"),
            service(date(2026, 3, 2), "Beta", "Work"),
            service(date(2026, 3, 2), "Gamma", "Work"),
        ],
        invoices=[
            {"Invoice No": absurd, "Client": "Acme", "Total": 100},
            {"Invoice No": "INV-2026-0001", "Client": "Acme", "Total": 100, "Paid Amount": "lots"},
        ],
    )
    assert main(["check", "--workbook", str(book), "--as-of", "2026-03-09"]) == 1
    checked = attention_lines(capsys.readouterr().out)
    assert (
        main(["--workbook", str(book), "--as-of", "2026-03-09", "--outbox", str(tmp_path / "out")])
        == 1
    )
    ran = attention_lines(capsys.readouterr().out)
    assert any("30 digits" in line for line in checked)
    assert len(checked) >= 7
    assert checked == ran


@pytest.mark.parametrize("terms", ["Net soon", "Net 30; 2% late fee"])
def test_a_client_problem_is_reported_once(tmp_path: Path, capsys, terms: str) -> None:
    config_beside(tmp_path)
    book = write_workbook(
        tmp_path / "log.xlsx",
        [client("Acme", Terms=terms)],
        [service(date(2026, 3, 2), "Acme", f"Work {i}") for i in range(3)],
    )
    assert main(["check", "--workbook", str(book), "--as-of", "2026-03-09"]) == 1
    out = capsys.readouterr().out
    assert "log.xlsx: 1 row needs attention:" in out
    assert out.count(terms) == 1 and out.count("use one of") == 1
    assert f'Clients row 2, Terms: Payment terms "{terms}" are not understood' in out
    assert main(["--workbook", str(book), "--as-of", "2026-03-09"]) == 1
    services = pd.read_excel(book, sheet_name="Services", engine="calamine")
    assert set(services["Error"]) == {  # a ";" in the quoted terms does not cut it short
        f'not billed until Clients row 2 is fixed: Payment terms "{terms}" are not understood; '
        f"use one of: {', '.join(ACCEPTED_FORMS)}."
    }


def test_unreadable_terms_are_named_on_the_clients_rows_beside_another_problem(
    tmp_path: Path,
) -> None:
    """The Services rows point to the Clients row with the terms problem and the forms
    accepted, even when a problem with the address comes first on that row."""
    book = write_workbook(
        tmp_path / "log.xlsx", [client("Acme", Email="acme at example", Terms="Net thirty")], []
    )
    clients = validate_clients(read_workbook(book, Config()).clients, Config())
    assert [e.column for e in clients.errors] == ["Email", "Terms"]
    assert clients.problems["acme"] == (
        'not billed until Clients row 2 is fixed: Payment terms "Net thirty" are not '
        f"understood; use one of: {', '.join(ACCEPTED_FORMS)}."
    )


@pytest.mark.parametrize(
    ("dropped", "said"),
    [
        (["Description"], "the required column Description; the closest, row 1, has: Date, Client"),
        (["Date", "Description"], "the required columns Date, Description; the closest"),
    ],
)
def test_a_header_row_lacking_columns_names_only_those(
    tmp_path: Path, capsys, dropped: list[str], said: str
) -> None:
    """Without Description alone, the message said "required columns Date, Client,
    Description", as if all three were missing."""
    book = tmp_path / "log.xlsx"
    wb = xlsxwriter.Workbook(str(book))
    wb.add_worksheet("Clients").write_row(0, 0, CLIENT_HEADERS)
    wb.add_worksheet("Services").write_row(
        0, 0, [h for h in SERVICE_HEADERS if h not in dropped]
    )
    wb.close()
    (tmp_path / "billing.toml").write_text('[email]\nfrom = "billing@firm.example"\n')
    assert main(["check", "--workbook", str(book), "--as-of", "2026-03-09"]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"sheet 'Services' has no header row with {said}" in out, out


def test_header_rows_any_case_and_a_wrong_row_says_header_rows(tmp_path: Path, capsys) -> None:
    book = write_workbook(tmp_path / "log.xlsx", [client("Acme")],
                          [service(date(2026, 3, 2), "Acme", "Work")], title_rows=2)  # fmt: skip
    email = '[email]\nfrom = "billing@firm.example"\n'
    (tmp_path / "billing.toml").write_text("[billing]\nheader_rows = { services = 3 }\n" + email)
    assert main(["check", "--workbook", str(book), "--as-of", "2026-03-09"]) == 0
    (tmp_path / "billing.toml").write_text("[billing]\nheader_rows = { Services = 2 }\n" + email)
    capsys.readouterr()
    assert main(["check", "--workbook", str(book), "--as-of", "2026-03-09"]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "row 2, the header row [billing] header_rows names, does not hold" in out
    assert "it has: Title line 2. Set header_rows to the row your headers are on" in out


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        (
            '[email]\nmoed = "smtp"\n',
            "billing.toml, line 2: [email] has an unknown option 'moed' (did you mean 'mode'?)",
        ),
        (
            "[email]\nfrom = \u201cme@firm.example\u201d\n",
            "billing.toml, line 2: curly quotes (“ ” or ‘ ’), as Word or a mail program types "
            'them; TOML needs straight quotes: from = "me@firm.example"',
        ),
        ('[company]\nname = "Ledgerwise\n', "billing.toml, line 2: the quote is not closed"),
        (
            "[billing]\nbill_after_days = 1\nbill_after_days = 2\n",
            "billing.toml, line 3: bill_after_days is set twice in its section; keep one",
        ),
        (
            '[billing]\ncurrency = "EUR"\n[billing]\nlanguage = "en"\n',
            "billing.toml, line 3: the section [billing] appears twice",
        ),
        (
            '[columns.Invoices]\n"Paid Amout" = "Received"\n',
            "[columns.Invoices] has an unknown column 'Paid Amout' (did you mean 'Paid "
            "Amount'?); its columns: Balance,",
        ),
        (
            '[columns.Invoice]\n"Paid Amount" = "Received"\n',
            "[columns] has no sheet 'Invoice' (did you mean 'Invoices'?); sheets: Clients, "
            "Invoices, Payments, Services.",
        ),
        (
            '[billing]\nworkbook = "C:\\Users\\anna\\log.xlsx"\n',
            "a backslash starts an escape inside double quotes; write a Windows path in single "
            "quotes ('C:\\Users\\anna\\log.xlsx') or with forward slashes.",
        ),
        (
            '[billing]\noutput_dir = "C:\\books\\new"\n',  # \b and \n: valid escapes, junk folders
            "[billing] output_dir = \"C:\\books\\new\": a backslash starts an escape inside double "
            "quotes, so this path holds characters no folder name has; write a Windows path in "
            "single quotes ('C:\\books\\new') or with forward slashes.",
        ),
        ("[email]\nfrom = me@firm.example\n", 'text needs quotes: from = "me@firm.example".'),
        ('[columns]\nClient = "Customer"\n',
         "[columns] renames a sheet's headers under that sheet's name: write [columns.Services]"),
        ('[biling]\ncurrency = "EUR"\n',
         "billing.toml, line 1: unknown section [biling] (did you mean [billing]?)"),
        ('[billing]\ncurrency = "EUR"\nbill_after_days = "7"\n',
         "billing.toml, line 3: [billing] bill_after_days must be a whole number"),
        ('[billing]\ncurrency = "EUR"\n[bank]\ncurrency = "EURO"\n',
         "billing.toml, line 4: [bank] currency must be"),
        ("[billing]\nholidays_country = GB # UK\n", 'text needs quotes: holidays_country = "GB".'),
        ("[email]\nuse_keyring = True\n", "written in small letters: use_keyring = true."),
        (
            '[columns.Services]\nUnit Price = "Rate"\n',
            'a name with a space needs quotes: "Unit Price" = "Rate".',
        ),
        (
            "[billing]\nheader_rows = { Servces = 3 }\n",
            "[billing] header_rows names no sheet 'Servces' (did you mean 'Services'?)",
        ),
    ],
)
def test_config_errors_name_the_line_and_the_cause(
    tmp_path: Path, capsys, toml: str, said: str
) -> None:
    book = write_workbook(tmp_path / "log.xlsx", [client("Acme")], [])
    (tmp_path / "billing.toml").write_text(toml, encoding="utf-8")
    assert main(["check", "--workbook", str(book)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert said in out
    if "unknown option" in said:
        assert "from, from_name" in out  # the keys as the file spells them


def test_no_workbook_says_where_it_looked_and_suggests_init(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert (
        f"the workbook {tmp_path / 'service_log.xlsx'} does not exist, and there is no "
        f"billing.toml in {tmp_path}." in out
    )
    assert "run-billing init DIR" in out and "python run_billing.py init DIR" in out


def test_start_up_imports_no_heavy_library() -> None:
    """The run reaches its first read without pandas, docx, yagmail and the like (each
    is imported where it is used): their imports were most of the start-up."""
    heavy = ["pandas.core.frame", "docx", "docxtpl", "yagmail", "num2words", "holidays",
             "xlsxwriter", "rich.progress", "openpyxl", "segno"]  # fmt: skip
    code = f"import sys, automation.cli; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=REPO)  # fmt: skip
    assert done.stdout.strip() == "[]"


def _summary_text(sent: int, failed: int = 0) -> str:
    import io

    from rich.console import Console

    from automation.summary import RunSummary, SentItem

    summary = RunSummary(date(2026, 6, 1))
    summary.sent.extend(
        SentItem(f"INV-2026-{i:05d}", f"Client {i:04d} [bold]LLP[/]", "invoice", "$789.04", "")
        for i in range(sent)
    )
    summary.failed.extend(
        SentItem(f"INV-2026-9{i:04d}", f"Late {i}", "invoice", "$1.00", "550 no such user")
        for i in range(failed)
    )
    out = io.StringIO()
    cli._summary_table(summary, Console(file=out, width=100))
    return out.getvalue()


def test_a_long_summary_lists_every_row_plainly_and_a_short_one_is_a_table() -> None:
    short = _summary_text(3)
    assert "┃ What" in short and "INV-2026-00002" in short
    long = _summary_text(cli.TABLE_ROWS, failed=2)
    lines = long.splitlines()
    assert "┃" not in long and lines[1] == "invoice:"
    rows = [line for line in lines if line.startswith("  INV-2026-")]
    assert len(rows) == cli.TABLE_ROWS + 2  # every invoice, each on one line
    assert "Client 0007 [bold]LLP[/]" in long  # names are shown literally, not as markup
    failed = lines.index("FAILED:")
    assert "550 no such user" in lines[failed + 1]


PROGRAM_PROBE = """
import gc
from automation import cli

seen = {}

def fake_main(argv):
    seen["young"] = gc.get_threshold()[0]
    seen["frozen"] = gc.get_freeze_count()
    seen["made by the run"] = [[n] for n in range(100)]
    return 3

cli.main = fake_main
code = cli.program([])
print(code, seen["young"], seen["frozen"] > 1000, gc.get_freeze_count() > seen["frozen"])
"""


def test_the_program_sets_the_imported_modules_aside_from_the_cycle_collector() -> None:
    """`program` (every entry point's) freezes what was imported, collects young objects
    less often, and sets everything aside before the process ends."""
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM_PROBE], capture_output=True, text=True, cwd=REPO,
        check=True,
    )  # fmt: skip
    assert out.stdout.split() == ["3", str(cli.GC_YOUNG_THRESHOLD), "True", "True"]


def test_every_entry_point_goes_through_the_program() -> None:
    assert "raise SystemExit(program())" in (REPO / "run_billing.py").read_text()
    assert "raise SystemExit(program())" in (REPO / "automation" / "__main__.py").read_text()
    assert (
        "from .cli import program as run_command_line"
        in (REPO / "automation" / "__main__.py").read_text()
    )
    assert 'run-billing = "automation.__main__:program"' in (REPO / "pyproject.toml").read_text()
    # The installed run-billing script imports that module at its top, as does each render
    # worker (the program's main script): the command line is imported only when it runs.
    code = "import automation.__main__, sys; print('automation.cli' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, cwd=REPO)  # fmt: skip
    assert found.stdout.strip() == "False"


def test_check_and_the_run_agree_on_a_totals_row_typed_under_the_invoices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A TOTAL row under the Invoices (Paid Amount summed, no Paid Date) is no invoice the
    tool follows: `check` exits as the dry run does, without a Paid Date complaint."""
    config_beside(tmp_path)
    invoices = [
        {"Invoice No": "INV-2026-0001", "Client": "Acme", "Total": 500, "Paid Amount": 500,
         "Paid Date": "2026-02-20", "Status": "Paid"},
        {"Invoice No": None, "Client": None, "Total": None, "Paid Amount": None,
         "Paid Date": None, "Status": None},
        {"Invoice No": "TOTAL", "Client": None, "Total": 500, "Paid Amount": 500,
         "Paid Date": None, "Status": None},
    ]  # fmt: skip
    book = write_workbook(
        tmp_path / "log.xlsx",
        [client("Acme")],
        [service(date(2026, 3, 2), "Acme", "Work")],
        invoices=invoices,
    )
    dry = main(["--dry-run", "--workbook", str(book), "--as-of", "2026-03-09"])
    assert main(["check", "--workbook", str(book), "--as-of", "2026-03-09"]) == dry == 0
    assert "Paid Date" not in capsys.readouterr().out


def test_column_renames_name_sheets_and_columns_in_any_case() -> None:
    """[columns.invoices] "paid amount" = ... renames Invoices' Paid Amount: a rename the
    tool would not recognise is refused (above), never left unused."""
    from automation.config import parse_config

    config = parse_config({"columns": {"invoices": {"paid amount": "Received"}}})
    assert config.columns == {"Invoices": {"Paid Amount": "Received"}}


@pytest.mark.parametrize("option", ["bcc", "redirect_to", "report_to", "reply_to"])
def test_a_mistyped_address_in_the_email_settings_stops_before_numbering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    book = write_workbook(tmp_path / "log.xlsx", [client("Acme")],
                          [service(date(2026, 3, 2), "Acme", "Work")])  # fmt: skip
    (tmp_path / "billing.toml").write_text(
        f'[company]\nname = "Ledgerwise"\nemail = "billing@ledgerwise.example"\n'
        f'[email]\nmode = "outbox"\n{option} = "archive at ledgerwise"\n',
        encoding="utf-8",
    )
    for argv in (
        ["check", "--workbook", str(book)],
        ["--workbook", str(book), "--as-of", "2026-03-09", "--dry-run"],
        ["--workbook", str(book), "--as-of", "2026-03-09"],
    ):
        assert main(argv) == 2
        out = " ".join(capsys.readouterr().out.split())
        assert (
            f"billing.toml, line 6: [email] {option} has an invalid address: "
            "'archive at ledgerwise'."
            in out
        )
    assert not (tmp_path / ".billing" / "ledger.sqlite").exists()  # stopped before the ledger


@pytest.mark.parametrize(
    ("number_format", "said"),
    [("INV-{seq.__class__}", "{seq.__class__} is not usable"),
     ("INV-{seq!s:.0}", "{seq!s:.0} is not usable"),
     ("INV-{seq:c}", "{seq:c} is not usable"),
     ("INV-{year}", "must contain {seq} once")],
)  # fmt: skip
def test_a_number_format_that_could_make_two_numbers_alike_is_refused(
    number_format: str, said: str
) -> None:
    """Invoice numbers must be distinct and plain: a field is {year}, {month} or {seq} with
    at most a width ({seq:04d}); anything else is a configuration error (exit 2)."""
    from automation.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=re.escape(said)):
        parse_config({"billing": {"number_format": number_format}})
    for usable in ("{year}/{month:02d}/{seq:05}", "INV-{year}-{seq:0>4}", "INV{seq}"):
        assert parse_config({"billing": {"number_format": usable}})


def test_without_any_billing_toml_the_message_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = write_workbook(tmp_path / "log.xlsx", [client("Acme")],
                          [service(date(2026, 3, 2), "Acme", "Work")])  # fmt: skip
    assert main(["check", "--workbook", str(book)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "no billing.toml was found (beside the workbook or in this folder): no sender" in out
    assert "run-billing init" in out


@pytest.mark.parametrize(
    ("email", "told"),
    [('host = "mail.example.com"\nsecurity = "none"', 'security = "none" would send mail to '
      "mail.example.com unencrypted"),
     ('host = "mail.example.com"\nca_file = "/no/such/ca.pem"', "ca_file /no/such/ca.pem cannot "
      "be used"),
     ('host = ""', "host is empty")],
)  # fmt: skip
def test_check_and_dry_run_refuse_the_mail_settings_the_run_refuses(
    folder: Folder, capsys: pytest.CaptureFixture[str], email: str, told: str
) -> None:
    """Exit codes are the same for run, --dry-run and check: mail settings a run would
    refuse before connecting are refused by all three (no connection is tried)."""
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    (folder.root / "billing.toml").write_text(
        '[company]\nname = "Ledgerwise"\nemail = "billing@ledgerwise.example"\n'
        f'[email]\nmode = "smtp"\nfrom = "billing@ledgerwise.example"\n{email}\n'
    )
    capsys.readouterr()
    book = ["--workbook", str(folder.workbook)]
    for argv in ([*book, "--as-of", "2026-03-09"], [*book, "--as-of", "2026-03-09", "--dry-run"],
                 ["check", *book]):  # fmt: skip
        assert main(argv) == 2
        out = " ".join(capsys.readouterr().out.split())
        assert "the mail server cannot be used" in out and told in out, (argv, out)
    assert not (folder.root / "invoices").exists()


def test_a_folder_this_user_may_not_write_stops_the_run_before_numbering(
    folder: Folder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """(The tests run as root, whom the permission bits do not stop: os.access stands in.)"""
    import os

    from automation import prechecks

    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    real = os.access
    monkeypatch.setattr(
        prechecks.os, "access", lambda path, mode: Path(path) != folder.root and real(path, mode)
    )
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-09") == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"this user may not write in {folder.root}, where the run writes the updated" in out
    assert not (folder.root / ".billing" / "ledger.sqlite").exists() and folder.received == []
    # check says so too, with the same exit code (it said "close the workbook", exit 3)
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", "2026-03-09"]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"this user may not write in {folder.root}, where the run writes the updated" in out


@pytest.mark.parametrize(
    ("setting", "told"),
    [
        ('output_dir = "/proc/billing-out"', "the run cannot write the invoices in /proc/"),
        ('output_dir = "service_log.xlsx/out"', "service_log.xlsx is a file, not a folder"),
    ],
)
def test_an_output_folder_that_cannot_be_made_stops_check_and_the_run_before_numbering(
    folder: Folder, capsys: pytest.CaptureFixture[str], setting: str, told: str
) -> None:
    """output_dir on a drive not there (/proc here), or under a file: check said no
    problems, and the run numbered the invoices and crashed (FileNotFoundError, exit 1)."""
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    folder.write_config(extra=setting)
    capsys.readouterr()
    for argv in (["check", "--workbook", str(folder.workbook), "--as-of", "2026-03-09"],
                 ["--workbook", str(folder.workbook), "--as-of", "2026-03-09"]):  # fmt: skip
        assert main(argv) == 2
        out = " ".join(capsys.readouterr().out.split())
        assert told in out and "output_dir" in out
    assert not (folder.root / ".billing" / "ledger.sqlite").exists() and folder.received == []
    assert not list(folder.root.glob(".billing-check-*"))


def test_an_as_of_date_out_of_reach_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--as-of", "9999-12-31"])
    assert stop.value.code == 2
    assert "'9999-12-31' is not a date the billing can be as of" in capsys.readouterr().err


def test_a_folder_or_a_password_protected_file_as_the_workbook_is_told_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "books.xlsx"
    folder.mkdir()
    assert main(["--workbook", str(folder), "--as-of", "2026-03-09"]) == 2
    assert f"{folder} is a folder, not a workbook" in " ".join(capsys.readouterr().out.split())
    # Excel saves a workbook with a password as an OLE compound file holding an
    # "EncryptedPackage" stream (its directory names are UTF-16): its start, as Excel writes it.
    locked = tmp_path / "locked.xlsx"
    (tmp_path / "billing.toml").write_text('[company]\nname = "L"\nemail = "b@l.example"\n')
    locked.write_bytes(
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "EncryptedPackage".encode("utf-16-le")
    )
    assert main(["check", "--workbook", str(locked)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "locked.xlsx is protected with a password" in out and "clear the password" in out


def test_a_folder_as_the_config_or_a_bank_statement_is_told_as_such(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Were told "no such statement file: adir." and "the config file adir does not
    exist.", as if nothing were there."""
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    inbox = folder.root / "adir"
    inbox.mkdir()
    capsys.readouterr()
    assert main(["payments", "--workbook", str(folder.workbook), str(inbox), "--dry-run"]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"{inbox} is a folder, not a statement file: name the file in it." in out
    assert main(["check", "--workbook", str(folder.workbook), "--config", str(inbox)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"{inbox} is a folder, not a config file: name the .toml file in it." in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from automation import __version__

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.split()[-1] == __version__


def test_check_and_dry_run_only_warn_of_a_password_this_terminal_lacks(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """The scheduled run's environment may hold the password this terminal does not."""
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    folder.write_config(email='username = "me@example.com"\npassword_env = "NO_SUCH_VARIABLE"')
    capsys.readouterr()
    book = ["--workbook", str(folder.workbook)]
    for argv in (["check", *book], [*book, "--as-of", "2026-03-09", "--dry-run"]):
        assert main(argv) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert "no SMTP password: set the environment variable NO_SUCH_VARIABLE" in out
    assert main([*book, "--as-of", "2026-03-09"]) == 2  # the run itself needs it


def test_schedule_names_settings_found_away_from_the_workbook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """billing.toml in this folder names a workbook elsewhere: the scheduled run, which
    starts in the workbook's folder, is told where the settings are."""
    books = tmp_path / "books"
    books.mkdir()
    (tmp_path / "data").mkdir()
    write_workbook(tmp_path / "data" / "log.xlsx", [client("Acme")], [])
    settings = books / "billing.toml"
    settings.write_text('[billing]\nworkbook = "../data/log.xlsx"\n')
    monkeypatch.chdir(books)
    assert main(["schedule"]) == 0
    cron = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("0 7 * * 1"))
    words = shlex.split(cron.split(" ", 5)[5])
    assert words[1] == str(tmp_path / "data") and ["--config", str(settings)] == words[-5:-3]


@pytest.mark.parametrize(
    ("renamed", "headers", "told"),
    [
        ('[columns.Services]\nQuantity = "Hours"', None, "names 'Hours' as the Quantity column"),
        ('[columns.Clients]\n"Tax Rate" = "VAT"', None, "names 'VAT' as the Tax Rate column"),
        ("", ("Hours",), "has no Quantity column, but has 'Hours'"),
    ],
)
def test_a_quantity_or_tax_column_left_unread_stops_the_run(
    folder: Folder, capsys: pytest.CaptureFixture[str], renamed: str,
    headers: tuple[str, ...] | None, told: str,
) -> None:
    """A rename in billing.toml to a header the sheet has not (or a Services header of
    Hours for Quantity): the sheet's own column was left unread, 8 hours billed as 1 (or no
    tax): $112.00 or $800.00 for $896.00, and check said no problems."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(folder.workbook))
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, ["Client", "Email", "Terms", "Tax Rate"])
    ws.write_row(1, 0, ["Acme", "acme@clients.example", "Net 30", 12])
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, ["Date", "Client", "Description", *(headers or ("Quantity",)),
                        "Unit Price"])  # fmt: skip
    ws.write_row(1, 0, ["2026-03-02", "Acme", "Bookkeeping", 8, 100])
    wb.close()
    config = folder.write_config()
    config.write_text(config.read_text() + "\n" + renamed + "\n")
    capsys.readouterr()
    for argv in (["check", "--workbook", str(folder.workbook), "--as-of", "2026-03-09"],
                 ["--workbook", str(folder.workbook), "--as-of", "2026-03-09"]):  # fmt: skip
        assert main(argv) == 2
        assert told in " ".join(capsys.readouterr().out.split())
    assert folder.received == []


def _program(args: list[str], stdout: Any = subprocess.PIPE, **env: str) -> tuple[int, bytes, str]:
    """run_billing.py as a scheduled task starts it: (exit code, output, error output)."""
    done = subprocess.run(
        [sys.executable, str(REPO / "run_billing.py"), *args],
        stdout=stdout, stderr=subprocess.PIPE, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )  # fmt: skip
    return done.returncode, done.stdout or b"", done.stderr.decode("utf-8", "replace")


def test_output_that_cannot_take_a_character_or_any_text_never_stops_the_program(
    tmp_path: Path,
) -> None:
    """Task Scheduler writes the output to a file in cp1252: a client "Łódź" printed in the
    summary was a traceback (exit 1) after the invoices had gone, the summary lost; a full
    disk under the output did the same, and so did the message of a run that could not start."""
    config_beside(tmp_path)
    book = write_workbook(
        tmp_path / "Журнал €.xlsx", [client("Łódź Café €")],
        [service(date(2026, 3, 2), "Łódź Café €", "Księgowość")],
    )  # fmt: skip
    run = ["--workbook", str(book), "--as-of", "2026-03-09", "--outbox", str(tmp_path / "out")]
    code, out, err = _program(run, PYTHONIOENCODING="cp1252")
    assert (code, err) == (0, "")
    text = out.decode("cp1252")
    assert "INV-2026-0001" in text and "?ód? Café €" in text and "Outstanding" in text
    assert len(list((tmp_path / "out").glob("*.eml"))) == 1
    assert _program(["check", "--workbook", str(book)], PYTHONIOENCODING="ascii")[::2] == (0, "")
    missing = ["--workbook", str(tmp_path / "Нет.xlsx")]
    code, out, err = _program(missing, PYTHONIOENCODING="ascii")
    assert (code, err) == (2, "") and out.startswith(b"Cannot run: ")
    if Path("/dev/full").exists():
        with open("/dev/full", "w") as full:
            assert _program(run, stdout=full)[::2] == (0, "")  # a rerun: nothing to send


def test_a_read_only_share_and_a_file_it_may_not_read_are_told_plainly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`statement` on a share mounted read-only said "an unexpected problem: OSError(30, ...)";
    a templates folder it could not read was told as one it "may not write"."""
    import errno

    from automation import statement_run

    book = write_workbook(tmp_path / "ro.xlsx", [client("Acme")], [])
    for problem, words in (
        (OSError(errno.EROFS, "Read-only file system", "/share/b/.billing"),
         "/share/b/.billing is on a disk or share that is read-only here"),
        (PermissionError(errno.EACCES, "Permission denied", "/b/templates"),
         "it may not use /b/templates (Permission denied). Give your user access"),
    ):  # fmt: skip

        def stop(*_args: object, problem: OSError = problem) -> None:
            raise problem

        monkeypatch.setattr(statement_run, "make_statements", stop)
        assert main(["statement", "--workbook", str(book), "--as-of", "2026-03-31"]) == 1
        out = " ".join(capsys.readouterr().out.split())
        assert words in out and "unexpected" not in out

"""`schedule`: cron, systemd and Task Scheduler entries for the user's paths."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from automation.schedule import (
    ScheduleError,
    cron_entry,
    parse_weekday,
    schedule_text,
    schtasks_command,
    systemd_units,
)

PYTHON = "/home/ann/my venv/bin/python"
SCRIPT = Path("/opt/billing tool/run_billing.py")
WORKDIR = Path("/home/ann/Books 2026")


def cron_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("0 7 * * 1 "))


def test_text_has_every_entry_with_the_paths() -> None:
    text = schedule_text(PYTHON, SCRIPT, WORKDIR)
    assert "crontab -e" in text
    assert "~/.config/systemd/user/" in text
    assert "systemctl --user enable --now billing.timer" in text
    assert "OnCalendar=Mon *-*-* 07:00:00" in text
    assert "Persistent=true" in text
    assert f"WorkingDirectory={WORKDIR}" in text
    assert f'ExecStart="{PYTHON}" "{SCRIPT}" "run"' in text
    assert 'schtasks /Create /SC WEEKLY /D MON /ST 07:00 /TN "Weekly billing" /TR "' in text
    assert cron_line(text) == cron_entry(PYTHON, SCRIPT, WORKDIR, "Mon", "07:00")


def test_every_entry_is_introduced_by_a_comment() -> None:
    lines = schedule_text(PYTHON, SCRIPT, WORKDIR).splitlines()
    for prefix in ("0 7 * * 1 ", "schtasks ", "[Unit]"):
        index = next(i for i, line in enumerate(lines) if line.startswith(prefix))
        assert lines[index - 1].startswith(("#", "rem "))


def test_cron_line_splits_into_the_right_words() -> None:
    words = shlex.split(cron_line(schedule_text(PYTHON, SCRIPT, WORKDIR)))
    assert words[:5] == ["0", "7", "*", "*", "1"]
    assert words[5:] == [
        "cd",
        str(WORKDIR),
        "&&",
        "mkdir",
        "-p",
        ".billing/logs",
        "&&",
        PYTHON,
        str(SCRIPT),
        "run",
        ">>",
        ".billing/logs/cron.log",
        "2>&1",
    ]


def test_cron_quotes_shell_specials_and_escapes_percent() -> None:
    line = cron_entry("python3", Path("run.py"), Path("/b/it's 100% $HOME"), "Mon", "07:00")
    assert "100\\%" in line
    # What the shell gets after cron removes the backslash before %:
    assert shlex.split(line.replace("\\%", "%"))[6] == "/b/it's 100% $HOME"


def test_systemd_escapes_specifiers_and_quotes() -> None:
    units = systemd_units(
        '/opt/py "x"/python', Path("/w/50%/run.py"), Path("/w/50%"), "fri", "18:30"
    )
    assert "WorkingDirectory=/w/50%%" in units
    assert 'ExecStart="/opt/py \\"x\\"/python" "/w/50%%/run.py" "run"' in units
    assert "OnCalendar=Fri *-*-* 18:30:00" in units
    assert "WantedBy=timers.target" in units


def test_schtasks_windows_quoting() -> None:
    python = r"C:\Program Files\Python311\python.exe"
    script = Path(r"C:\Billing Tool\run_billing.py")
    line = schtasks_command(python, script, Path(r"D:\My Books"), "Wed", "7:05")
    assert line.startswith('schtasks /Create /SC WEEKLY /D WED /ST 07:05 /TN "Weekly billing" ')
    # Without trailing backslashes or cmd specials, POSIX splitting matches Windows' rules.
    words = shlex.split(line)
    assert words[-2:] == [
        "/TR",
        rf'cmd /c cd /d "D:\My Books" && "{python}" "C:\Billing Tool\run_billing.py" run',
    ]


def test_schtasks_trailing_backslash_and_ampersand() -> None:
    line = schtasks_command("py.exe", Path("run.py"), Path("D:\\Smith & Co\\"), "Mon", "07:00")
    # \\\" gives a backslash then a literal quote; ^& keeps cmd from splitting.
    assert 'cd /d \\"D:\\Smith ^& Co\\\\\\" && \\"py.exe\\"' in line


@pytest.mark.parametrize(
    ("day", "cron"),
    [("Mon", "1"), ("monday", "1"), ("TUE", "2"), ("Sun", "0"), ("saturday", "6")],
)
def test_weekday_spellings(day: str, cron: str) -> None:
    assert parse_weekday(day)[0] == cron


@pytest.mark.parametrize(
    ("day", "time"),
    [("Mo", "07:00"), ("Funday", "07:00"), ("Mon", "24:00"), ("Mon", "7am"), ("Mon", "07:60")],
)
def test_bad_weekday_or_time(day: str, time: str) -> None:
    with pytest.raises(ScheduleError):
        schedule_text(PYTHON, SCRIPT, WORKDIR, day, time)


def test_other_day_and_time() -> None:
    text = schedule_text(PYTHON, SCRIPT, WORKDIR, weekday="Fri", time="18:30")
    assert any(line.startswith("30 18 * * 5 cd ") for line in text.splitlines())
    assert "OnCalendar=Fri *-*-* 18:30:00" in text
    assert "/SC WEEKLY /D FRI /ST 18:30 " in text


def test_installed_package_is_started_as_a_module() -> None:
    text = schedule_text(PYTHON, None, WORKDIR)
    words = shlex.split(cron_line(text).split(" ", 5)[5])
    assert words[words.index(PYTHON) :][:4] == [PYTHON, "-m", "automation", "run"]
    assert f'ExecStart="{PYTHON}" "-m" "automation" "run"' in text


@pytest.mark.parametrize("folder", ["/home/ann/Books\n0 * * * * rm -rf ~", "/home/ann/B\rooks"])
def test_a_folder_with_a_line_break_is_refused(folder: str) -> None:
    with pytest.raises(ScheduleError, match="contains a line break"):
        schedule_text(PYTHON, SCRIPT, Path(folder))

"""`schedule`: ready-to-paste entries that run the billing weekly.

One entry each for cron, a systemd user timer and the Windows Task Scheduler,
filled in with the user's own Python, script and working folder, each quoted
for its own syntax so that paths with spaces work:

>>> print(cron_entry("py", Path("run.py"), Path("/my books"), "Mon", "07:00"))
0 7 * * 1 cd '/my books' && mkdir -p .billing/logs && py run.py run >> .billing/logs/cron.log 2>&1
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from .config import EmailConfig

#: weekday -> (cron number, systemd name, schtasks name)
WEEKDAYS = {
    "monday": ("1", "Mon", "MON"),
    "tuesday": ("2", "Tue", "TUE"),
    "wednesday": ("3", "Wed", "WED"),
    "thursday": ("4", "Thu", "THU"),
    "friday": ("5", "Fri", "FRI"),
    "saturday": ("6", "Sat", "SAT"),
    "sunday": ("0", "Sun", "SUN"),
}
CRON_LOG = ".billing/logs/cron.log"
TASK_NAME = "Weekly billing"


def outbox_warning(email: EmailConfig) -> str:
    """A warning for a schedule that would only ever write .eml files, or ""."""
    if email.mode != "outbox":
        return ""
    return (
        f"Warning: billing.toml is in outbox mode, so the scheduled run emails nothing: it "
        f'writes each message to {email.outbox_dir}/ for you to send. Set mode = "smtp" '
        "and the server details in [email] to have it mailed."
    )


def password_warning(email: EmailConfig) -> str:
    """What a schedule must be given for an SMTP password read from the environment: cron,
    systemd and the Task Scheduler do not see the terminal's variables ("" when none)."""
    if email.mode != "smtp":
        return ""
    if email.auth == "oauth2":  # Google's sign-in needs the app's secret at each refresh
        if not email.client_secret_env:
            return ""
        name, what = email.client_secret_env, "the sign-in's client secret"
    elif email.auth != "password" or not email.username or email.use_keyring:
        return ""
    else:
        name, what = email.password_env, "the SMTP password"
    keyring = (
        ", or set use_keyring = true in [email] and store the password in the system keyring"
        if email.auth == "password"
        else ""
    )
    return (
        f"Note: the scheduled run reads {what} from {name}, and a scheduler does "
        "not see the variables of this terminal: give it there (cron: a line "
        f"{name}=... above the entry, in `crontab -e`; systemd: Environment={name}=... "
        "under [Service], or an EnvironmentFile= readable by you only; Windows: setx "
        f"{name} ... for your user){keyring}. Otherwise every scheduled run stops with exit 2 "
        f"(see {CRON_LOG})."
    )


class ScheduleError(ValueError):
    """A weekday or time that cannot be scheduled."""


def parse_weekday(weekday: str) -> tuple[str, str, str]:
    """`Mon`, `monday` or `MON` -> the day in cron, systemd and schtasks spelling."""
    text = weekday.strip().casefold()
    for name, spellings in WEEKDAYS.items():
        if len(text) >= 3 and name.startswith(text):
            return spellings
    raise ScheduleError(f"{weekday!r} is not a weekday; use Mon, Tue, ... Sun.")


def parse_time(time: str) -> tuple[int, int]:
    """`07:00` or `7:00` -> (7, 0)."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", time)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ScheduleError(f"{time!r} is not a time of day; use HH:MM, e.g. 07:00.")
    return int(match[1]), int(match[2])


def tool_words(python: str, script: Path | None) -> list[str]:
    """How the tool is started: its script, or `-m automation` for an installed package."""
    return [python, str(script)] if script is not None else [python, "-m", "automation"]


def run_words(python: str, script: Path | None, args: Sequence[str] = ()) -> list[str]:
    """The scheduled command: the tool, `run`, and `args` (`--workbook PATH`...)."""
    return [*tool_words(python, script), "run", *args]


def cron_entry(
    python: str,
    script: Path | None,
    workdir: Path,
    weekday: str,
    time: str,
    args: Sequence[str] = (),
) -> str:
    """One crontab line; the log folder is made first, as a failed redirect runs nothing.
    `args` follow `run` (`--workbook PATH`, `--config PATH`)."""
    day = parse_weekday(weekday)[0]
    hour, minute = parse_time(time)
    tool = " ".join(shlex.quote(word) for word in run_words(python, script, args))
    command = (
        f"cd {shlex.quote(str(workdir))} && mkdir -p {shlex.quote(str(Path(CRON_LOG).parent))}"
        f" && {tool} >> {CRON_LOG} 2>&1"
    )
    # cron turns an unescaped % into a newline.
    return f"{minute} {hour} * * {day} " + command.replace("%", "\\%")


def _systemd_escape(text: str) -> str:
    """Protect systemd's specifiers (%) and variables ($) in a unit file value."""
    return text.replace("%", "%%").replace("$", "$$")


def _systemd_quote(arg: str) -> str:
    """One ExecStart= argument, double-quoted with C-style escapes."""
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + _systemd_escape(escaped) + '"'


def systemd_units(
    python: str,
    script: Path | None,
    workdir: Path,
    weekday: str,
    time: str,
    args: Sequence[str] = (),
) -> str:
    """The contents of billing.service and billing.timer."""
    day = parse_weekday(weekday)[1]
    hour, minute = parse_time(time)
    exec_start = " ".join(_systemd_quote(a) for a in run_words(python, script, args))
    return (
        "# ~/.config/systemd/user/billing.service\n"
        "[Unit]\n"
        "Description=Weekly billing run\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"WorkingDirectory={_systemd_escape(str(workdir))}\n"
        f"ExecStart={exec_start}\n"
        "\n"
        "# ~/.config/systemd/user/billing.timer\n"
        "[Unit]\n"
        f"Description=Weekly billing run, {day} at {hour:02d}:{minute:02d}\n"
        "\n"
        "[Timer]\n"
        f"OnCalendar={day} *-*-* {hour:02d}:{minute:02d}:00\n"
        "# A run missed while the computer was off happens at the next boot.\n"
        "Persistent=true\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )


def _windows_quoted(path: str) -> str:
    r"""A path as an embedded \"...\" argument inside schtasks' quoted /TR value.

    Backslashes before the closing quote are doubled so that `C:\books\` does
    not swallow the quote; cmd's special characters, which sit outside cmd's
    own quoting here, are escaped with ^.
    """
    stripped = path.rstrip("\\")
    body = stripped + "\\" * (2 * (len(path) - len(stripped)))
    body = re.sub(r"([\^&|<>])", r"^\1", body)
    return '\\"' + body + '\\"'


def schtasks_command(
    python: str,
    script: Path | None,
    workdir: Path,
    weekday: str,
    time: str,
    args: Sequence[str] = (),
) -> str:
    """One schtasks line for cmd.exe; `cd /d` because tasks start in System32."""
    day = parse_weekday(weekday)[2]
    hour, minute = parse_time(time)
    tool = " ".join(
        word if word == "run" or word.startswith("--") else _windows_quoted(word)
        for word in run_words(python, script, args)
    )  # the paths quoted; `run` and the options as they are
    action = f"cmd /c cd /d {_windows_quoted(str(workdir))} && {tool}"
    return (
        f"schtasks /Create /SC WEEKLY /D {day} /ST {hour:02d}:{minute:02d} "
        f'/TN "{TASK_NAME}" /TR "{action}"'
    )


def schedule_text(
    python: str,
    script: Path | None,
    workdir: Path,
    weekday: str = "Mon",
    time: str = "07:00",
    args: Sequence[str] = (),
) -> str:
    """All three entries, each introduced by what it does and where it goes; `args` go
    after `run` (the workbook and settings named to `schedule`).

    A path with a line break is refused: it would split an entry into lines
    that cron or the unit file reads as commands of their own.
    """
    for path in (python, str(script or ""), str(workdir), *args):
        if "\n" in path or "\r" in path:
            raise ScheduleError(
                f"the path {path!r} contains a line break, which no scheduler entry can hold; "
                "rename the folder (or move the billing folder) and run schedule again."
            )
    hour, minute = parse_time(time)
    when = f"every {parse_weekday(weekday)[1]} at {hour:02d}:{minute:02d}"
    return "\n".join(
        [
            f"Weekly billing run, {when}, in {workdir}. Use the entry for your system.",
            "",
            "== cron (Linux, macOS): run `crontab -e` and add this line ==",
            f"# Runs the billing {when}; output goes to {CRON_LOG}. A week missed",
            "# while the computer is off is not caught up (the systemd timer does that).",
            cron_entry(python, script, workdir, weekday, time, args),
            "",
            "== systemd (Linux): save the two files below in ~/.config/systemd/user/ ==",
            f"# A user timer that runs the billing {when}, catching up after downtime.",
            systemd_units(python, script, workdir, weekday, time, args),
            "Then run:  systemctl --user daemon-reload && "
            "systemctl --user enable --now billing.timer",
            "To run it even while you are logged out:  loginctl enable-linger $USER",
            "",
            "== Windows Task Scheduler: paste into a Command Prompt (cmd.exe) ==",
            f'rem Creates the task "{TASK_NAME}" that runs the billing {when}.',
            schtasks_command(python, script, workdir, weekday, time, args),
            "",
        ]
    )

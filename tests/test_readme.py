"""Every shell command the README shows is run, so the manual cannot drift from the tool.

Commands are the lines of the README's code blocks (indented, or fenced as
`sh`, `bash`, `console`, `shell` or without a language) that start with
`run-billing`, `python`, `pip`, `pipx` or `cd`. Each block runs as one bash
session, in a scratch folder holding a copy of the sample workbook and its
billing.toml, with HOME in a scratch folder too (so `~/billing` is private),
`run-billing` and `/path/to/run_billing.py` meaning this checkout. A command
ends with 0 or 1 (1: the sample has rows with mistakes on purpose), prints no
traceback and does not crash. A line ending with `# needs: <what>` needs
something a test cannot have (PyPI, a Microsoft 365 account, the test suite
itself) and is listed as skipped. Fenced `text` blocks (synopses) are not run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from automation.bundled import SAMPLE_CONFIG, SAMPLE_WORKBOOK

REPO = Path(__file__).resolve().parent.parent
PROGRAMS = ("run-billing", "python", "pip", "pipx", "cd")
NEEDS = re.compile(r"#\s*needs:\s*(.+)$")
SHELL_FENCES = {"", "sh", "bash", "console", "shell"}


@dataclass(frozen=True)
class Block:
    line: int  # where the block starts in README.md
    commands: tuple[str, ...]
    skipped: tuple[str, ...]


def code_blocks(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of every indented block and shell-fenced block."""
    blocks: list[tuple[int, list[str]]] = []
    lines = text.splitlines()
    fence: str | None = None
    current: list[str] = []
    start = 0
    previous_blank = True
    for number, line in enumerate(lines, start=1):
        if fence is not None:
            if line.strip().startswith("```"):
                if fence in SHELL_FENCES:
                    blocks.append((start, current))
                fence, current = None, []
            else:
                current.append(line)
            continue
        if line.strip().startswith("```"):
            fence, start, current = line.strip()[3:].strip().lower(), number + 1, []
            continue
        indented = line.startswith("    ") and not line.lstrip().startswith(("-", "*"))
        if indented and (previous_blank or current):
            if not current:
                start = number
            current.append(line[4:])
        elif current and line.strip():
            blocks.append((start, current))
            current = []
        previous_blank = not line.strip()
    if current and fence is None:
        blocks.append((start, current))
    return blocks


def readme_blocks() -> list[Block]:
    found = []
    for start, lines in code_blocks((REPO / "README.md").read_text(encoding="utf-8")):
        commands, skipped = [], []
        for line in lines:
            words = line.split()
            if not words or words[0] not in PROGRAMS:
                continue
            (skipped if NEEDS.search(line) else commands).append(line.strip())
        if commands or skipped:
            found.append(Block(start, tuple(commands), tuple(skipped)))
    return found


BLOCKS = readme_blocks()


def test_the_readme_shows_commands_to_run() -> None:
    commands = [c for b in BLOCKS for c in b.commands]
    assert any(c.startswith("run-billing --demo") for c in commands)
    assert any(c.startswith("python run_billing.py") for c in commands)
    assert len(commands) >= 8


def test_no_link_leaves_the_repository() -> None:
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or a heading of the same page
            assert (doc.parent / target.split("#")[0]).resolve().is_relative_to(REPO), target
            assert (doc.parent / target.split("#")[0]).exists(), (doc.name, target)
    assert "docs/workbook.md" in (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README line {b.line}" for b in BLOCKS])
def test_readme_commands_run(block: Block, tmp_path: Path) -> None:
    if not block.commands:
        pytest.skip(
            "; ".join(
                f"{c.split('#')[0].strip()}: needs {NEEDS.search(c)[1]}"  # type: ignore[index]
                for c in block.skipped
            )
        )
    home, work, shims = tmp_path / "home", tmp_path / "work", tmp_path / "bin"
    for folder in (home, work, shims):
        folder.mkdir()
    shutil.copy2(SAMPLE_WORKBOOK, work / SAMPLE_WORKBOOK.name)
    shutil.copy2(SAMPLE_CONFIG, work / SAMPLE_CONFIG.name)
    tool = f'exec "{sys.executable}" "{REPO / "run_billing.py"}" "$@"\n'
    (shims / "run-billing").write_text("#!/bin/sh\n" + tool)
    (shims / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    for shim in shims.iterdir():
        shim.chmod(0o755)
    script = []
    for command in block.commands:
        line = command.replace("/path/to/run_billing.py", str(REPO / "run_billing.py"))
        line = re.sub(r"^python run_billing\.py", f'python "{REPO / "run_billing.py"}"', line)
        script.append(f'{line}\necho "__exit=$?"')
    env = {
        **os.environ,
        "HOME": str(home),
        "TMPDIR": str(tmp_path),
        "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "COLUMNS": "120",
    }
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    codes = [int(c) for c in re.findall(r"__exit=(\d+)", done.stdout)]
    report = f"{block.commands}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert len(codes) == len(block.commands), report
    assert all(code in (0, 1) for code in codes), report
    assert "Traceback" not in done.stderr + done.stdout, report

"""`python -m automation ...` works like `run_billing.py ...` (scheduled runs of an install).

`program` is also the installed `run-billing` command. It imports the
command line when it runs, not when this module is imported: the
`run-billing` script imports this module at its top, and each render worker
imports the program's main script again (multiprocessing), where the command
line is not needed.
"""

from __future__ import annotations


def program() -> int:
    """The command line (automation.cli.program) on this process's arguments."""
    from .cli import program as run_command_line

    return run_command_line()


if __name__ == "__main__":
    raise SystemExit(program())

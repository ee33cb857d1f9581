"""The run's exit codes and the two errors that stop it before anything changes.

>>> EXIT_UNUSABLE, EXIT_BUSY
(2, 3)
"""

from __future__ import annotations

EXIT_OK, EXIT_ATTENTION, EXIT_UNUSABLE, EXIT_BUSY = 0, 1, 2, 3


class UnusableError(Exception):
    """Config, workbook or mail login cannot be used: exit 2, nothing changed."""


class BusyError(Exception):
    """The workbook is open elsewhere or another run holds the lock: exit 3."""

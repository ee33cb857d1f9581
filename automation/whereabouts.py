"""Where the billing record was last used: a folder copied or moved is told, once.

Every run records in the ledger the billing folder it ran in and the computer's
name (`Ledger.start_run`). Two copies of the folder (`.billing/` included) that
both run issue the same invoice numbers to different clients, and nothing can
stop two computers that never talk; but the copy's first run finds the record
last used somewhere else, and says so (exit 1). A move made on purpose is told
that once: the run records its own place, and the runs after it find that.

    place = here(paths)
    moved = moved_error(ledger.last_place(), place)   # None: last used here
    ledger.start_run(as_of, place.folder, place.computer)
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .model import RowError
from .request import Paths


@dataclass(frozen=True)
class Place:
    """Where a run ran: the billing folder (resolved) and the computer's name."""

    folder: str
    computer: str


def computer_name() -> str:
    """This computer's network name, as its owner set it ("" where it has none)."""
    return socket.gethostname()


def here(paths: Paths) -> Place:
    """This run's place: the folder holding `.billing/`, and this computer."""
    return Place(str(paths.billing.parent), computer_name())


def moved_error(last: tuple[str, str, datetime] | None, place: Place) -> RowError | None:
    """What to tell when the latest run recorded (`Ledger.last_place`) ran in another
    folder or on another computer than `place`; None when it ran here (or did not say
    where: a ledger from before the tool recorded it)."""
    if last is None:
        return None
    folder, computer, started = last
    same_computer = computer.casefold() == place.computer.casefold()
    if same_computer and _same_folder(folder, place.folder):
        return None
    if same_computer:
        where = f"in {folder} (on this computer)"
        still = (
            ", and a billing record is still there"
            if (Path(folder) / ".billing" / "ledger.sqlite").exists()
            else ""
        )
    else:
        where, still = f"in {folder} on the computer {computer or '(unnamed)'}", ""
    return RowError(
        "",
        None,
        None,
        f"this billing folder's record (.billing/ledger.sqlite) was last used {where} on "
        f"{started.date().isoformat()}{still}; this run is in {place.folder} on "
        f"{place.computer or 'this computer'}. If that folder is still in use, the two "
        "copies will issue the same invoice numbers to different clients and send the "
        "same reminders twice: keep one (run only there, or copy its .billing/ here first) "
        "and stop using the other. Moved on purpose (a new computer or folder)? Then "
        "nothing is wrong: this is said once.",
    )


def _same_folder(recorded: str, folder: str) -> bool:
    """Whether two paths name one folder: the same spelling, or (a link, another
    spelling of the same drive) the same folder on disk."""
    if os.path.normcase(recorded) == os.path.normcase(folder):
        return True
    try:
        return os.path.samefile(recorded, folder)
    except OSError:
        return False

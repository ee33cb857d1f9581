"""The run log is best effort: a full disk or a logs folder the run may not write in is
never a Python traceback on the terminal."""

from __future__ import annotations

import contextlib
import logging
from datetime import date
from pathlib import Path

import pytest
from conftest import Folder, client, service, write_workbook

from automation import cli


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_line_the_disk_has_no_room_for_is_left_out_quietly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = cli._RunLog("/dev/full", encoding="utf-8")
    logger = logging.getLogger("test_run_log")
    logger.addHandler(handler)
    try:
        logger.warning("a line for a full disk")
    finally:
        logger.removeHandler(handler)
        with contextlib.suppress(OSError):
            handler.close()
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err


def test_a_log_file_the_run_may_not_make_is_no_crash(
    folder: Folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The logs folder is there but refuses a new file (another user's, a full disk's
    last inode): the run goes on without its log."""

    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli, "_RunLog", refused)
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert folder.run("--as-of", "2026-03-09") == 0
    assert len(folder.received) == 1

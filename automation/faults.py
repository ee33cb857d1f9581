"""Named points where the crash-safety tests kill the run.

Set `BILLING_FAULT=<point>` and the process dies there with SIGKILL, as if
the power went out: no cleanup, no `finally`. Unset (always, in real use),
`checkpoint` does nothing.

>>> checkpoint("after-numbering")  # no BILLING_FAULT set: a no-op
"""

from __future__ import annotations

import os
import signal

#: Every point the pipeline passes through, in order.
POINTS = (
    "before-credit-notes",
    "after-numbering",
    "after-render",
    "after-send",
    "before-writeback",
    "mid-writeback",
    "after-replace",
)
#: Points only a run that emails monthly statements passes.
STATEMENT_POINTS = ("after-statement-send",)


#: Read once: the tests set it in the environment of the run they start, and
#: the send loop passes a checkpoint for every message.
FAULT = os.environ.get("BILLING_FAULT")


def checkpoint(point: str) -> None:
    """Die here when BILLING_FAULT names this point (tests only)."""
    if FAULT is not None and point == FAULT:
        os.kill(os.getpid(), signal.SIGKILL)

"""The run log's format: one entry per record, whatever text the record carries.

Every line after a record's first is indented with `  | `, so a summary or a
traceback stays readable and nothing in it (a client's name, a server's reply)
can start a line that looks like an entry of the log:

>>> import logging
>>> record = logging.LogRecord("automation", 20, "", 0, "summary\\n%s", ("a",), None)
>>> print(LogFormatter("%(levelname)s %(message)s").format(record))
INFO summary
  | a
"""

from __future__ import annotations

import logging
import re

CONTINUATION = "\n  | "
_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


class LogFormatter(logging.Formatter):
    """Formats a record, marking each of its later lines as a continuation."""

    def format(self, record: logging.LogRecord) -> str:
        return CONTINUATION.join(_BREAKS.split(super().format(record)))

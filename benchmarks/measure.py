"""What the benchmark scripts share: peak memory, and the straightforward yagmail client.

Imported by the scripts in this folder (their folder is first on sys.path).
"""

from __future__ import annotations

import resource
from pathlib import Path

import yagmail


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    /proc's VmHWM belongs to this program alone; ru_maxrss (the fallback off
    Linux) also remembers the parent's peak from before exec.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plain_yagmail(sender: str, port: int) -> yagmail.SMTP:
    """yagmail as a straightforward script uses it, to a loopback server without TLS."""
    return yagmail.SMTP(
        sender,
        host="127.0.0.1",
        port=port,
        smtp_ssl=False,
        smtp_starttls=False,
        smtp_skip_login=True,
        soft_email_validation=False,
    )

"""Several SMTP connections at once (`[email] connections = N`), each an `SmtpSender`.

A pool owns N lanes; each lane is one `SmtpSender` with its own connection,
reconnecting on its own when its connection drops, while the others go on.
The pool only opens and closes them: which message goes on which lane, and
when, is `delivery.deliver`'s, which hands a message to exactly one lane at a
time and records every step in the ledger on its own thread.

The first connection is opened and signed in alone, so a refused password or
sign-in stops the run exactly as with one connection, before anything is
numbered or sent. The others are opened together after it; one that the
server turns away (many providers cap connections per mailbox) is left out
and the run goes on with the rest, saying so in the run log.

OAuth: every lane shares one `oauth.SignIn`, which refreshes the access token
once for all of them (under its lock), whichever lane finds it expiring first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

from .config import EmailConfig
from .mail import BuiltMessage, MailLoginError, SendResult, SmtpSender
from .oauth import SignIn

log = logging.getLogger(__name__)


class SmtpPool:
    """N authenticated SMTP connections to one server, used at once by `delivery.deliver`.

    Attributes:
      lanes: the senders whose connection opened, the first one first.
      shortfall: why some connections could not be opened ("" when all did).
    """

    def __init__(self, cfg: EmailConfig, sign_in: SignIn | None = None) -> None:
        self.cfg = cfg
        self._wanted = tuple(SmtpSender(cfg, sign_in) for _ in range(max(1, cfg.connections)))
        self.lanes: tuple[SmtpSender, ...] = ()
        self.shortfall = ""
        self._smtputf8 = False

    def __enter__(self) -> SmtpPool:
        first, rest = self._wanted[0], self._wanted[1:]
        first.__enter__()  # a refused login raises here, as with one connection
        opened = [first]
        problems: list[str] = []
        try:
            if rest:
                with ThreadPoolExecutor(len(rest), thread_name_prefix="smtp-open") as workers:
                    for lane, problem in zip(rest, workers.map(_open, rest), strict=True):
                        if problem:
                            problems.append(problem)
                        else:
                            opened.append(lane)
        except BaseException:
            self.close()  # interrupted while opening: no connection is left behind
            raise
        self.lanes = tuple(opened)
        if problems:
            self.shortfall = (
                f"{len(opened)} of {len(self._wanted)} SMTP connections to {self.cfg.host} "
                f"could be opened ({problems[0].rstrip('.')}); the run sends over {len(opened)}. "
                "Lower [email] connections if the server allows fewer."
            )
            log.warning("%s", self.shortfall)
        # The same server answers every lane: what it offers is known from the first.
        self._smtputf8 = first.smtputf8
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        for lane in self._wanted:
            lane.close()

    @property
    def smtputf8(self) -> bool:
        return self._smtputf8

    def send(self, msg: BuiltMessage, recipients: Sequence[str] | None = None) -> SendResult:
        """One message on the first lane (a lone message such as the run's report)."""
        return self.lanes[0].send(msg, recipients)


def connections_text(cfg: EmailConfig) -> str:
    """What `check` says about `[email] connections` above 1."""
    if cfg.mode == "outbox":
        return (
            f"[email] connections = {cfg.connections} has no effect in outbox mode: "
            "messages are written to files, not sent."
        )
    return (
        f"Mail: the run sends over {cfg.connections} SMTP connections at once to "
        f"{cfg.host}:{cfg.effective_port}, each message over one of them."
    )


def _open(lane: SmtpSender) -> str:
    """Open one more lane: "" when it is ready, else why not."""
    try:
        lane.__enter__()
    except MailLoginError as exc:
        return str(exc)
    return ""

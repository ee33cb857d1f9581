"""A real Postfix for the integration tests: its own instance on a free loopback port.

The instance has its own config, queue and Maildir folders under a temporary
directory, delivers every accepted address to `<maildir>/<address>/new/`
through Postfix's `virtual` agent, refuses the addresses of an access map
(`REJECT`), and asks a policy service for every recipient: the test's own
greylisting service (the protocol postgrey speaks) answers `DEFER_IF_PERMIT`
the first N times an address is seen, then `DUNNO`.

    with running_postfix(refuse={"typo@x.example"}, greylist={"ann@x.example": 2},
                         domains={"x.example"}) as postfix:
        ...  # send to 127.0.0.1:postfix.port, then postfix.copies("ann@x.example")

Starting one needs root (Postfix's master drops privileges itself) and the
`postfix` package; `unavailable()` says why a test must skip.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
MASTER_CF = """\
{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       1       1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def unavailable() -> str | None:
    """Why no Postfix can be started here, or None."""
    if not Path(POSTFIX).exists():
        return "postfix is not installed (Debian: apt-get install postfix)"
    if os.geteuid() != 0:
        return "starting a Postfix instance needs root"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "there is no postfix user"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Greylist(socketserver.StreamRequestHandler):
    """Postfix policy delegation: attribute lines, a blank line, then `action=...`."""

    def handle(self) -> None:
        server: _PolicyServer = self.server  # type: ignore[assignment]
        attributes: dict[str, str] = {}
        for raw in self.rfile:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line:
                name, _, value = line.partition("=")
                attributes[name] = value
                continue
            address = attributes.get("recipient", "").lower()
            with server.lock:
                left = server.greylist.get(address, 0)
                if left:
                    server.greylist[address] = left - 1
            action = "DEFER_IF_PERMIT greylisted, try again later" if left else "DUNNO"
            self.wfile.write(f"action={action}\n\n".encode())
            self.wfile.flush()
            attributes = {}


class _PolicyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, greylist: dict[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), _Greylist)
        self.greylist = {k.lower(): v for k, v in greylist.items()}
        self.lock = threading.Lock()


@dataclass
class Postfix:
    """A running instance: its SMTP port and the Maildir root it delivers to."""

    port: int
    root: Path
    maildir: Path
    greylist: dict[str, int] = field(default_factory=dict)

    def mailbox(self, address: str) -> list[bytes]:
        """The messages delivered to this address (its Maildir's `new/`)."""
        folder = self.maildir / address.lower() / "new"
        return [p.read_bytes() for p in sorted(folder.glob("*"))] if folder.is_dir() else []

    def copies(self, address: str) -> int:
        return len(self.mailbox(address))

    def wait_for(self, expected: dict[str, int], timeout: float = 20.0) -> None:
        """Wait until the mailboxes hold at least these counts (delivery is asynchronous)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.copies(a) >= n for a, n in expected.items()):
                return
            time.sleep(0.05)
        got = {a: self.copies(a) for a in expected}
        raise AssertionError(f"Postfix delivered {got}, expected {expected}; log:\n{self.log()}")

    def settle(self, timeout: float = 20.0) -> None:
        """Wait until the queue is empty: everything accepted has been delivered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            queue = self.root / "queue"
            if not any(p.is_file() for q in _QUEUES for p in (queue / q).rglob("*")):
                return
            time.sleep(0.05)
        raise AssertionError(f"Postfix queue not empty; log:\n{self.log()}")

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"


_QUEUES = {"incoming", "active", "deferred", "maildrop", "hold"}


def _main_cf(root: Path, policy_port: int, domains: set[str], uid: int, gid: int) -> str:
    names = " ".join(sorted(domains))
    return f"""\
compatibility_level = 3.6
queue_directory = {root / "queue"}
data_directory = {root / "data"}
meta_directory = /etc/postfix
daemon_directory = /usr/lib/postfix/sbin
command_directory = /usr/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.test
mydomain = test
myorigin = mail.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = {root / "maillog"}
maillog_file_prefixes = {root}
smtpd_banner = $myhostname ESMTP
smtputf8_enable = no
biff = no
virtual_mailbox_domains = {names}
virtual_mailbox_base = {root / "mail"}
virtual_mailbox_maps = texthash:{root / "etc" / "mailboxes"}
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
smtpd_recipient_restrictions =
    check_recipient_access texthash:{root / "etc" / "access"},
    check_policy_service inet:127.0.0.1:{policy_port},
    permit_mynetworks, reject_unauth_destination
access_map_reject_code = 550
smtpd_delay_reject = yes
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
"""


@contextmanager
def running_postfix(
    mailboxes: set[str], refuse: set[str], greylist: dict[str, int]
) -> Iterator[Postfix]:
    """Start a private Postfix for the block; `mailboxes` are the addresses it delivers."""
    why = unavailable()
    if why:
        raise RuntimeError(why)
    user = pwd.getpwnam("postfix")
    root = Path(tempfile.mkdtemp(prefix="billing-postfix-"))
    policy = _PolicyServer(greylist)
    thread = threading.Thread(target=policy.serve_forever, daemon=True)
    thread.start()
    started = False
    try:
        os.chmod(root, 0o755)  # the postfix user must reach its queue below it
        for sub in ("etc", "queue", "data", "mail"):
            (root / sub).mkdir()
        os.chown(root / "data", user.pw_uid, user.pw_gid)
        os.chown(root / "mail", user.pw_uid, user.pw_gid)
        domains = {a.rpartition("@")[2] for a in mailboxes | refuse}
        port = free_port()
        etc = root / "etc"
        (etc / "main.cf").write_text(
            _main_cf(root, policy.server_address[1], domains, user.pw_uid, user.pw_gid)
        )
        (etc / "master.cf").write_text(MASTER_CF.format(port=f"127.0.0.1:{port}"))
        (etc / "mailboxes").write_text("".join(f"{a} {a.lower()}/\n" for a in sorted(mailboxes)))
        (etc / "access").write_text(
            "".join(f"{a} REJECT 5.1.1 no such mailbox here\n" for a in sorted(refuse))
        )
        subprocess.run(
            [POSTFIX, "-c", str(etc), "start"], check=True, capture_output=True, timeout=60
        )
        started = True
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield Postfix(port, root, root / "mail", policy.greylist)
    finally:
        if started:
            subprocess.run(
                [POSTFIX, "-c", str(root / "etc"), "stop"], capture_output=True, timeout=60
            )
        policy.shutdown()
        policy.server_close()
        shutil.rmtree(root, ignore_errors=True)

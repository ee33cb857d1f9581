"""`[email] connections = N`: several SMTP connections at once, never a message twice.

Against aiosmtpd on loopback: every message arrives exactly once and several
sessions really carried mail at the same time (the server counts DATA
commands in progress together); a connection dropped mid-batch is reopened
while the others go on; a 421 or a greylisting 450 goes through the retry
queue as with one connection; a server that takes fewer connections than
asked is used with those it takes; a refused login stops the run before
anything is numbered; config errors name the option; a run killed while
sending on three connections is finished by the next run with identical
copies only.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from smtp_servers import Recorder, password_checker, running_server
from test_crash import assert_invariants, finish, run_child

from automation.cli import main
from automation.config import EmailConfig
from automation.delivery import Outcome, Parcel, RetryPolicy, deliver
from automation.mail import (
    BuiltMessage,
    OutgoingMail,
    RecipientResult,
    SendResult,
    SmtpSender,
    build_message,
    make_message_id,
    open_sender,
)
from automation.model import CompanyInfo
from automation.render import PARALLEL_THRESHOLD
from automation.smtp_pool import SmtpPool

pytestmark = pytest.mark.timeout(120)

AS_OF = "2026-03-09"
COMPANY = CompanyInfo(name="Acme", email="billing@acme.test")


def names(count: int) -> list[str]:
    return [f"Client {i:02d}" for i in range(1, count + 1)]


def address(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum()) + "@clients.example"


def make_log(folder: Folder, clients: list[str]) -> None:
    write_workbook(
        folder.workbook,
        [client(name) for name in clients],
        [service(date(2026, 3, 2), name, "Bookkeeping", 1, 100) for name in clients],
    )


def pooled_folder(tmp_path: Path, recorder: Recorder, port: int, email: str = "") -> Folder:
    folder = Folder(tmp_path, recorder, port)
    folder.write_config(email=f"connections = 3\nretry_window = 0.6\nmax_retries = 3\n{email}")
    return folder


def pooled_run(tmp_path: Path, recorder: Recorder, clients: list[str]) -> tuple[Folder, int]:
    """One weekly run on three connections against this server: the folder and exit code."""
    with running_server(recorder) as port:
        folder = pooled_folder(tmp_path, recorder, port)
        make_log(folder, clients)
        return folder, folder.run("--as-of", AS_OF)


def statuses(folder: Folder) -> dict[str, str]:
    frame = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    return dict(zip(frame["Client"], frame["Status"], strict=True))


def each_once(recorder: Recorder, clients: list[str]) -> None:
    got = [r.rcpt_tos[0] for r in recorder.received]
    assert sorted(got) == sorted(address(n) for n in clients)
    assert len(set(recorder.message_ids)) == len(clients)


# -- the loop over several lanes -------------------------------------------------------


class Log:
    """A Journal that remembers what the loop told it, and on which thread."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.outcomes: list[Outcome] = []
        self.threads: set[str] = set()

    def _note(self, what: str, parcel: Parcel) -> None:
        import threading

        self.threads.add(threading.current_thread().name)
        self.events.append((what, parcel.message.message_id))

    def attempting(self, parcel: Parcel) -> None:
        self._note("attempt", parcel)

    def attempted(self, parcel: Parcel, results: tuple[RecipientResult, ...]) -> None:
        self._note("answer", parcel)

    def finished(self, outcome: Outcome) -> None:
        self._note("finished", outcome.parcel)
        self.outcomes.append(outcome)


def three_lanes(port: int) -> EmailConfig:
    return EmailConfig(
        mode="smtp", host="127.0.0.1", port=port, security="none", sender="b@acme.test",
        connections=3,
    )  # fmt: skip


def built(cfg: EmailConfig, n: int) -> BuiltMessage:
    mail = OutgoingMail(
        "invoice", f"INV-{n}", (f"c{n}@example.com",), (), f"Invoice {n}", "text", "", (),
        make_message_id(cfg, COMPANY),
    )  # fmt: skip
    return build_message(mail, cfg, COMPANY)


def test_three_lanes_send_at_once_and_record_in_order_on_one_thread() -> None:
    recorder = Recorder(data_delay=0.05)
    with running_server(recorder) as port:
        cfg = three_lanes(port)
        messages = [built(cfg, n) for n in range(12)]
        log = Log()
        with open_sender(cfg, COMPANY) as sender:
            assert isinstance(sender, SmtpPool) and len(sender.lanes) == 3
            started = time.monotonic()
            deliver([Parcel(m, m.recipients) for m in messages], sender, RetryPolicy(1, 2), log)
            took = time.monotonic() - started
    assert sorted(recorder.message_ids) == sorted(m.message_id for m in messages)
    assert len(recorder.received) == 12
    assert len(recorder.greeted) == 3 and recorder.peak_data >= 2
    assert took < 12 * 0.05  # one connection would need 0.6 s of DATA alone
    # Every journal step on the caller's thread; answers recorded in the order handed out.
    assert log.threads == {"MainThread"}
    ids = [m.message_id for m in messages]
    assert [e[1] for e in log.events if e[0] == "attempt"] == ids
    assert [e[1] for e in log.events if e[0] == "answer"] == ids
    assert [o.parcel.message.message_id for o in log.outcomes] == ids
    for what, message_id in log.events:
        if what == "answer":  # marked before it was handed over
            assert log.events.index(("attempt", message_id)) < log.events.index((what, message_id))


def test_a_slow_message_holds_at_most_two_attempts_per_lane_unrecorded() -> None:
    recorder = Recorder(linger={"c0@example.com": 1.0})
    with running_server(recorder) as port:
        cfg = three_lanes(port)
        messages = [built(cfg, n) for n in range(20)]
        arrived_by_first_answer: list[int] = []

        class Watch(Log):
            def attempted(self, parcel: Parcel, results: tuple[RecipientResult, ...]) -> None:
                if parcel.message.message_id == messages[0].message_id:
                    arrived_by_first_answer.append(len(recorder.received))
                super().attempted(parcel, results)

        log = Watch()
        with open_sender(cfg, COMPANY) as sender:
            deliver([Parcel(m, m.recipients) for m in messages], sender, RetryPolicy(1, 2), log)
    assert len(recorder.received) == 20
    # While the first answer was awaited, the two other lanes went on, as far as the
    # window: 2 per lane (one on the wire and one queued, or one answered and one on the
    # wire), 6 in all; one queued behind the slow message, if any, waited with it.
    assert len(arrived_by_first_answer) == 1 and 5 <= arrived_by_first_answer[0] <= 6


def test_an_interrupt_records_the_answers_of_messages_already_out() -> None:
    recorder = Recorder(data_delay=0.05)
    with running_server(recorder) as port:
        cfg = three_lanes(port)
        messages = [built(cfg, n) for n in range(12)]

        class Interrupted(Log):
            def attempting(self, parcel: Parcel) -> None:
                if parcel.message.message_id == messages[6].message_id:
                    raise KeyboardInterrupt  # Ctrl-C while three are on the wire
                super().attempting(parcel)

        log = Interrupted()
        with open_sender(cfg, COMPANY) as sender, pytest.raises(KeyboardInterrupt):
            deliver([Parcel(m, m.recipients) for m in messages], sender, RetryPolicy(1, 2), log)
    arrived = set(recorder.message_ids)
    answered = {m for what, m in log.events if what == "answer"}
    assert arrived and arrived == answered  # whatever reached the server is recorded
    assert messages[6].message_id not in arrived


def test_a_greylisted_message_waits_while_the_other_lanes_go_on() -> None:
    recorder = Recorder(defer={"c0@example.com": 2})
    with running_server(recorder) as port:
        cfg = three_lanes(port)
        messages = [built(cfg, n) for n in range(6)]
        log = Log()
        with open_sender(cfg, COMPANY) as sender:
            deliver([Parcel(m, m.recipients) for m in messages], sender, RetryPolicy(0.3, 3), log)
    assert recorder.rcpt_commands.count("c0@example.com") == 3
    assert sorted(recorder.message_ids) == sorted(m.message_id for m in messages)
    last = log.outcomes[-1]
    assert last.parcel.message.message_id == messages[0].message_id and last.attempts == 3
    assert last.addresses("sent") == ("c0@example.com",)


def test_one_connection_goes_on_to_the_next_message_while_an_answer_is_recorded() -> None:
    """The connection never waits for the ledger between two messages.

    With one connection the next attempt is marked (its `sending` flush) while
    the one before is on the wire, and queued behind it: it goes out the
    moment the server answered, while the run's thread records that answer.
    """
    recorder = Recorder(data_delay=0.05)
    with running_server(recorder) as port:
        cfg = replace(three_lanes(port), connections=1)
        messages = [built(cfg, n) for n in range(6)]
        after_answer: list[int] = []

        class SlowLedger(Log):
            def attempted(self, parcel: Parcel, results: tuple[RecipientResult, ...]) -> None:
                time.sleep(0.3)  # a slow disk: the next message is on the wire meanwhile
                after_answer.append(len(recorder.received))
                super().attempted(parcel, results)

        log = SlowLedger()
        with open_sender(cfg, COMPANY) as sender:
            assert not isinstance(sender, SmtpPool)
            deliver([Parcel(m, m.recipients) for m in messages], sender, RetryPolicy(1, 2), log)
    assert recorder.message_ids == [m.message_id for m in messages]
    assert log.threads == {"MainThread"}
    # Two marked before the first answer: one on the wire and one queued behind it.
    assert [e[0] for e in log.events[:3]] == ["attempt", "attempt", "answer"]
    for message in messages:
        assert log.events.index(("attempt", message.message_id)) < log.events.index(
            ("answer", message.message_id)
        )
    # Each next message was delivered while the answer before it was being recorded:
    # never more than one message ahead of the ledger.
    assert after_answer == [2, 3, 4, 5, 6, 6]
    assert [o.parcel.message.message_id for o in log.outcomes] == [m.message_id for m in messages]


def test_an_interrupt_takes_back_the_attempts_queued_behind_the_wire() -> None:
    recorder = Recorder(data_delay=0.6)
    with running_server(recorder) as port:
        cfg = replace(three_lanes(port), connections=1)
        messages = [built(cfg, n) for n in range(6)]
        log = Log()

        def clock() -> float:
            marked = [m for what, m in log.events if what == "attempt"]
            if len(marked) == 2:  # Ctrl-C: one on the wire, the next queued behind it
                time.sleep(0.2)  # the first is at the server (which takes 0.6 s to answer)
                raise KeyboardInterrupt
            return time.monotonic()

        with open_sender(cfg, COMPANY) as sender, pytest.raises(KeyboardInterrupt):
            deliver(
                [Parcel(m, m.recipients) for m in messages], sender, RetryPolicy(1, 2), log, clock
            )
    # The first was on the wire: its answer is waited for and recorded. The second,
    # marked and queued, never left: it stays `sending` and the next run sends it once.
    assert recorder.message_ids == [messages[0].message_id]
    assert [m for what, m in log.events if what == "answer"] == [messages[0].message_id]
    assert [m for what, m in log.events if what == "attempt"] == [
        messages[0].message_id, messages[1].message_id
    ]  # fmt: skip


def test_a_lane_that_fails_stops_the_loop_and_leaves_no_thread_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = Recorder()
    with running_server(recorder) as port:
        cfg = replace(three_lanes(port), connections=1)
        messages = [built(cfg, n) for n in range(4)]
        real_send = SmtpSender.send

        def send(self: SmtpSender, message: BuiltMessage, recipients: Sequence[str]) -> SendResult:
            if message.message_id == messages[1].message_id:
                raise RuntimeError("the lane broke")
            return real_send(self, message, recipients)

        monkeypatch.setattr(SmtpSender, "send", send)
        log = Log()
        before = threading.active_count()
        with open_sender(cfg, COMPANY) as sender, pytest.raises(RuntimeError, match="lane broke"):
            deliver([Parcel(m, m.recipients) for m in messages], sender, RetryPolicy(1, 2), log)
        assert threading.active_count() == before
    assert recorder.message_ids == [messages[0].message_id]
    assert [m for what, m in log.events if what == "answer"] == [messages[0].message_id]


# -- whole runs ----------------------------------------------------------------------


def test_a_run_on_three_connections_delivers_each_invoice_once(tmp_path: Path) -> None:
    clients = names(PARALLEL_THRESHOLD + 6)  # enough for the render workers: sending overlaps
    recorder = Recorder(data_delay=0.02)
    with running_server(recorder) as port:
        folder = pooled_folder(tmp_path, recorder, port)
        make_log(folder, clients)
        assert folder.run("--as-of", AS_OF) == 0
        each_once(recorder, clients)
        assert len(recorder.greeted) == 3 and recorder.peak_data >= 2
        assert set(statuses(folder).values()) == {"Sent"}
        assert folder.run("--as-of", AS_OF) == 0  # nothing owed: nothing goes again
    each_once(recorder, clients)
    conn = sqlite3.connect(folder.root / ".billing" / "ledger.sqlite")
    try:
        assert {s for (s,) in conn.execute("SELECT state FROM messages")} == {"sent"}
    finally:
        conn.close()


def test_a_connection_dropped_mid_batch_is_reopened_while_the_others_go_on(
    tmp_path: Path,
) -> None:
    clients = names(9)
    # After the 2nd and 5th messages their connections die: the next MAIL meets a hang-up.
    recorder = Recorder(close_after=frozenset({2, 5}), data_delay=0.02)
    folder, code = pooled_run(tmp_path, recorder, clients)
    assert code == 0
    each_once(recorder, clients)
    # three, and a new session for each dropped one that had more to send (the second's
    # always has; the fifth message may be the last its lane gets when the machine is busy)
    assert len(recorder.greeted) in (4, 5)
    assert set(statuses(folder).values()) == {"Sent"}


def test_a_message_lost_after_data_on_one_lane_is_resent_identical_next_run(
    tmp_path: Path,
) -> None:
    clients = names(6)
    recorder = Recorder(vanish_on=frozenset({3}))
    with running_server(recorder) as port:
        folder = pooled_folder(tmp_path, recorder, port)
        make_log(folder, clients)
        assert folder.run("--as-of", AS_OF) == 1
        lost = recorder.received[2]
        assert list(statuses(folder).values()).count("Failed") == 1
        assert len(recorder.received) == 6  # the others went on
        assert folder.run("--as-of", "2026-03-10") == 0
    again = [r for r in recorder.received if r.rcpt_tos == lost.rcpt_tos]
    assert len(again) == 2 and again[0].data == again[1].data  # the identical message
    assert len(recorder.received) == 7
    assert set(statuses(folder).values()) == {"Sent"}


def test_a_421_on_one_connection_goes_through_the_retry_queue(tmp_path: Path) -> None:
    clients = names(6)
    recorder = Recorder(busy_times=1)
    folder, code = pooled_run(tmp_path, recorder, clients)
    assert code == 0
    each_once(recorder, clients)
    assert recorder.mail_commands == 7
    assert set(statuses(folder).values()) == {"Sent"}


def test_greylisting_on_three_connections_is_retried_within_the_run(tmp_path: Path) -> None:
    clients = names(6)
    recorder = Recorder(defer={address(clients[0]): 2})
    folder, code = pooled_run(tmp_path, recorder, clients)
    assert code == 0
    each_once(recorder, clients)
    assert recorder.rcpt_commands.count(address(clients[0])) == 3
    assert recorder.received[-1].rcpt_tos == [address(clients[0])]


def test_a_server_taking_fewer_connections_is_used_with_those_it_takes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    clients = names(6)
    recorder = Recorder(max_sessions=2, data_delay=0.02)
    with running_server(recorder) as port:
        folder = pooled_folder(tmp_path, recorder, port)
        folder.write_config(email="connections = 4")
        make_log(folder, clients)
        with caplog.at_level("WARNING"):
            assert folder.run("--as-of", AS_OF) == 0
    each_once(recorder, clients)
    assert recorder.turned_away == 2
    assert "2 of 4 SMTP connections to 127.0.0.1 could be opened" in caplog.text
    assert "Lower [email] connections" in caplog.text
    out = " ".join(capsys.readouterr().out.split())
    assert "2 of 4 SMTP connections to 127.0.0.1 could be opened" in out  # the run's notes


def test_a_refused_login_stops_the_run_before_anything_is_numbered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    monkeypatch.setenv("BILLING_SMTP_PASSWORD", "wrong")
    checker = password_checker("billing", "right")
    with running_server(recorder, authenticator=checker, auth_require_tls=False) as port:
        folder = pooled_folder(tmp_path, recorder, port, 'username = "billing"')
        make_log(folder, names(3))
        assert folder.run("--as-of", AS_OF) == 2
    out = capsys.readouterr().out
    assert "refused the login for billing" in out
    assert recorder.received == [] and len(recorder.greeted) == 1  # no second try at once
    conn = sqlite3.connect(folder.root / ".billing" / "ledger.sqlite")
    try:
        assert conn.execute("SELECT count(*) FROM invoices").fetchone() == (0,)
    finally:
        conn.close()


@pytest.mark.parametrize("value", ["0", "11", '"3"', "2.5"])
def test_connections_out_of_range_names_the_option(
    folder: Folder, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    folder.write_config(email=f"connections = {value}")
    make_log(folder, names(2))
    assert folder.run("--as-of", AS_OF) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "billing.toml" in out
    assert "[email] connections must be a whole number from 1 to 10" in out
    assert folder.received == []


def test_check_reports_the_connections(folder: Folder, capsys: pytest.CaptureFixture[str]) -> None:
    make_log(folder, names(2))
    folder.write_config(email="connections = 3")
    main(["check", "--workbook", str(folder.workbook)])
    assert "sends over 3 SMTP connections at once" in capsys.readouterr().out
    config = folder.root / "billing.toml"
    config.write_text(config.read_text().replace('mode = "smtp"', 'mode = "outbox"'))
    main(["check", "--workbook", str(folder.workbook)])
    assert "connections = 3 has no effect in outbox mode" in capsys.readouterr().out


def test_outbox_mode_ignores_connections(folder: Folder) -> None:
    folder.write_config(email="connections = 3")
    config = folder.root / "billing.toml"
    config.write_text(config.read_text().replace('mode = "smtp"', 'mode = "outbox"'))
    make_log(folder, names(4))
    assert folder.run("--as-of", AS_OF) == 0
    assert len(list((folder.root / "outbox").glob("*.eml"))) == 4
    assert folder.received == [] and folder.recorder.greeted == []


# -- crash safety ---------------------------------------------------------------------


@pytest.mark.parametrize("overlap", [False, True], ids=["after-render", "while-rendering"])
def test_killed_while_sending_on_three_connections_then_rerun(
    folder: Folder, overlap: bool
) -> None:
    clients = names(PARALLEL_THRESHOLD + 5 if overlap else 9)
    folder.recorder.data_delay = 0.01
    folder.write_config(email="connections = 3")
    make_log(folder, clients)
    code, out = finish(run_child(folder, "after-send"))
    assert code == -signal.SIGKILL, out
    before = len(folder.received)
    assert before >= 1
    code, out = finish(run_child(folder))
    assert code == 0, out
    assert "the run before this one could not tell whether this message arrived" in out
    assert_invariants(folder, clients)  # every one delivered, any repeat byte-identical
    repeats = len(folder.received) - len(clients)
    assert 1 <= repeats <= min(before, 2 * 3)  # only what was out when the run died
    code, out = finish(run_child(folder))
    assert code == 0 and len(folder.received) == len(clients) + repeats

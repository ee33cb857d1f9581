"""Deliver a batch of built messages, recipient by recipient, with a retry queue.

A temporary refusal (4xx: greylisting, a rate limit, a busy server) does not
hold the batch: the message waits in a retry queue for just the recipients
that were deferred, and the loop goes on with the next message. Waiting
messages are tried again between other sends, and at the end of the batch,
with doubling waits until `retry_window` seconds after their first attempt.
What the loop knows about a message it reports to a `Journal`, which records
it (the ledger) before the next step.

    deliver(parcels, sender, RetryPolicy(window=300, retries=6), journal)

The loop is the same for every kind of message (invoice, reminder, credit
note...): it sees only built bytes and envelope addresses. Over several
connections (`[email] connections`, an `SmtpPool`) the connections' threads
only talk SMTP; the journal is called from the caller's thread alone, in the
order the messages were handed out, so the ledger has one writer.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .mail import TEMPORARY, BuiltMessage, RecipientResult, Sender, SendResult, SmtpSender
from .smtp_pool import SmtpPool


@dataclass(frozen=True)
class Parcel:
    """A built message and the envelope addresses it still has to reach.

    Attributes:
      recipients: a subset of `message.recipients`: those without the message
        yet (an earlier attempt or run may have reached the others).
    """

    message: BuiltMessage
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """The run's last word on a message: one result per recipient it tried.

    Attributes:
      results: for each address of the parcel, its latest result.
      too_big: the server refused the message for its size.
      attempts: how many times it was handed to the server in this run.
    """

    parcel: Parcel
    results: tuple[RecipientResult, ...]
    too_big: bool = False
    attempts: int = 1

    def addresses(self, *states: str) -> tuple[str, ...]:
        return tuple(r.address for r in self.results if r.state in states)


@dataclass(frozen=True)
class RetryPolicy:
    """When a temporarily refused message is tried again.

    `retries` waits that double, the last one ending `window` seconds after
    the first attempt: window 300 with 6 retries tries again after about 5,
    14, 33, 71, 148 and 300 seconds.

    >>> [round(RetryPolicy(300, 6).delay(n), 1) for n in range(1, 7)]
    [4.8, 14.3, 33.3, 71.4, 147.6, 300.0]
    """

    window: float = 300.0
    retries: int = 6

    def delay(self, retry: int) -> float | None:
        """Seconds after the first attempt at which retry number `retry` (1-based) goes."""
        if retry > self.retries or self.window <= 0:
            return None
        step = self.window / (2**self.retries - 1)
        return step * (2**retry - 1)


class Journal(Protocol):
    """Where the loop reports, so each step is recorded before the next one."""

    def attempting(self, parcel: Parcel) -> None:
        """About to hand the message to the server for these recipients."""

    def attempted(self, parcel: Parcel, results: tuple[RecipientResult, ...]) -> None:
        """What the server said, recipient by recipient, after one attempt."""

    def finished(self, outcome: Outcome) -> None:
        """Nothing more will be tried for this message in this run."""


@dataclass(order=True)
class _Waiting:
    due: float
    order: int
    first: float = field(compare=False)
    retries: int = field(compare=False)
    parcel: Parcel = field(compare=False)
    results: dict[str, RecipientResult] = field(compare=False)
    too_big: bool = field(compare=False, default=False)


def deliver(
    parcels: Iterable[Parcel],
    sender: Sender,
    policy: RetryPolicy,
    journal: Journal,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Send every parcel; deferred recipients are retried while the batch goes on.

    Messages are taken in order; before each one, any waiting message whose
    time has come goes first. When only waiting messages are left, the loop
    sleeps until the next is due. `journal.finished` is called exactly once
    per parcel. An SMTP sender, with one connection or several (`SmtpPool`),
    goes through `_deliver_on_lanes`, with the same journal steps: its
    connections' threads talk SMTP while this thread records the answers and
    marks the next message. Other senders (the outbox) go one message at a time.
    """
    lanes = sender.lanes if isinstance(sender, SmtpPool) else (sender,)
    if isinstance(sender, SmtpPool | SmtpSender):
        _deliver_on_lanes(parcels, lanes, policy, journal, clock, sleep)
        return
    fresh = iter(parcels)
    waiting: list[_Waiting] = []
    order = itertools.count()
    while True:
        now = clock()
        if waiting and waiting[0].due <= now:
            item = heapq.heappop(waiting)
        else:
            parcel = next(fresh, None)
            if parcel is None:
                if not waiting:
                    return
                sleep(max(0.0, waiting[0].due - now))
                continue
            if not parcel.recipients:
                journal.finished(Outcome(parcel, (), attempts=0))
                continue
            item = _Waiting(now, next(order), now, 0, parcel, {})
        attempt = _attempt_for(item)
        journal.attempting(attempt)
        result = sender.send(item.parcel.message, attempt.recipients)
        journal.attempted(attempt, result.recipients)
        _settle(item, result, policy, journal, waiting, order)


def _attempt_for(item: _Waiting) -> Parcel:
    """The recipients still without the message (first: all of them)."""
    todo = tuple(
        a
        for a in item.parcel.recipients
        if a not in item.results or item.results[a].state == TEMPORARY
    )
    return Parcel(item.parcel.message, todo)


def _settle(
    item: _Waiting,
    result: SendResult,
    policy: RetryPolicy,
    journal: Journal,
    waiting: list[_Waiting],
    order: Iterator[int],
) -> None:
    """After an attempt: the message is finished, or waits for its next retry."""
    item.results.update((r.address, r) for r in result.recipients)
    item.too_big = item.too_big or result.too_big
    deferred = tuple(a for a in item.parcel.recipients if item.results[a].state == TEMPORARY)
    delay = policy.delay(item.retries + 1) if deferred and not item.too_big else None
    if delay is None:
        results = tuple(item.results[a] for a in item.parcel.recipients)
        journal.finished(Outcome(item.parcel, results, item.too_big, item.retries + 1))
        return
    item.retries += 1
    item.due = item.first + delay
    item.order = next(order)
    heapq.heappush(waiting, item)


class _Handed:
    """An attempt handed to one lane; its answer is recorded in the order handed out.

    The lane's thread sets `result` (or `error`) and then `done`; this thread
    reads them once `done` is set. `started` and `cancelled` are changed under
    the lane's lock, so an attempt queued behind the wire is either sent or
    taken back, never both.
    """

    __slots__ = ("item", "attempt", "lane", "result", "error", "done", "started", "cancelled")

    def __init__(self, item: _Waiting, attempt: Parcel, lane: int) -> None:
        self.item = item
        self.attempt = attempt
        self.lane = lane
        self.result: SendResult | None = None
        self.error: BaseException | None = None
        self.done = False
        self.started = False
        self.cancelled = False

    def outcome(self) -> SendResult:
        """The server's answers; the lane's exception, raised here, if the send failed."""
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


class _Lane:
    """One connection and the thread that talks SMTP on it, attempt after attempt.

    Attempts are taken in the order handed over; after each one a token goes
    to `answered`, which is what the delivery loop waits on. Plain queues and
    flags rather than an executor and futures: per message, this is the
    bookkeeping the loop's thread does while the lane is on the wire.
    """

    def __init__(self, sender: Sender, answered: queue.SimpleQueue[int], number: int) -> None:
        self.sender = sender
        self.answered = answered
        self.number = number
        self.inbox: queue.SimpleQueue[_Handed | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._work, name=f"smtp{number}", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        broken = False  # after an exception nothing more goes out on this lane
        while (handed := self.inbox.get()) is not None:
            with self.lock:
                if broken or handed.cancelled:
                    handed.cancelled = True
                    continue
                handed.started = True
            message, recipients = handed.item.parcel.message, handed.attempt.recipients
            try:
                handed.result = self.sender.send(message, recipients)
            except BaseException as exc:  # noqa: BLE001 - handed back to the loop's thread
                handed.error = exc
                broken = True
            handed.done = True
            self.answered.put(self.number)

    def take_back(self, handed: _Handed) -> bool:
        """Cancel an attempt not yet started: True when it never left."""
        with self.lock:
            if not handed.started:
                handed.cancelled = True
            return handed.cancelled

    def stop(self) -> None:
        """Let the thread end once the attempts handed to it are done, and wait for it."""
        self.inbox.put(None)
        self.thread.join()


#: Attempts a lane holds at once: one on the wire and the next queued behind it,
#: so the connection goes on to the next message the moment the server answers,
#: without waiting for this thread to record the answer and hand one over.
LANE_DEPTH = 2


def _deliver_on_lanes(
    parcels: Iterable[Parcel],
    lanes: Sequence[Sender],
    policy: RetryPolicy,
    journal: Journal,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    """`deliver` over one or more connections, the journal on this thread alone.

    Each attempt is marked in the journal (`attempting`: the ledger says
    `sending`, on disk) before it is handed to a lane; a message is on
    at most one lane at a time. Each lane is one connection with its own
    thread, which only talks SMTP and takes its attempts in the order they
    were handed to it: one on the wire and the next queued behind it
    (`LANE_DEPTH`), so the connection goes on to the next message the moment
    the server answered, while this thread records that answer. Every answer
    comes back here and is recorded in the order the attempts were handed out,
    so the ledger, the Notes and the summary read as with one connection. At
    most two attempts per lane are out unrecorded (one on the wire and one
    queued, or one answered and one on the wire), which bounds what a crash
    can leave `sending`: each is resent identical, with its Message-ID, by the
    next run; a queued one never left, so it reaches the client once.

    The next attempt is marked while the one before it is on the wire, so
    any flush to disk it needs (the run's messages come already marked, in
    batches: `SendStage.marked`) overlaps the message instead of following it. On an
    interrupt the queued attempts are taken back unsent; the answers of those
    on the wire are waited for and recorded.
    """
    fresh = iter(parcels)
    exhausted = False
    waiting: list[_Waiting] = []
    order = itertools.count()
    handed: collections.deque[_Handed] = collections.deque()
    window = LANE_DEPTH * len(lanes)
    answered: queue.SimpleQueue[int] = queue.SimpleQueue()
    threads = [_Lane(sender, answered, n) for n, sender in enumerate(lanes)]

    def hand_over(item: _Waiting, attempt: Parcel) -> None:
        """The marked attempt to the least busy lane (there is room: see `window`)."""
        load = [0] * len(lanes)
        for h in handed:
            if not h.done:
                load[h.lane] += 1
        lane = load.index(min(load))
        h = _Handed(item, attempt, lane)
        handed.append(h)
        threads[lane].inbox.put(h)

    try:
        while True:
            if handed and handed[0].done:  # one answer, then feed the lanes
                done = handed.popleft()
                result = done.outcome()
                journal.attempted(done.attempt, result.recipients)
                _settle(done.item, result, policy, journal, waiting, order)
            now = clock()
            room = len(handed) < window
            if room:
                picked: _Waiting | None = None
                if waiting and waiting[0].due <= now:
                    picked = heapq.heappop(waiting)
                elif not exhausted:
                    parcel = next(fresh, None)
                    if parcel is None:
                        exhausted = True
                        continue
                    if not parcel.recipients:
                        journal.finished(Outcome(parcel, (), attempts=0))
                        continue
                    picked = _Waiting(now, next(order), now, 0, parcel, {})
                if picked is not None:
                    attempt = _attempt_for(picked)
                    journal.attempting(attempt)
                    hand_over(picked, attempt)
                    continue
            if handed and handed[0].done:
                continue
            if not handed and exhausted and not waiting:
                break
            # A retry's time matters only when it could be marked; else wait for a lane.
            due = max(0.0, waiting[0].due - now) if waiting and room else None
            if any(not h.done for h in handed):
                # Woken by any lane's answer (a token may be an old one: look again).
                with contextlib.suppress(queue.Empty):
                    answered.get(timeout=due)
            elif due is not None:
                sleep(due)
    except BaseException:
        _record_what_came_back(handed, threads, journal)
        raise
    finally:
        for lane in threads:
            lane.stop()


def _record_what_came_back(
    handed: collections.deque[_Handed], lanes: Sequence[_Lane], journal: Journal
) -> None:
    """The loop stopped (an interrupt, an error): record the answers of attempts already out.

    Sends under way are not cut off mid-message; their answers are waited for
    (each bounded by the connection's timeout) and kept, so the journal's
    flush writes who has the message. Attempts still queued behind them are
    taken back unsent. Whatever is not recorded stays `sending`.
    """
    out = [h for h in handed if not lanes[h.lane].take_back(h)]
    for lane in lanes:  # the attempts on the wire finish (a second Ctrl-C stops the wait)
        lane.stop()
    for done in out:
        if done.done and done.error is None and done.result is not None:
            journal.attempted(done.attempt, done.result.recipients)

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
note...): it sees only built bytes and envelope addresses.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from .mail import TEMPORARY, BuiltMessage, RecipientResult, Sender


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
    per parcel.
    """
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
        _attempt(item, sender, journal)
        deferred = tuple(
            a for a in item.parcel.recipients if item.results[a].state == TEMPORARY
        )
        delay = policy.delay(item.retries + 1) if deferred and not item.too_big else None
        if delay is None:
            results = tuple(item.results[a] for a in item.parcel.recipients)
            journal.finished(Outcome(item.parcel, results, item.too_big, item.retries + 1))
            continue
        item.retries += 1
        item.due = item.first + delay
        item.order = next(order)
        heapq.heappush(waiting, item)


def _attempt(item: _Waiting, sender: Sender, journal: Journal) -> None:
    """One attempt at the recipients still without the message (first: all of them)."""
    todo = tuple(
        a
        for a in item.parcel.recipients
        if a not in item.results or item.results[a].state == TEMPORARY
    )
    attempt = Parcel(item.parcel.message, todo)
    journal.attempting(attempt)
    result = sender.send(item.parcel.message, todo)
    journal.attempted(attempt, result.recipients)
    item.results.update((r.address, r) for r in result.recipients)
    item.too_big = item.too_big or result.too_big

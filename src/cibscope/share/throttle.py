"""Backoff for failed sign-ins and a bounded audit trail of them (hub and web app).

NIST SP 800-63B (rev. 3 section 5.2.2; rev. 4 section 3.2.2) asks verifiers to limit failed
authentication attempts on an account, preferring delays that grow over a hard lock that an attacker
could use to lock a victim out. :class:`Throttle` counts consecutive failures per key (a user name, a
client address): after ``free`` failures within ``window`` seconds each further one locks the key for
``base * 2**(n - free)`` seconds, at most ``cap``; while locked, an attempt is refused without checking
the password (no CPU spent on Argon2). State is per process and in memory, bounded to ``max_keys`` keys
(oldest forgotten first).

:class:`FailureLog` keeps failed authentications from flooding the audit log (issue #17, row 4: 500
unauthenticated requests were 500 rows with attacker-chosen paths): per client address at most one row per
``every`` seconds, and at most ``budget`` rows per minute overall; each row carries the number of
failures it stands for, so nothing goes uncounted.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class _Count:
    failures: int = 0
    last: float = 0.0
    locked_until: float = 0.0


class Throttle:
    """Consecutive failures per key with exponential backoff (see the module docstring)."""

    def __init__(self, free: int = 5, base: float = 1.0, cap: float = 900.0, window: float = 900.0,
                 max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic):
        self.free, self.base, self.cap, self.window, self.max_keys = free, base, cap, window, max_keys
        self.clock = clock
        self._keys: OrderedDict[str, _Count] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may try again (0 when it may now)."""
        with self._lock:
            c = self._keys.get(key)
            return max(0.0, c.locked_until - self.clock()) if c else 0.0

    def failure(self, key: str) -> float:
        """Count a failure of ``key``; return the lock it starts in seconds (0: not locked)."""
        now = self.clock()
        with self._lock:
            c = self._keys.pop(key, None) or _Count()
            if now - c.last > self.window:
                c.failures = 0
            c.failures += 1
            c.last = now
            lock = 0.0
            if c.failures >= self.free:
                lock = min(self.cap, self.base * 2 ** (c.failures - self.free))
                c.locked_until = now + lock
            self._keys[key] = c
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
            return lock

    def success(self, key: str) -> None:
        """Forget ``key``'s failures (a successful sign-in)."""
        with self._lock:
            self._keys.pop(key, None)


class FailureLog:
    """Writes failed authentications to an audit sink, aggregated (see the module docstring).

    ``write(detail)`` is called with ``{"rule": "authentication", "address", "failures", ...}``.
    """

    def __init__(self, write: Callable[[dict[str, Any]], None], every: float = 60.0, budget: int = 60,
                 clock: Callable[[], float] = time.monotonic):
        self.write, self.every, self.budget, self.clock = write, every, budget, clock
        self._pending: dict[str, int] = {}
        self._last_row: OrderedDict[str, float] = OrderedDict()
        self._minute, self._rows_this_minute, self._dropped = 0.0, 0, 0
        self._lock = threading.Lock()

    def failed(self, address: str, detail: dict[str, Any], force: bool = False) -> bool:
        """Count one failure from ``address``; write a row if its address and the global budget allow
        (``force``: a lockout, written whenever the global budget allows). Returns whether a row was written."""
        now = self.clock()
        with self._lock:
            self._pending[address] = self._pending.get(address, 0) + 1
            if now - self._minute >= 60:
                self._minute, self._rows_this_minute = now, 0
            due = force or now - self._last_row.get(address, -1e18) >= self.every
            if not due or self._rows_this_minute >= self.budget:
                if due:
                    self._dropped += 1
                return False
            row = {"rule": "authentication", "address": address, "failures": self._pending.pop(address),
                   **detail}
            if self._dropped:
                row["rows_not_written_over_budget"], self._dropped = self._dropped, 0
            self._rows_this_minute += 1
            self._last_row[address] = now
            self._last_row.move_to_end(address)
            while len(self._last_row) > 100_000:
                self._last_row.popitem(last=False)
        self.write(row)
        return True

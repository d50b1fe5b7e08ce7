"""The rate-limit pause every run of a build shares, across worker processes.

One small JSON file under `.scylla/`, replaced atomically under a file lock,
says until when no agent or judge may start. Every call reads it before it
starts; the first to find it expired clears it. The same facts go to the
checkpoint as its top-level `pause` (folded into `checkpoint.json` at once, so
people watching the file see it), and are dropped there when the pause ends.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock

from scylla_build.checkpoint import Checkpoint
from scylla_build.ratelimit import Limit
from scylla_build.refusal import Refusal, RefusalKind

log = logging.getLogger(__name__)

# How often a waiting call looks at the pause again; also how soon Ctrl-C or
# SIGTERM (turned into KeyboardInterrupt) is noticed at the latest.
SLICE_SECONDS = 0.2
# A reset time already past (clocks differ) still pauses this long.
MIN_PAUSE_SECONDS = 1.0
# Waiting calls start apart by up to this share of the pause, capped.
JITTER_SHARE = 0.1
JITTER_CAP_SECONDS = 5.0
State = dict[str, Any]


def moment(epoch: float) -> str:
    """Write an epoch time as ISO 8601 UTC, to the second."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(
        timespec="seconds")


class Pause:
    """Start, extend, wait out and end the shared pause of one results folder."""

    def __init__(self, state_dir: Path, checkpoint: Checkpoint, *,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = state_dir / "pause.json"
        self.lock_path = state_dir / "pause.lock"
        self.checkpoint = checkpoint
        self.clock = clock
        self.sleep = sleep

    def read(self) -> State:
        """Return the pause state, {} when there is none."""
        try:
            value = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            log.warning("ignoring unreadable %s: %s", self.path, err)
            return {}
        return value if isinstance(value, dict) else {}

    def until(self) -> float | None:
        """Return when the current pause ends, or None when there is none."""
        until = self.read().get("until")
        if isinstance(until, (int, float)) and until > self.clock():
            return float(until)
        return None

    def refusal(self, max_wait: float) -> Refusal | None:
        """Refuse at once when the pause on now lasts longer than `max_wait`."""
        until = self.until()
        if until is not None and until - self.clock() > max_wait:
            return self._too_long(until, max_wait)
        return None

    def begin(self, limit: Limit, who: str, backoff: float) -> float:
        """Pause every run until the limit lifts; return the end of the pause.

        Without a reset time the pause is `backoff`, doubled for each limit hit
        since the last call that was not limited.
        """
        with self._locked():
            state = self.read()
            now = self.clock()
            active = isinstance(state.get("until"), (int, float)) and \
                state["until"] > now
            # Limits hit while a pause is on belong to the same episode.
            strikes = int(state.get("strikes", 0)) + (0 if active else 1)
            if limit.reset_at is not None:
                until = max(limit.reset_at, now + MIN_PAUSE_SECONDS)
            else:
                until = now + backoff * 2 ** (strikes - 1)
            if active and state["until"] >= until:
                return float(state["until"])
            self._write({"until": until, "reason": limit.message, "run": who,
                         "since": state.get("since") if active else now,
                         "strikes": strikes})
            self._mirror({"until": moment(until), "reason": limit.message,
                          "run": who})
        log.warning("%s: rate limited (%s); every run pauses until %s (in %.0f s)",
                    who, limit.message, moment(until), until - now)
        return until

    def succeeded(self) -> None:
        """Note a call that was not limited: the backoff starts over."""
        if not self.read().get("strikes"):
            return
        with self._locked():
            state = self.read()
            if state.get("strikes") and not self._active(state):
                self._write({**state, "strikes": 0})

    def wait(self, max_wait: float, who: str) -> Refusal | None:
        """Wait until no pause is on; refuse at once if it would take too long."""
        deadline: float | None = None
        announced: float | None = None
        while True:
            until = self._current()
            now = self.clock()
            if until is not None and until - now > max_wait:
                return self._too_long(until, max_wait)
            if until is not None and until != announced:
                announced = until
                deadline = until + _jitter(until - now)
                log.info("%s: waiting for the rate-limit pause to end at %s",
                         who, moment(until))
            if deadline is None or now >= deadline:
                return None
            self.sleep(min(SLICE_SECONDS, deadline - now))

    def _current(self) -> float | None:
        """Return the end of the pause on now; end an expired one."""
        state = self.read()
        until = state.get("until")
        if not isinstance(until, (int, float)):
            return None
        if until > self.clock():
            return float(until)
        self._end(float(until))
        return None

    def _end(self, until: float) -> None:
        with self._locked():
            state = self.read()
            if state.get("until") != until:
                return  # another call ended it, or a new limit extended it
            self._write({"until": None, "strikes": state.get("strikes", 0)})
            self._mirror(None)
        log.info("the rate-limit pause ended at %s", moment(until))

    def _too_long(self, until: float, max_wait: float) -> Refusal:
        return Refusal(RefusalKind.RATE_LIMITED,
                       f"paused for a rate limit until {moment(until)}, longer "
                       f"than max_wait = {max_wait:g} s; run doit again after "
                       "that time to resume", until)

    def _active(self, state: State) -> bool:
        until = state.get("until")
        return isinstance(until, (int, float)) and until > self.clock()

    def _mirror(self, pause: dict[str, Any] | None) -> None:
        self.checkpoint.record_facts({"pause": pause})
        self.checkpoint.fold()

    def _locked(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(self.lock_path)

    def _write(self, state: State) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(state, sort_keys=True), encoding="utf-8")
        os.replace(temporary, self.path)


def _jitter(wait: float) -> float:
    """Spread waiting calls out so they do not all start in the same instant."""
    return random.uniform(0, min(JITTER_CAP_SECONDS, JITTER_SHARE * max(wait, 0)))

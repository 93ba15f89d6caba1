"""Polling an operation until it ends, drawing its line after each answer.

On a terminal the line is redrawn in place; into a pipe or file each new state is its own
line, so logs of a CI job stay readable.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from shared.operations import FINAL_STATUSES
from shared.ops_watch.client import WatchError
from shared.ops_watch.progress import status_line

# Consecutive retryable failures (API restarting, network blip) before giving up.
MAX_FAILURES = 10
CLEAR_TO_END_OF_LINE = "\x1b[K"


def terminal_width() -> int:
    return shutil.get_terminal_size().columns


class Display:
    def __init__(
        self, stream: TextIO, *, tty: bool, width: Callable[[], int] = terminal_width
    ) -> None:
        self._stream, self._tty, self._width = stream, tty, width
        self._shown = False
        self._last_key: str | None = None

    def show(self, line: str, *, key: str | None = None) -> None:
        """Draw `line`. Into a pipe, only when `key` (default: the line) changed: progress
        is logged, not every new rate and ETA of a job that did not move."""
        key = line if key is None else key
        if self._tty:
            # Cut to the terminal: a wrapped line would not be redrawn by the carriage return.
            self._stream.write("\r" + line[: max(self._width() - 1, 1)] + CLEAR_TO_END_OF_LINE)
        elif key != self._last_key:
            self._stream.write(line + "\n")
        self._shown, self._last_key = True, key
        self._stream.flush()

    def close(self) -> None:
        """End the redrawn line, so what follows starts on a line of its own."""
        if self._tty and self._shown:
            self._stream.write("\n")
            self._stream.flush()
        self._shown = False


def _progress_key(operation: Mapping[str, Any]) -> str:
    # Status and counters: what a new log line is worth (throughput and ETA drift each poll).
    return json.dumps([operation.get("status"), operation.get("counters")], sort_keys=True)


def follow(
    fetch: Callable[[], Mapping[str, Any]],
    display: Display,
    *,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    max_failures: int = MAX_FAILURES,
) -> Mapping[str, Any]:
    """Fetch and show the operation every `interval` seconds until it is final; that last
    state. Raises WatchError when asking again cannot help or the first fetch fails, else
    after `max_failures` failures in a row."""
    failures, seen = 0, False
    while True:
        try:
            operation = fetch()
        except WatchError as exc:
            failures += 1
            # Before a first answer a failure is more likely a wrong --url than a blip.
            if not exc.retryable or not seen or failures >= max_failures:
                raise
            sleep(interval)
            continue
        failures, seen = 0, True
        display.show(status_line(operation), key=_progress_key(operation))
        if operation.get("status") in FINAL_STATUSES:
            return operation
        sleep(interval)

"""Graceful stops: the first Ctrl-C (or SIGTERM) asks a loop to stop, a second one quits at once.

Long loops (GAN training, a W1 critic's training) check the request after each step, so they end
on a whole step and can still save a checkpoint or report what they have."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class StopRequest:
    """Set by the first Ctrl-C or SIGTERM inside ``stop_on_signals``."""

    def __init__(self) -> None:
        self.requested = False


@contextmanager
def stop_on_signals(notice: str | None = None) -> Iterator[StopRequest]:
    """Within the block, SIGINT and SIGTERM only set ``requested`` (and print ``notice`` to stderr);
    a second one raises KeyboardInterrupt. The previous handlers come back on exit. Signal handlers
    can only be installed in the main thread; elsewhere the request is never set."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request(signum: int, frame: Any) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        if notice:
            print(f"\n{notice}", file=sys.stderr)

    previous = {s: signal.signal(s, request) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)

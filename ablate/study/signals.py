"""SIGINT and SIGTERM end a sweep cleanly: the driver's loop notices at its next turn (within
a second) and stops; before the loop starts they interrupt at once."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class Interrupted(KeyboardInterrupt):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


@contextmanager
def signals(driver):
    """SIGINT and SIGTERM end the sweep cleanly: the loop notices at its next turn (within a
    second); before the loop starts they interrupt at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        name = signal.Signals(signum).name
        if driver.pool is None or driver.stopping:
            raise Interrupted(name)
        driver.signal = name

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)

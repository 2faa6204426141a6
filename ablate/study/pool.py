"""The driver's worker processes: started from placements, watched, replaced when they die.

Each worker has two pipes of its own (no shared queue whose lock a killed process could leave
held), and its process sentinel is watched beside them: a worker killed mid-cell is seen at once,
its cell reported as lost, and a fresh worker takes its place on the same device.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

from ablate.errors import AblateError
from ablate.study import worker as W
from ablate.study.resources import Placement


@dataclass
class Slot:
    index: int
    placement: Placement
    process: Any = None
    inbox: Any = None  # driver -> worker
    outbox: Any = None  # worker -> driver
    cell: Any = None  # the cell it trains, None when idle
    ready: bool = False


class WorkerPool:
    def __init__(self, placements: list[Placement]):
        self._ctx = mp.get_context("spawn")
        self.slots = [Slot(i, p) for i, p in enumerate(placements)]
        self.replaced = 0
        self.deaths_at_start = 0  # workers that died before they were ready, in a row
        for slot in self.slots:
            self._start(slot)

    def _start(self, slot: Slot) -> None:
        to_worker, inbox = self._ctx.Pipe(duplex=False)
        outbox, from_worker = self._ctx.Pipe(duplex=False)
        p = slot.placement
        slot.process = self._ctx.Process(
            target=W.main,
            args=(to_worker, from_worker, p.env, p.threads, os.getpid()),
            name=f"ablate-worker-{slot.index}",
            daemon=False,  # it may start DataLoader workers; it dies with us (PR_SET_PDEATHSIG)
        )
        slot.process.start()
        to_worker.close()
        from_worker.close()
        slot.inbox, slot.outbox, slot.cell, slot.ready = inbox, outbox, None, False

    def idle(self) -> list[Slot]:
        return [s for s in self.slots if s.cell is None and s.process.is_alive()]

    def busy(self) -> list[Slot]:
        return [s for s in self.slots if s.cell is not None]

    def submit(self, slot: Slot, cell: Any, payload: dict) -> None:
        slot.cell = cell
        slot.inbox.send(("cell", payload))

    def stop_cell(self, slot: Slot) -> None:
        try:
            slot.inbox.send(("stop",))
        except OSError:
            pass

    def events(self, timeout: float) -> list[tuple[Slot, tuple]]:
        """Messages from the workers, and ``("died", exitcode, cell)`` for each worker that
        ended (which is then replaced: the slot is idle again)."""
        watch: dict[Any, tuple[Slot, str]] = {}
        for s in self.slots:
            watch[s.outbox] = (s, "msg")
            watch[s.process.sentinel] = (s, "exit")
        out: list[tuple[Slot, tuple]] = []
        for ready in wait(list(watch), timeout=timeout):
            slot, what = watch[ready]
            if what == "msg":
                try:
                    while slot.outbox.poll():
                        message = slot.outbox.recv()
                        if message[0] == "ready":
                            slot.ready = True
                        else:
                            out.append((slot, message))
                except (EOFError, OSError):
                    pass  # the exit is reported through the sentinel
        for slot in self.slots:
            if not slot.process.is_alive():
                # Drain what it sent before it ended (its last result), then report the end.
                try:
                    while slot.outbox.poll():
                        message = slot.outbox.recv()
                        if message[0] != "ready":
                            out.append((slot, message))
                except (EOFError, OSError):
                    pass
                out.append((slot, ("died", slot.process.exitcode, slot.cell)))
                self.deaths_at_start = 0 if slot.ready else self.deaths_at_start + 1
                if self.deaths_at_start > 3:
                    raise AblateError(
                        f"worker processes die as they start (exit code "
                        f"{slot.process.exitcode}); run `ablate run` on the experiment to see why"
                    )
                self.replace(slot)
        return out

    def replace(self, slot: Slot) -> None:
        """A fresh worker in the slot (after a death, or to recycle a CUDA context)."""
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join(timeout=5)
        for conn in (slot.inbox, slot.outbox):
            conn.close()
        self.replaced += 1
        self._start(slot)

    def close(self, timeout: float = 10) -> None:
        for s in self.slots:
            try:
                s.inbox.send(("exit",))
            except OSError:
                pass
        for s in self.slots:
            s.process.join(timeout=timeout if s.cell is None else 0.5)
            if s.process.is_alive():
                s.process.kill()
                s.process.join(timeout=5)

    def pids(self) -> list[int]:
        return [s.process.pid for s in self.slots]

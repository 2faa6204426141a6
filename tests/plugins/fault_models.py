"""A plugin module for fault-injection tests: real models that misbehave on cue.

Faults happen only in worker processes (``multiprocessing.parent_process()`` is set), so the
driver's preflight check builds and runs them like any other model.

- ``gated_pspnet``: PSPNet whose training forward waits while the file named by
  ``$ABLATE_TEST_GATE`` exists, after touching ``<gate>.<pid>`` to say a worker is inside
  (so a test can kill that worker, or its driver, at a moment it chooses).
- ``nan_eval_pspnet``: PSPNet whose validation outputs are NaN (a run that diverges in
  evaluation only).
- ``oom_pspnet``: PSPNet whose training forward raises CUDA's out-of-memory error.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import torch

from ablate.models.pspnet import PSPNet
from ablate.registry import MODELS


def _in_worker() -> bool:
    return multiprocessing.parent_process() is not None


@MODELS.register("gated_pspnet")
class GatedPSPNet(PSPNet):
    """``$ABLATE_TEST_GATE_AFTER=N``: the gate applies from the (N+1)-th training forward on
    (mid-run, after some epochs' checkpoints)."""

    calls = 0

    def forward(self, x):
        gate = os.environ.get("ABLATE_TEST_GATE")
        GatedPSPNet.calls += self.training
        after = int(os.environ.get("ABLATE_TEST_GATE_AFTER", "0"))
        if (
            gate
            and self.training
            and _in_worker()
            and GatedPSPNet.calls > after
            and (os.path.exists(gate))
        ):
            Path(f"{gate}.{os.getpid()}").touch()
            while os.path.exists(gate):
                time.sleep(0.05)
        return super().forward(x)


@MODELS.register("nan_eval_pspnet")
class NanEvalPSPNet(PSPNet):
    def forward(self, x):
        out = super().forward(x)
        if not self.training and _in_worker():
            out = {k: torch.full_like(v, float("nan")) for k, v in out.items()}
        return out


@MODELS.register("oom_pspnet")
class OomPSPNet(PSPNet):
    def forward(self, x):
        if self.training and _in_worker():
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected by the test)")
        return super().forward(x)

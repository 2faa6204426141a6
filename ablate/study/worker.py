"""A worker process: trains the cells its driver sends, one at a time, and reports back.

Workers never talk to Optuna or MLflow: everything goes to the driver through a pipe (the
trainer's measurements as journal operations, each epoch's objective, the cell's result), so a
worker that dies loses only its current cell. A worker sees one GPU at most (its placement's
``CUDA_VISIBLE_DEVICES``, set before torch is imported) and ignores SIGINT: Ctrl-C is the
driver's to handle.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

# Failure kinds: what a driver does about them (see driver.RETRIED).
DIVERGED, ERROR, CUDA = "diverged", "error", "cuda"


def main(inbox, outbox, env: dict[str, str], threads: int, parent_pid: int) -> None:
    os.environ.update(env)  # before torch is imported: CUDA reads it once
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)
    import threading

    from tqdm import tqdm

    # tqdm's default lock is a multiprocessing semaphore, which a worker stopped at once (Ctrl-C)
    # cannot unlink: the resource tracker would then warn of "leaked semaphore objects".
    tqdm.set_lock(threading.RLock())
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    outbox.send(("ready", os.getpid()))
    while True:
        try:
            message = inbox.recv()
        except EOFError:
            return  # the driver is gone
        if message[0] == "exit":
            return
        recycle = run_cell(message[1], inbox, outbox)
        if recycle:
            return  # a CUDA error can leave the context unusable: the driver starts a new one


def run_cell(p: dict[str, Any], inbox, outbox) -> bool:
    """Train one (configuration, seed) cell; report its result or its failure. Returns True
    when this process should be replaced."""
    from pathlib import Path

    from ablate import provenance
    from ablate import spec as S
    from ablate.train import TrainingError

    provenance.PINNED = p.get("code_version")
    cell, metric = p["cell"], p["objective_metric"]
    stopped = []

    def emit(op: dict) -> None:
        outbox.send(("ops", [op]))

    def stop() -> bool:
        while inbox.poll():  # the driver asks to stop this cell (a pruner, an interrupt)
            message = inbox.recv()
            if message[0] in ("stop", "exit"):
                stopped.append(message[0])
        return bool(stopped)

    def on_epoch(values, step) -> None:
        if metric in values:
            outbox.send(("epoch", cell, step, float(values[metric])))

    try:
        spec = S.validate(p["spec"], check_search=False)
        checkpoints = Path(p["checkpoints"]) if p.get("checkpoints") else None
        result = train_seed(spec, p["seed"], p["run_key"], emit, Path(p["files"]),
                            checkpoints=checkpoints, pause=p.get("pause"), stop=stop,
                            on_epoch=on_epoch)  # fmt: skip
        if result.paused:  # at a rung: the checkpoint stays, the driver decides what follows
            outbox.send(("paused", cell, {"epochs": len(result.history),
                                          "value": result.objective,
                                          "fit_s": result.wall_time_s}))  # fmt: skip
            return False
        outbox.send(
            ("done", cell, {
                "objective": result.objective,
                "metrics": result.metrics,
                "epochs": len(result.history),
                "stopped_early": result.stopped_early,
                "device": result.device,
                "device_name": result.device_name,
            })
        )  # fmt: skip
        return False
    except TrainingError as exc:
        outbox.send(("failed", cell, f"{type(exc).__name__}: {exc}", DIVERGED))
        return False
    except Exception as exc:  # noqa: BLE001  (reported to the driver, which decides)
        kind = CUDA if _is_cuda_error(exc) else ERROR
        outbox.send(("failed", cell, f"{type(exc).__name__}: {exc}"[:4000], kind))
        return kind == CUDA


def train_seed(spec, seed: int, key: str, emit, files, *, checkpoints=None, pause=None,
               stop=None, on_epoch=None):  # fmt: skip
    """One seed run, the same whether ``ablate run`` or a sweep's worker trains it: what the
    process really got (placement tags), MLflow's system metrics, the training, the kept
    weights (``train.keep``) as the run's ``model``, the closing tags. Everything goes out as
    journal operations through ``emit``; a failure is raised after what was measured is sent.

    Args:
        spec: the resolved experiment of this run.
        seed: the training seed.
        key: the run's journal key.
        emit: sends one journal operation.
        files: a folder for the run's artifacts (the saved model).
        checkpoints: the run's checkpoint folder (None: no checkpoints).
        pause: rungs to stop at, checkpointed.
        stop: asked after each epoch whether to stop.
        on_epoch: called with each epoch's metrics.
    """
    import torch

    from ablate.checkpoint import Checkpoints
    from ablate.tracking.reporter import JournalReporter, SystemMetrics
    from ablate.train import run as train

    reporter = JournalReporter(emit, key, stop or (lambda: False), on_epoch)
    emit({"op": "tags", "run": key, "tags": {  # what this process really got (its placement)
        "ablate.cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", "(unset: all)"),
        "ablate.threads": str(torch.get_num_threads()),
        "ablate.host": os.uname().nodename,
        "ablate.worker_pid": str(os.getpid()),
    }})  # fmt: skip
    interval = float(os.environ.get("ABLATE_SYSTEM_METRICS_S", "10"))
    monitor = SystemMetrics(emit, key, interval).start() if interval > 0 else None
    try:
        result = train(spec, seed, reporter, progress=False, checkpoints=checkpoints,
                       pause=pause)  # fmt: skip
    finally:
        reporter.flush()
        if monitor is not None:
            monitor.stop()
    if result.paused:
        return result
    tags = {"ablate.device": result.device}
    if result.device.startswith("cuda"):
        tags["ablate.gpu"] = result.device_name
    if result.resumed_from is not None:
        tags["ablate.resumed_from_epoch"] = str(result.resumed_from)
    if result.model is not None:  # train.keep: the weights, as an MLflow model
        _save_model(result.model, files / "model", emit, key)
        tags["ablate.kept_epoch"] = str(result.kept_epoch)
    emit({"op": "tags", "run": key, "tags": tags})
    if checkpoints is not None:
        Checkpoints(checkpoints).clear()  # finished: nothing to resume any more
    return result


def _save_model(model, folder, emit, key: str) -> None:
    """The model as an MLflow model directory (``mlflow.pytorch``), logged as the run's
    ``model`` artifact: ``mlflow.pytorch.load_model("runs:/<run id>/model")`` loads it."""
    import shutil

    import mlflow.pytorch
    import torch

    from ablate.provenance import ablate_version

    shutil.rmtree(folder, ignore_errors=True)
    # Pickled (the model returns a dict of outputs; "pt2" needs an example to trace), with its
    # requirements named here rather than inferred (MLflow would run the model to infer them).
    mlflow.pytorch.save_model(
        model, str(folder), serialization_format="pickle",
        pip_requirements=[f"ablate=={ablate_version()}", f"torch=={torch.__version__}"],
    )  # fmt: skip
    emit({"op": "artifacts", "run": key, "path": str(folder), "artifact_path": "model"})


def _is_cuda_error(exc: BaseException) -> bool:
    """Out of memory, a device-side assert, a lost device: errors after which this process's
    CUDA context cannot be trusted."""
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    accelerator = getattr(torch, "AcceleratorError", None)
    if accelerator is not None and isinstance(exc, accelerator):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("CUDA error" in text or "CUBLAS_STATUS" in text)


def _die_with_parent(parent_pid: int) -> None:
    """A worker must not outlive a killed driver: it would go on training a cell that another
    driver takes over once the dead one's heartbeat is stale."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() != parent_pid:
        os._exit(1)


def payload(cell, files: Path, pause: list[int], checkpoints: Path, code_version) -> dict:
    """What a worker is sent to train one cell."""
    spec = cell.config.spec
    return {
        "cell": cell.id,
        "run_key": cell.run_key,
        "seed": cell.seed,
        "spec": spec.model_dump(mode="json"),
        "objective_metric": spec.objective.metric,
        "checkpoints": str(checkpoints) if spec.train.checkpoint else None,
        "files": str(files),
        "code_version": code_version,
        "pause": pause,
    }

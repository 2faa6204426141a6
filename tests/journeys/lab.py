"""The journeys' user: README's promises, run as a user runs them.

Each journey is the ``ablate`` command in a subprocess, in a fresh folder of its own, with the
shipped experiments (only sizes shrunk through ``--set``), asserting what the user would look at
afterwards: the exit status, the console's last lines, MLflow's runs and tags, the report files.
Nothing is called in-process: a journey fails where a user would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = REPO / "experiments"

# The default experiment at a size that trains in seconds: what `make sweep` runs, smaller.
SMALL = [
    "--set", "train.epochs=2",
    "--set", "data.params.train_scenes=48", "--set", "data.params.val_scenes=24",
    "--set", "data.params.size=24", "--set", "data.params.min_scale=8",
    "--set", "data.params.max_scale=14",
]  # fmt: skip


def ablate_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("ablate")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "ablate"]


@dataclass(repr=False)
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def last_lines(self, n: int = 5) -> str:
        return "\n".join(self.output.strip().splitlines()[-n:])

    def __repr__(self) -> str:  # what a failed assertion shows
        return f"$ ablate {' '.join(self.args)}\n(exit {self.returncode})\n{self.output[-4000:]}"


@dataclass
class User:
    """A user in a fresh folder of their own, with nothing but what the README says to do."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def ablate(self, *args: str, timeout: float = 600, input: str | None = None) -> Result:
        p = subprocess.run(
            [*ablate_cmd(), *map(str, args)], cwd=self.home, env=self.env, text=True,
            capture_output=True, timeout=timeout, input=input,
        )  # fmt: skip
        return Result(list(map(str, args)), p.returncode, p.stdout, p.stderr)

    def python(self, code: str, timeout: float = 300) -> Result:
        """A Python snippet, as the user would run it in their folder."""
        p = subprocess.run([sys.executable, "-c", code], cwd=self.home, env=self.env, text=True,
                           capture_output=True, timeout=timeout)  # fmt: skip
        return Result(["(python)", code[:60]], p.returncode, p.stdout, p.stderr)

    def start(self, *args: str) -> subprocess.Popen:
        """``ablate ...`` in the background (its own process group), output to files."""
        log = self.home / f"console-{time.monotonic_ns()}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [*ablate_cmd(), *map(str, args)], cwd=self.home, env=self.env, text=True,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        proc.log = log  # type: ignore[attr-defined]
        return proc

    def wait_for(self, proc: subprocess.Popen, text: str, timeout: float = 300) -> None:
        """Until the background command's console shows ``text``."""
        end = time.monotonic() + timeout
        while text not in proc.log.read_text():  # type: ignore[attr-defined]
            if proc.poll() is not None or time.monotonic() > end:
                raise AssertionError(f"never saw {text!r}:\n{proc.log.read_text()[-3000:]}")
            time.sleep(0.5)

    def interrupt(self, proc: subprocess.Popen, sig=signal.SIGINT, timeout: float = 120) -> str:
        """Send ``sig`` as Ctrl-C would (to the whole process group); the console's output."""
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout)
        return proc.log.read_text()  # type: ignore[attr-defined]

    def client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=f"sqlite:///{self.home / 'mlflow.db'}")

    def runs(self, study: str, role: str | None = None, status: str | None = None) -> list:
        """The study's MLflow runs (every experiment), by role and status."""
        c = self.client()
        exps = [e.experiment_id for e in c.search_experiments()]
        filt = f"tags.`ablate.study` = '{study}'"
        if role:
            filt += f" and tags.`ablate.role` = '{role}'"
        runs = c.search_runs(exps, filt, max_results=5000)
        return [r for r in runs if status is None or r.info.status == status]

    def trials(self, study: str) -> list:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return optuna.load_study(
            study_name=study, storage=f"sqlite:///{self.home / 'optuna.db'}"
        ).get_trials(deepcopy=False)

    def write(self, name: str, text: str) -> Path:
        path = self.home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path


def new_user(home: Path) -> User:
    home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "ABLATE_")) and k not in ("MAKEFLAGS", "MFLAGS",
                                                                      "MAKELEVEL")}  # fmt: skip
    env["PYTHONUNBUFFERED"] = "1"
    env["ABLATE_SYSTEM_METRICS_S"] = "0"  # system metrics have their own test
    return User(home, env)


def wait_http(url: str, timeout: float = 120) -> bytes:
    """The body of ``url`` once it answers 200."""
    import urllib.request

    end = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read()
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.5)


def make(user: User, *args: str, timeout: float = 600) -> Result:
    """``make ARGS`` in the user's folder with this repository's Makefile, on the environment
    that `make test` already installed (not installed again)."""
    venv = Path(sys.executable).parent.parent
    cmd = ["make", "--no-print-directory", "-f", str(REPO / "Makefile"), f"VENV={venv}",
           "-o", f"{venv}/.installed", *args]  # fmt: skip
    p = subprocess.run(cmd, cwd=user.home, env=user.env, text=True, capture_output=True,
                       timeout=timeout)  # fmt: skip
    return Result(["(make)", *args], p.returncode, p.stdout, p.stderr)

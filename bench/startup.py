"""Start-up of the commands that train nothing: ``ablate --help``, ``ablate list`` and ``ablate
report``, this checkout against another (``--before``, e.g. a ``git worktree`` of an older
commit), run alternately in one process so that both see the same machine load.

Prints, per command, the median wall time of each side, their ratio, and which of torch,
torchvision and optuna each side loaded.

    git worktree add /tmp/before <commit>
    python bench/startup.py --before /tmp/before [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from loaded import parse  # noqa: E402

PROBE = REPO / "tests" / "loaded.py"  # runs `ablate ARGS`, then says what it loaded


def run(root: Path, args: list[str], cwd: Path) -> tuple[float, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(PROBE), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{root}: ablate {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return wall, parse(done.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True, help="the checkout to compare with")
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ablate-startup-"))
    from conftest import TINY

    raw = json.loads(json.dumps(TINY))
    raw["train"]["epochs"] = 1
    (work / "tiny.yaml").write_text(yaml.safe_dump(raw))
    subprocess.run([sys.executable, "-m", "ablate", "sweep", "tiny.yaml", "--quiet",
                    "--no-report"], cwd=work, check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    commands = [["--help"], ["list"], ["report", "tiny"], ["report", "tiny.yaml"]]
    sides = {"before": a.before.resolve(), "after": REPO}
    print("| command | before (s) | after (s) | after/before | loaded before | loaded after |")
    print("|---|---|---|---|---|---|")
    for args in commands:
        times = {s: [] for s in sides}
        loaded = {}
        for _ in range(a.repeats):
            for side, root in sides.items():  # alternately: the same load for both
                wall, loaded[side] = run(root, args, work)
                times[side].append(wall)
        med = {s: statistics.median(v) for s, v in times.items()}
        print(
            f"| `ablate {' '.join(args)}` | {med['before']:.2f} | {med['after']:.2f} | "
            f"{med['after'] / med['before']:.2f} | {', '.join(loaded['before']) or 'none'} | "
            f"{', '.join(loaded['after']) or 'none'} |"
        )


if __name__ == "__main__":
    main()

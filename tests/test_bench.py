"""Every benchmark of `make bench` runs in its quick mode (tiny sizes): a change of default that
breaks a benchmark fails here, not on the next person who runs `make bench`. The numbers of a
quick run mean nothing; what is checked is that each runs to the end and prints its line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def bench(script: str, *args: str, cwd: Path = ROOT) -> str:
    p = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--quick", *args],
                       cwd=cwd, capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    return p.stdout


@pytest.mark.parametrize(
    ("script", "line"),
    [
        ("overheads.py", r"tracking on / off, seed run wall time: \d+\.\d{3} "),
        ("trainer_vs_loop.py", r"trainer / hand-written loop throughput: \d+\.\d{3} "),
    ],
)
def test_a_seed_run_benchmark_runs_quick(script, line):
    assert re.search(line, bench(script, "--threads", "1")), line


def test_the_compute_benchmark_runs_quick(tmp_path):
    """The shipped default against its full grid, both swept and reported for real (quick: 5
    weights against 9, 4 seeds, 4 epochs, a few scenes): the claims comparison decides, the
    efficiency is printed."""
    out = bench("compute.py", "--keep", str(tmp_path), cwd=tmp_path)
    assert re.search(r"^sweep efficiency \(default\): \d\.\d{3} ", out, re.M), out
    m = re.search(r"^compute to the same claims: (\d\.\d{3}) of the epochs .* keeps the full "
                  r"grid's answer: (yes|NO)$", out, re.M)  # fmt: skip
    assert m, out
    # every second weight of the full grid's: 5 x 4 x 4 = 80 of 9 x 4 x 4 = 144 seed-epochs
    assert m.group(1) == f"{80 / 144:.3f}", out

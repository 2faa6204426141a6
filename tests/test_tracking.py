import sqlite3
import time
from pathlib import Path

from ablate import tracking as T
from ablate.tracking.journal import Journal, new_key
from ablate.tracking.orphans import orphans
from ablate.tracking.reporter import JournalReporter


def store(workdir: Path) -> str:
    return T.absolute_sqlite("sqlite:///mlflow.db")


def test_the_journal_delivers_every_write_in_order_before_close_returns(workdir):
    uri = store(workdir)
    c = T.client(uri)
    exp = T.get_or_create_experiment(c, "t")
    journal, key = Journal(uri), new_key()
    journal.create_run(key, exp, "r", {T.ROLE: "seed"})
    journal.log_params(key, {"lr": 0.1})
    rep = JournalReporter(journal.append, key)
    for epoch in range(3):
        rep.series("train/loss_step", [float(i) for i in range(900)], epoch * 900)
        rep.metrics({"val/miou": 0.1 * epoch}, epoch)
    journal.set_status(key, "FINISHED")
    assert journal.close(timeout=120)
    run = c.get_run(journal.run_id(key))
    assert run.info.status == "FINISHED" and run.data.tags[T.RUN_KEY] == key
    assert run.data.params["lr"] == "0.1"
    steps = [m.step for m in c.get_metric_history(run.info.run_id, "train/loss_step")]
    assert sorted(steps) == list(range(2700))
    assert [m.step for m in c.get_metric_history(run.info.run_id, "val/miou")] == [0, 1, 2]
    assert not list((workdir / ".ablate" / "journal").iterdir())  # nothing left behind


def test_a_locked_tracking_database_delays_the_writes_and_loses_none(workdir):
    uri = store(workdir)
    c = T.client(uri)
    exp = T.get_or_create_experiment(c, "t")
    journal, key = Journal(uri), new_key()
    journal.create_run(key, exp, "r", {T.ROLE: "seed"})
    assert journal.drain(60)
    lock = sqlite3.connect(workdir / "mlflow.db", timeout=60)
    lock.execute("BEGIN EXCLUSIVE")  # another process holds the database
    # Training goes on: these return at once (were they to wait for the database, the test
    # would hang here, since the lock is released only below); the writes wait in the journal.
    for epoch in range(5):
        journal.log_metrics(key, {"val/miou": epoch / 10}, epoch)
    journal.set_status(key, "FINISHED")
    time.sleep(3)
    assert journal.pending() == 6  # nothing got through
    lock.rollback()
    lock.close()
    assert journal.close(timeout=120)
    run = c.get_run(journal.run_id(key))
    assert run.info.status == "FINISHED"
    history = c.get_metric_history(run.info.run_id, "val/miou")
    assert [m.step for m in history] == [0, 1, 2, 3, 4]


def test_what_an_unreachable_store_never_got_stays_on_disk_for_the_next_journal(workdir):
    dead = "http://127.0.0.1:9"  # nothing listens there
    journal, key = Journal(dead), new_key()
    journal.create_run(key, "0", "r", {T.ROLE: "seed"})
    journal.log_metrics(key, {"val/miou": 0.5}, 0)
    journal.set_status(key, "FINISHED")
    assert not journal.close(timeout=3)
    (orphan,) = orphans()
    assert [op["op"] for op in orphan.runs[key]] == ["create", "metrics", "status"]


def test_experiments_open_on_the_runs_view_in_the_mlflow_ui(workdir):
    c = T.client(T.absolute_sqlite("sqlite:///mlflow.db"))
    exp = T.get_or_create_experiment(c, "ui")
    assert c.get_experiment(exp).tags["mlflow.experimentKind"] == "custom_model_development"


def test_passwords_in_urls_are_masked():
    assert (
        T.mask_url("cannot open postgresql://ablate:s3cr3t@db:5432/x and http://u:p@h/")
        == "cannot open postgresql://ablate:***@db:5432/x and http://u:***@h/"
    )
    assert T.mask_url("postgresql://h/db?user=a&password=s3cr3t") == (
        "postgresql://h/db?user=a&password=***"
    )
    assert T.mask_url("sqlite:////tmp/optuna.db") == "sqlite:////tmp/optuna.db"


def test_the_stores_ablate_creates_are_readable_by_their_owner_only(workdir):
    T.check_tracking_uri(T.absolute_sqlite("sqlite:///mlflow.db"))
    assert (workdir / "mlflow.db").stat().st_mode & 0o777 == 0o600

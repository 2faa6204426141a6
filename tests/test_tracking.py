from ablate import tracking as T


def test_the_reporter_writes_every_buffered_point_before_close_returns(workdir):
    c = T.client(T.absolute_sqlite("sqlite:///mlflow.db"))
    exp = T.get_or_create_experiment(c, "t")
    run_id = T.start_run(c, exp, "r", {T.ROLE: "seed"})
    rep = T.MLflowReporter(c, run_id)
    for epoch in range(3):
        rep.series("train/loss_step", [float(i) for i in range(900)], epoch * 900)
        rep.metrics({"val/miou": 0.1 * epoch}, epoch)
    rep.close()
    assert len(c.get_metric_history(run_id, "train/loss_step")) == 2700
    assert [m.step for m in c.get_metric_history(run_id, "val/miou")] == [0, 1, 2]


def test_experiments_open_on_the_runs_view_in_the_mlflow_ui(workdir):
    c = T.client(T.absolute_sqlite("sqlite:///mlflow.db"))
    exp = T.get_or_create_experiment(c, "ui")
    assert c.get_experiment(exp).tags["mlflow.experimentKind"] == "custom_model_development"

"""A training loop of one's own (experiments/custom_loop.py), swept, tracked, checkpointed and
reported by ablate."""

from pathlib import Path

import pandas as pd

from ablate import spec as S
from ablate import tracking as T
from ablate.reporting import Reporter
from ablate.train.custom import run

ROOT = Path(__file__).parent.parent
EXPERIMENT = ROOT / "experiments" / "custom_loop.yaml"


class Stop(Reporter):
    def __init__(self, after):
        self.after, self.seen = after, 0

    def metrics(self, values, step, timestamp_ms=None):
        self.seen = max(self.seen, step + 1)

    def should_stop(self):
        return self.seen >= self.after


def test_the_custom_loop_resumes_from_its_own_checkpoints(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the example's module is experiments.custom_loop
    spec = S.load(EXPERIMENT, ["train.epochs=4"], check_search=False)
    whole = run(spec, 0, Reporter())
    part = run(spec, 0, Stop(2), checkpoints=tmp_path)
    assert len(part.history) == 2
    rest = run(spec, 0, Reporter(), checkpoints=tmp_path)
    assert rest.resumed_from == 1
    assert [h["val/accuracy"] for h in rest.history] == [h["val/accuracy"] for h in whole.history]


def test_the_custom_loop_is_swept_tracked_and_reported(workdir, monkeypatch):
    import shutil

    from ablate.report.render import build_report
    from ablate.study import sweep

    shutil.copytree(ROOT / "experiments", workdir / "experiments")
    spec = S.load(workdir / "experiments" / "custom_loop.yaml",
                  ["train.epochs=2", "search.seeds=[0, 1]"])  # fmt: skip
    res = sweep(spec, workers=2, progress=False)
    assert (res.trained, res.failed) == (8, 0)
    runs = [r for r in T.find_runs(T.client(res.tracking_uri), res.experiment_id, role="seed")]
    assert {r.info.status for r in runs} == {"FINISHED"} and len(runs) == 8
    c = T.client(res.tracking_uri)
    steps = [m.step for m in c.get_metric_history(runs[0].info.run_id, "val/accuracy")]
    assert steps == [0, 1]
    out = build_report(res.tracking_uri, "custom_loop", "custom_loop", Path("reports/cl"),
                       settings=spec.report.model_dump())  # fmt: skip
    table = pd.read_csv(out.parent / "configs.csv")
    assert set(table["recon_weight"]) == {0.0, 0.1, 0.3, 1.0}
    assert "Against recon_weight=0 (no reconstruction term)" in out.read_text()

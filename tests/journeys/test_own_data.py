"""A lab's own images through `ablate sweep`: with loader workers in the sweep's spawned worker
processes (what a GPU machine's default gives), then with the default of this machine and
other runtime settings, which reuses every finished run; `ablate run` on a folder."""

from __future__ import annotations

import json
import re

import pytest
from folders import csv_digits, voc_digits
from lab import EXPERIMENTS


def _voc(root, workers: str = "") -> list[str]:
    data = f"{{name: voc_folder, params: {{root: {root}, crop: 32, num_classes: 11{workers}}}}}"
    return [
        "--set",
        f"data={data}",
        "--set",
        "train.epochs=2",
        "--set",
        "train.batch_size=8",
        "--set",
        "search.params.aux_weight.step=0.25",
        "--set",
        "search.seeds=[0,1,2,3]",
    ]


@pytest.mark.readme("ablate sweep")
def test_a_voc_folder_sweeps_with_loader_workers_and_a_second_sweep_reuses_it(user):
    root = voc_digits(user.home / "VOCdevkit" / "VOC2012", n_train=32, n_val=16, size=40)
    yaml = EXPERIMENTS / "pspnet_aux_weight.yaml"
    r = user.ablate("sweep", yaml, *_voc(root, ", workers: 2"))
    assert r.returncode == 0, r
    assert "failed 0" in r.output and "report: reports/pspnet_aux_weight/report.md" in r.output
    seeds = user.runs("pspnet_aux_weight", "seed")
    assert seeds and all(s.info.status == "FINISHED" for s in seeds), r
    assert {s.data.params["data.name"] for s in seeds} == {"voc_folder"}
    assert all(s.data.tags["ablate.device"] == "cpu" for s in seeds)
    configs = user.runs("pspnet_aux_weight", "config")
    assert len(configs) == 5 and all(c.info.status == "FINISHED" for c in configs)
    report = (user.home / "reports/pspnet_aux_weight/report.md").read_text()
    assert "no aux loss" in report and "aux_weight" in report
    # 5 weights x 4 seeds of the user's images: the pairwise family's critical value comes from
    # the wild bootstrap, and claims.json carries the number the report prints.
    line = re.search(r"Pairwise critical value: (\d+\.\d\d) standard errors of a difference, "
                     r"from a wild bootstrap.*would be (\d+\.\d\d)\.", report)  # fmt: skip
    assert line, report
    claims = json.loads((user.home / "reports/pspnet_aux_weight/claims.json").read_text())
    pairs = [c["statistic"] for c in claims if "critical" in c.get("statistic", {})]
    assert pairs and all(p["critical_from"] == "wild bootstrap" for p in pairs), claims
    assert {f"{p['critical']:.2f}" for p in pairs} == {line.group(1)}, claims
    # 5 weights: the dose-response, its seeds' check at 4 seeds' level (7%), and its sentence
    # as the page prints it -- with "no effect", the change these runs would have found.
    (claim,) = [c for c in claims if c["kind"] == "dose"]
    dose = claim["statistic"]
    assert dose["seeds_df"] == 6 and dose["seeds_level"] == 0.07, dose
    assert "against the seed x trend interaction at 7%" in claim["test"], claim
    assert claim["text"].replace("*", "") in report.replace("*", ""), claim
    found = re.search(r"These runs would find a change of (\S+) val/miou from aux_weight=0 to 1",
                      report)  # fmt: skip
    if dose["verdict"] == "none":
        assert "No effect of aux_weight detected" in report and found, report
        assert found.group(1) == f"{dose['detectable']:.2g}", (found.group(0), dose)
    else:
        assert not found and "detectable" not in dose, dose
        assert re.search(r"aux_weight (helps|hurts|has an effect)|No effect of aux_weight "
                         r"established", report), report  # fmt: skip

    # How data is loaded is not what is compared: the default loader workers, threads and
    # keep reuse every finished run of the same study.
    again = user.ablate("sweep", yaml, *_voc(root), "--set", "train.threads=1",
                        "--set", "train.keep=last")  # fmt: skip
    assert again.returncode == 0, again
    assert "this sweep trained 0" in again.output, again
    assert len(user.runs("pspnet_aux_weight", "seed")) == len(seeds)

    # What is compared is: another crop is another experiment, refused with what changed.
    other = user.ablate("sweep", yaml, *_voc(root), "--set", "data.params.crop=24")
    assert other.returncode == 2, other
    assert "data.params.crop: 32 -> 24" in other.stderr and "--study NEW_NAME" in other.stderr


@pytest.mark.readme("ablate sweep")
def test_a_multilabel_csv_folder_sweeps_with_the_default_loader_workers(user):
    root = csv_digits(user.home / "attributes", n_train=32, n_val=16, size=32)
    r = user.ablate(
        "sweep", EXPERIMENTS / "gat_supplement.yaml",
        "--set", f"data={{name: multilabel_csv, params: {{root: {root}, size: 32}}}}",
        "--set", "train.epochs=2", "--set", "search.params.gat_residual.choices=[true]",
        "--set", "search.params.supplement_weight.choices=[0.0,0.1]",
        "--set", "search.seeds=[0,1]",
    )  # fmt: skip
    assert r.returncode == 0, r
    seeds = user.runs("gat_supplement", "seed", "FINISHED")
    assert len(seeds) == 4, r
    assert {s.data.params["data.name"] for s in seeds} == {"multilabel_csv"}
    assert all("val/map" in s.data.metrics for s in seeds)
    assert (user.home / "reports/gat_supplement/report.html").exists()


@pytest.mark.readme("ablate run")
def test_ablate_run_trains_a_users_folder_once_and_says_where_the_run_is(user):
    root = voc_digits(user.home / "voc", n_train=16, n_val=8, size=40)
    r = user.ablate("run", EXPERIMENTS / "pspnet_aux_weight.yaml", *_voc(root)[:6])
    assert r.returncode == 0, r
    (run,) = user.runs("pspnet_aux_weight") or user.client().search_runs(
        [e.experiment_id for e in user.client().search_experiments()]
    )
    assert run.info.status == "FINISHED"
    assert run.info.run_id in r.output and "val/miou" in r.output

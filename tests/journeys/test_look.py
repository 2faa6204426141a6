"""What a user looks at after `make sweep`: the HTML report in a real browser (every section of
report.md, as a stranger reads it), `ablate ui` and `ablate dashboard` answering, and the make
targets the README gives (`make sweep`, `make report`, `make ui`, `make dashboard`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest
from lab import EXPERIMENTS, make, new_user, wait_http

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
QUICK = ["EXPERIMENT=experiments/pspnet_aux_weight_quick.yaml"]
SIZES = "--set data.params.train_scenes=96 --set train.epochs=3"
HALVING = ["--set", "data.params.train_scenes=96", "--set", "data.params.val_scenes=64",
           "--set", "train.epochs=3", "--set", "search.params.aux_weight.step=0.5",
           "--set", "search.seeds=[0,1,2,3]"]  # fmt: skip
# What each report must show: the quick experiment's (the default's design) its dose-response
# and a confirmation; the halving variant's its pruned configurations.
SECTIONS = {
    "pspnet_aux_weight_quick": {"Headline", "Configurations", "Confirmation on fresh seeds",
                                "val/miou vs aux_weight", "Method"},
    "pspnet_aux_weight_halving": {"Headline", "Pruned configurations", "Method"},
}  # fmt: skip


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`make sweep` of the quick experiment (sizes shrunk) in a fresh folder, then
    `ablate confirm`, and the halving variant beside it: between them, reports with every kind
    of section (dose-response, pruned, confirmed)."""
    user = new_user(tmp_path_factory.mktemp("look") / "lab")
    shutil.copytree(EXPERIMENTS, user.home / "experiments")
    r = make(user, "sweep", *QUICK, f"ARGS={SIZES}")
    assert r.returncode == 0, r
    c = user.ablate("confirm", "pspnet_aux_weight_quick", "--seeds", "2")
    assert c.returncode == 0, c
    h = user.ablate("sweep", "experiments/pspnet_aux_weight_halving.yaml", *HALVING)
    assert h.returncode == 0, h
    return user, r


@pytest.mark.readme("make sweep")
def test_make_sweep_in_a_fresh_folder_leaves_what_the_readme_lists(lab):
    user, r = lab
    assert "ablate sweep experiments/pspnet_aux_weight_quick.yaml --workers 2" in r.stdout, r
    report = user.home / "reports" / "pspnet_aux_weight_quick"
    for name in ("report.md", "report.html", "runs.csv", "configs.csv", "claims.json"):
        assert (report / name).is_file(), name
    assert (user.home / "mlflow.db").is_file() and (user.home / "optuna.db").is_file()
    assert (user.home / "dashboards" / "index.html").is_file()
    assert "`ablate ui`, then open http://127.0.0.1:5000/#/experiments/" in r.stdout
    # The default's design answers the dose-response: every weight trained on every seed and
    # in the table and figure, the trend fitted in the headline.
    import pandas as pd

    table = pd.read_csv(report / "configs.csv")
    assert sorted(table["aux_weight"]) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert set(table["n"]) == {4} and set(table["status"]) == {"tested"}
    kinds = [c["kind"] for c in json.loads((report / "claims.json").read_text())]
    assert "dose" in kinds, kinds


@pytest.mark.readme("make report")
def test_make_report_writes_the_report_again(lab):
    user, _ = lab
    md = user.home / "reports/pspnet_aux_weight_quick/report.md"
    before = md.stat().st_mtime_ns
    r = make(user, "report", *QUICK)
    assert r.returncode == 0 and "report: reports/pspnet_aux_weight_quick/report.md" in r.stdout
    assert md.stat().st_mtime_ns > before


@pytest.mark.readme("make sweep")
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")
@pytest.mark.parametrize("study", SECTIONS)
def test_the_html_report_shows_every_section_of_the_markdown_one(lab, tmp_path, study):
    from playwright.sync_api import sync_playwright

    user, _ = lab
    folder = user.home / "reports" / study
    md = (folder / "report.md").read_text()
    headings = re.findall(r"^## (.+)$", md, flags=re.M)
    assert SECTIONS[study] <= set(headings), headings
    tables = len(re.findall(r"^\|---", md, flags=re.M))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto((folder / "report.html").as_uri())
        shown = page.eval_on_selector_all("section > h2", "els => els.map(e => e.innerText)")
        assert shown == headings
        text = page.inner_text("body")
        study_run = re.search(r"study run `(\w+)`; generated (\S+ \S+)\.", md)
        assert study_run.group(1) in text and study_run.group(2) in text
        assert "**" not in text and not re.search(r"-0\.0+(?![\d])", text), text
        claims = json.loads((folder / "claims.json").read_text())
        for claim in claims:
            assert claim["text"].replace("**", "").replace("`", "") in page.inner_text(
                "#headline"
            ).replace("`", "")
        if study == "pspnet_aux_weight_quick":
            # 6 weights x 4 seeds: the pairwise critical value from the wild bootstrap, the
            # same number in report.md, on the page and in claims.json, beside Tukey's.
            line = re.search(
                r"Pairwise critical value: (\d+\.\d\d) standard errors of a difference, from a "
                r"wild bootstrap.*would be (\d+\.\d\d)\.",
                md,
            )
            assert line, md
            assert line.group(0).replace("`", "") in text.replace("`", "")
            # After `ablate confirm` the search's family is the nomination's (the confirmation
            # on 2 fresh seeds keeps Tukey's q).
            (search,) = [c["statistic"] for c in claims if c["kind"] in ("best_set", "nominated")]
            assert search["critical_from"] == "wild bootstrap", claims
            assert f"{search['critical']:.2f}" == line.group(1)
            assert f"{search['tukey_critical']:.2f}" == line.group(2)
            # The dose-response over 6 weights: when nothing is detected, the sentence says
            # what change the runs would have found 9 times in 10, the same number on the page
            # and in claims.json; when something is, no such hedge.
            (dose,) = [c for c in claims if c["kind"] == "dose"]
            found = re.search(r"These runs would find a change of (\S+) val/miou from "
                              r"aux_weight=0 to 1, .*? 9 times in 10", text)  # fmt: skip
            if dose["statistic"]["verdict"] == "none":
                assert found, text
                assert found.group(1) == f"{dose['statistic']['detectable']:.2g}"
                assert dose["statistic"]["detectable"] > dose["statistic"]["noise_bound"]
            else:
                assert not found and "detectable" not in dose["statistic"], dose
        assert page.locator("table").count() == tables
        cells = page.eval_on_selector_all("td", "els => els.map(e => e.innerText)")
        assert not {"True", "False", "nan"} & set(cells)
        # Nothing clipped: each table fits the page, every figure loaded.
        widths = page.eval_on_selector_all(
            "table", "els => els.map(e => [e.scrollWidth, e.parentElement.clientWidth])"
        )
        assert all(w <= room for w, room in widths), widths
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => e.complete && e.naturalWidth > 0)"
        )
        assert len(images) == md.count("![") and all(images)
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()


def _serve(user, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        args, cwd=user.home, env=user.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip


def _start(user, how: str, command: str) -> tuple[int, subprocess.Popen]:
    """`ablate COMMAND --port P` or `make COMMAND ARGS="--port P"`, in the background."""
    from servers import free_port

    port = free_port()
    if how == "ablate":
        exe = shutil.which("ablate", path=os.path.dirname(sys.executable)) or "ablate"
        return port, _serve(user, [exe, command, "--port", str(port)])
    return port, _serve(user, _make_cmd(command, f"ARGS=--port {port}"))


def _make_cmd(*args: str) -> list[str]:
    venv = os.path.dirname(os.path.dirname(sys.executable))
    return ["make", "--no-print-directory", "-f", str(EXPERIMENTS.parent / "Makefile"),
            f"VENV={venv}", "-o", f"{venv}/.installed", *args]  # fmt: skip


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.readme("ablate ui", "make ui")
@pytest.mark.parametrize("how", ["ablate", "make"])
def test_the_mlflow_ui_answers_with_the_studys_runs(lab, how):
    user, _ = lab
    port, ui = _start(user, how, "ui")
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        body = json.loads(wait_http(
            f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search?max_results=10"
        ))  # fmt: skip
        names = [e["name"] for e in body["experiments"]]
        assert "pspnet_aux_weight_quick" in names
    finally:
        _stop(ui)
    printed = ui.stdout.read()
    assert f"MLflow UI on http://127.0.0.1:{port}" in printed
    assert "viewStateShareKey=ablate-pspnet_aux_weight_quick" in printed, printed


@pytest.mark.readme("ablate dashboard", "make dashboard")
@pytest.mark.parametrize("how", ["ablate", "make"])
def test_optuna_dashboard_answers_with_the_study(lab, how):
    user, _ = lab
    port, dash = _start(user, how, "dashboard")
    try:
        body = json.loads(wait_http(f"http://127.0.0.1:{port}/api/studies"))
        assert sorted(s["study_name"] for s in body["study_summaries"]) == [
            "pspnet_aux_weight_halving",
            "pspnet_aux_weight_quick",
        ]
    finally:
        _stop(dash)

"""What a person looks at, opened in a real headless Chromium: the HTML report, the MLflow UI's
comparison view of a study, and optuna-dashboard over the study's storage.

Chromium comes from the OS (`make test` installs Debian's package when run as root, as CI is);
without it these tests are skipped with the reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest
from servers import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium)"
)
# How long the browser may take to render a page: the MLflow UI's runs table took over 60 s on
# a 2-core machine also running `make sweep` (a wait, not a bound on anything measured).
RENDER_MS = 240_000
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def swept(tmp_path_factory, tiny_raw_module):
    """A real tiny sweep with its report, in a folder of its own."""
    import os

    import yaml

    from ablate import spec as S
    from ablate.study import sweep

    folder = tmp_path_factory.mktemp("swept")
    old = os.getcwd()
    os.chdir(folder)
    try:
        (folder / "tiny.yaml").write_text(yaml.safe_dump(tiny_raw_module))
        res = sweep(S.load(folder / "tiny.yaml"), workers=2, progress=False)
        from ablate.report.render import build_report

        out = build_report(res.tracking_uri, "tiny", "tiny", folder / "reports" / "tiny")
    finally:
        os.chdir(old)
    return folder, res, out


@pytest.fixture(scope="module")
def tiny_raw_module(request):
    import copy

    # tests/conftest.py's TINY, from the module pytest loaded it as (tests/journeys has a
    # conftest too: "from conftest import" could find that one)
    return copy.deepcopy(request.config.pluginmanager.get_plugin(
        str(request.config.rootpath / "tests" / "conftest.py")).TINY)  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def wait_http(url: str, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer")


def test_the_html_report_shows_its_headline_and_every_figure(swept, browser, tmp_path):
    _, _, report = swept
    page = browser.new_page()
    page.goto(report.with_name("report.html").as_uri())
    headline = page.inner_text("#headline")
    claims = json.loads(report.with_name("claims.json").read_text())
    for claim in claims:  # rendered Markdown: no ** or ` left
        assert claim["text"].replace("**", "").replace("`", "") in headline
    images = page.eval_on_selector_all(
        "img", "els => els.map(e => [e.alt, e.complete && e.naturalWidth > 0])"
    )
    assert len(images) >= 2 and all(ok for _, ok in images), images
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 20_000


def test_the_mlflow_ui_opens_on_the_study_comparison_without_picking_columns(
    swept, browser, tmp_path
):
    folder, res, _ = swept
    port = free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "ablate.cli", "ui", "--port", str(port)],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        lines = []
        for line in ui.stdout:  # ablate ui prints the link to each study's saved view
            lines.append(line)
            if "viewStateShareKey" in line:
                break
        url = line.split(": ", 1)[1].strip()
        assert url.endswith(
            f"#/experiments/{res.experiment_id}/runs?viewStateShareKey=ablate-tiny"
        )
        wait_http(f"http://127.0.0.1:{port}/health")
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        page.goto(url)
        try:  # the count reads "0 matching runs" while the runs load
            page.wait_for_selector("text=3 matching runs", timeout=RENDER_MS)
        except Exception:  # noqa: BLE001  (say what the page showed instead)
            page.screenshot(path=str(tmp_path / "mlflow_view_timeout.png"))
            raise AssertionError(
                f"no '3 matching runs' after {RENDER_MS // 1000} s; the page "
                f"shows: {page.inner_text('body')[:1500]!r}"
            ) from None
        for text in ("val/miou_mean", "val/miou_n", "aux_weight=0.0", "aux_weight=1.0"):
            page.wait_for_selector(f"text={text}", timeout=RENDER_MS)  # rows come after the count
        text = page.inner_text("body")
        page.screenshot(path=str(tmp_path / "mlflow_view.png"))
        # sorted best first: the configuration runs appear in the order of their means
        import pandas as pd

        configs = pd.read_csv(folder / "reports" / "tiny" / "configs.csv")
        names = [f"aux_weight={v:.1f}" for v in configs["aux_weight"]]
        positions = [text.index(n) for n in names]
        assert positions == sorted(positions), (names, positions)
    finally:
        import os
        import signal

        os.killpg(ui.pid, signal.SIGKILL)
        ui.wait()


def test_optuna_dashboard_serves_the_study_from_its_storage(swept, browser):
    folder, _, _ = swept
    port = free_port()
    dash = subprocess.Popen(
        [sys.executable, "-m", "ablate.cli", "dashboard", "--port", str(port)],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/api/studies")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies") as r:
            studies = json.loads(r.read())["study_summaries"]
        assert [s["study_name"] for s in studies] == ["tiny"]
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/dashboard")
        page.wait_for_selector("text=tiny", timeout=RENDER_MS)
    finally:
        import os
        import signal

        os.killpg(dash.pid, signal.SIGKILL)
        dash.wait()

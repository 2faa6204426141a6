"""Each combination method's own search space joins a sweep of ``combiner.method``."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from ablate import spec as S
from ablate.registry import COMBINERS


def method_sweep(raw, choices, **extra):
    raw["combiner"] = {"method": "equal"}
    raw["search"]["params"] = {
        "method": {"path": "combiner.method", "type": "categorical", "choices": choices, **extra}
    }
    return S.validate(raw)


def test_a_grid_crosses_each_method_with_its_own_space_only(tiny_raw):
    spec = method_sweep(tiny_raw, ["fixed", "equal", "dwa"])
    cells = S.grid_cells(spec)
    assert cells == [
        {"method": "fixed", "fixed_schedule": "constant"},
        {"method": "fixed", "fixed_schedule": "linear"},
        {"method": "fixed", "fixed_schedule": "poly"},
        {"method": "equal"},
        {"method": "dwa", "dwa_temperature": 1.0},
        {"method": "dwa", "dwa_temperature": 2.0},
        {"method": "dwa", "dwa_temperature": 3.0},
    ]
    trial = S.with_values(spec, cells[-1])
    assert trial.combiner.method == "dwa" and trial.combiner.params == {"temperature": 3.0}


def test_spaces_false_runs_every_method_at_its_defaults(tiny_raw):
    spec = method_sweep(tiny_raw, ["fixed", "equal", "dwa"], spaces=False)
    assert S.grid_cells(spec) == [{"method": "fixed"}, {"method": "equal"}, {"method": "dwa"}]


def test_a_path_the_experiment_sweeps_itself_is_not_added_again(tiny_raw):
    tiny_raw["combiner"] = {"method": "dwa"}
    tiny_raw["search"]["params"] = {
        "method": {"path": "combiner.method", "type": "categorical", "choices": ["dwa"]},
        "t": {"path": "combiner.params.temperature", "type": "categorical", "choices": [5.0]},
    }
    assert S.grid_cells(S.validate(tiny_raw)) == [{"method": "dwa", "t": 5.0}]


@pytest.mark.parametrize("name", COMBINERS.names())
def test_every_methods_own_space_is_valid_for_it(name):
    cls = COMBINERS.get(name)
    for key, definition in cls.space.items():
        param = S.SearchParam(path=f"combiner.params.{key}", **definition)
        for value in param.grid():
            cls(terms=["main", "aux"], **{key: value})  # accepted by the method itself


def test_tpe_and_random_ask_a_methods_parameters_only_when_it_is_chosen(tiny_raw):
    import optuna

    from ablate.study.adapter import suggest

    choices = ["fixed", "equal", "dwa", "dtp", "gradnorm"]
    for sampler in ("random", "tpe"):
        tiny_raw["search"]["sampler"], tiny_raw["search"]["n_trials"] = sampler, 30
        spec = method_sweep(tiny_raw, choices)
        study = optuna.create_study(
            sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=5)
            if sampler == "tpe"
            else optuna.samplers.RandomSampler(seed=0)
        )
        seen = set()
        for _ in range(30):
            trial = study.ask()
            values = suggest(trial, spec)
            method = values["method"]
            own = {f"{method}_{k}" for k in COMBINERS.get(method).space}
            assert set(values) == {"method"} | own
            S.with_values(spec, values)  # every sampled value builds a valid experiment
            study.tell(trial, float(len(values)))
            seen.add(method)
        assert len(seen) >= 3


def test_a_conditional_sweep_reports_each_setting(workdir, tiny_raw):
    from ablate.report.render import build_report
    from ablate.study import sweep

    tiny_raw["train"]["epochs"] = 3  # DWA moves its weights from the third epoch
    tiny_raw["search"]["seeds"] = [0]
    spec = method_sweep(tiny_raw, ["equal", "dwa"])
    path = Path("e.yaml")
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    res = sweep(S.load(path), workers=2, progress=False)
    assert res.trained == 4 and res.failed == 0
    out = build_report(res.tracking_uri, "tiny", "tiny", Path("reports/tiny"))
    configs = pd.read_csv(out.parent / "configs.csv")
    assert set(configs["label"]) == {
        "method=equal",
        "method=dwa, dwa_temperature=1",
        "method=dwa, dwa_temperature=2",
        "method=dwa, dwa_temperature=3",
    }
    assert (out.parent / "val_miou_vs_setting.png").stat().st_size > 10_000
    assert (out.parent / "weights.png").stat().st_size > 10_000  # DWA's weights moved
    assert "Term weights per epoch" in out.read_text()

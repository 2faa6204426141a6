import pytest

from ablate import spec as S
from ablate.errors import AblateError, ConfigError


def error_of(raw, overrides=()):
    for o in overrides:
        S.apply_override(raw, o)
    with pytest.raises(ConfigError) as info:
        S.validate(raw)
    return str(info.value)


def test_a_misspelled_key_names_its_path_and_suggests_the_right_one(tiny_raw):
    assert (
        error_of(tiny_raw, ["train.epoch=3"])
        == "train.epoch: unknown key (did you mean 'epochs'?)"
    )


def test_a_wrong_type_names_its_path(tiny_raw):
    assert error_of(tiny_raw, ["train.epochs=many"]).startswith("train.epochs: Input should be")


def test_a_negative_aux_weight_is_rejected(tiny_raw):
    msg = error_of(tiny_raw, ["combiner.params.weights.aux=-0.5"])
    assert msg == "combiner.params.weights.aux: Input should be greater than or equal to 0"


def test_a_search_range_reaching_an_invalid_value_is_rejected_before_training(tiny_raw):
    msg = error_of(tiny_raw, ["search.params.aux_weight.low=-0.5"])
    assert msg.startswith(
        "search.params.aux_weight: value -0.5 is invalid at combiner.params.weights.aux"
    )


def test_an_unknown_model_lists_the_registered_ones(tiny_raw):
    assert (
        "model.name: unknown model 'pspnett'; registered: fcn8s, group_cls_gat, pspnet"
        in error_of(tiny_raw, ["model.name=pspnett"])
    )


def test_an_unknown_model_parameter_is_rejected(tiny_raw):
    assert error_of(tiny_raw, ["model.params.backbon=tiny"]).startswith(
        "model.params.backbon: unknown parameter (did you mean 'backbone'?)"
    )


def test_a_term_on_a_missing_output_is_rejected(tiny_raw):
    assert "terms.1.output: model 'pspnet' has no output 'aux3'" in error_of(
        tiny_raw, ["terms.1.output=aux3"]
    )


def test_a_weight_for_an_unknown_term_is_rejected(tiny_raw):
    assert "unknown term(s) ['auxx']" in error_of(tiny_raw, ["combiner.params.weights.auxx=1"])


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(AblateError, match="experiment file not found"):
        S.load(tmp_path / "nope.yaml")


def test_overrides_are_parsed_as_yaml(tiny_file):
    spec = S.load(tiny_file, ["search.seeds=[3, 4, 5]", "train.lr=1e-3", "train.optimizer=sgd"])
    assert spec.search.seeds == [3, 4, 5]
    assert spec.train.lr == pytest.approx(1e-3)
    assert spec.train.optimizer == "sgd"


def test_an_override_without_equals_sign_is_rejected(tiny_file):
    with pytest.raises(AblateError, match="--set expects dotted.key=value"):
        S.load(tiny_file, ["train.epochs"])


def test_the_config_hash_is_stable_and_ignores_search_and_key_order(tiny_raw):
    a = S.validate(tiny_raw)
    reordered = dict(reversed(list(tiny_raw.items())))
    reordered["search"] = {**tiny_raw["search"], "seeds": [7]}
    assert S.validate(reordered).config_hash() == a.config_hash()
    assert S.with_values(a, {"aux_weight": 0.5}).config_hash() != a.config_hash()


def test_flatten_logs_every_field_by_dotted_key(tiny_raw):
    flat = S.validate(tiny_raw).flatten()
    assert flat["combiner.params.weights.aux"] == "0.4"
    assert flat["terms.1.output"] == "aux"
    assert flat["train.epochs"] == "2"


def test_the_default_experiment_is_six_aux_weights_on_four_seeds_to_the_end():
    spec = S.load("experiments/pspnet_aux_weight.yaml")
    cells = S.grid_cells(spec)
    assert [c["aux_weight"] for c in cells] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert spec.search.seeds == [0, 1, 2, 3]
    # a dose-response: every weight on every seed to the end, nothing pruned or raced
    assert spec.search.pruner.name == "none" and spec.search.race is None
    quick = S.load("experiments/pspnet_aux_weight_quick.yaml")
    assert S.grid_cells(quick) == cells and quick.search.seeds == spec.search.seeds
    assert quick.search.pruner.name == "none" and quick.search.race is None
    # "which weight is best?": 11 weights judged at rungs on the first 3 seeds, raced up to 6
    halving = S.load("experiments/pspnet_aux_weight_halving.yaml")
    assert [c["aux_weight"] for c in S.grid_cells(halving)] == [
        round(0.1 * i, 10) for i in range(11)
    ]
    assert halving.search.pruner.rungs(halving.train.epochs) == [2, 6]
    assert halving.search.race.counts(6) == [3, 4, 5, 6]
    assert halving.train == spec.train and halving.data == spec.data


def test_grid_search_needs_a_step(tiny_raw):
    tiny_raw["search"]["params"]["aux_weight"].pop("step")
    assert "needs a 'step'" in error_of(tiny_raw)


def test_sweeping_the_combiner_method_gives_each_method_its_own_defaults(tiny_raw):
    tiny_raw["search"]["params"] = {
        "method": {
            "path": "combiner.method",
            "type": "categorical",
            "choices": ["fixed", "equal", "uncertainty", "dwa"],
        }
    }
    spec = S.validate(tiny_raw)  # fixed's weights would be invalid for the others
    assert S.with_values(spec, {"method": "fixed"}).combiner.params == {"weights": {"aux": 0.4}}
    assert S.with_values(spec, {"method": "dwa"}).combiner.params == {}
    hashes = {S.with_values(spec, {"method": m}).config_hash() for m in ("fixed", "equal", "dwa")}
    assert len(hashes) == 3


def test_an_unknown_method_among_the_choices_is_rejected_before_training(tiny_raw):
    tiny_raw["search"]["params"] = {
        "method": {"path": "combiner.method", "type": "categorical", "choices": ["fixed", "gn"]}
    }
    msg = "search.params.method: value 'gn' is invalid at combiner.method: unknown combiner"
    assert msg in error_of(tiny_raw)

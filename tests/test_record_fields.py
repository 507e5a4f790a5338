"""The round record's fields, each declared once with where it is shown
(record.py): the TensorBoard summary run's scalars, the HPARAMS row's metrics
and the values of `optimized_metric` are read from that one declaration, and a
real run shows every field it filled in each place the field names."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest
from conftest import all_scalars

from rlth_runner.run import hparams
from rlth_runner.config import ConfigError, choices, validate
from rlth_runner.record import HPARAM, OPTIMIZABLE, SCALAR, RoundRecord

PLACES = (SCALAR, HPARAM, OPTIMIZABLE)
# The smallest teacher-student regression (dataset=teacher), as tests/test_models.py runs it.
TEACHER = ("dataset=teacher", "dataset.d=12", "dataset.r=3", "dataset.N=16", "dataset.val_size=4", "dataset.test_size=8")


def declared(place: str) -> tuple[str, ...]:
    return tuple(f.name for f in fields(RoundRecord) if place in f.metadata.get("shown", ()))


def test_every_list_of_keys_is_read_from_the_one_declaration():
    assert RoundRecord.SCALARS == declared(SCALAR)
    assert hparams.METRICS == declared(HPARAM)
    assert choices.OPTIMIZED_METRICS == declared(OPTIMIZABLE)
    for place in PLACES:
        assert RoundRecord.shown_in(place) == declared(place)
    # What the three hand-written lists had drifted on.
    assert {"steps_to_target", "subnetwork_density"} <= set(RoundRecord.SCALARS) & set(hparams.METRICS) & set(choices.OPTIMIZED_METRICS)


def test_only_numbers_are_shown_and_only_in_known_places():
    for f in fields(RoundRecord):
        places = f.metadata.get("shown", frozenset())
        assert places <= set(PLACES), f.name
        if places:  # a TensorBoard scalar, an HPARAMS metric and a sweeper's objective are all one number
            assert re.fullmatch(r"(int|float)( \| None)?", f.type), f"{f.name}: {f.type}"


def test_optimized_metric_takes_exactly_the_optimizable_keys(make_cfg):
    for key in choices.OPTIMIZED_METRICS:
        validate(make_cfg(f"optimized_metric={key}"))
    not_optimizable = next(f.name for f in fields(RoundRecord) if OPTIMIZABLE not in f.metadata.get("shown", ()) and f.name != "round")
    with pytest.raises(ConfigError, match=f"optimized_metric='{not_optimizable}' is not one of: "):
        validate(make_cfg(f"optimized_metric={not_optimizable}"))


def summary_scalars(out) -> dict[str, list[tuple[int, float]]]:
    prefix = "summary/rounds/"
    return {tag.removeprefix(prefix): points for tag, points in all_scalars(out).items() if tag.startswith(prefix)}


def hparams_row(out) -> dict[str, float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(out / "tensorboard" / "hparams"))
    acc.Reload()
    return {tag.removeprefix("final/"): acc.Scalars(tag)[-1].value for tag in acc.Tags()["scalars"]}


@pytest.mark.parametrize("overrides, filled", [
    # Classification with every optional measure: the validation grid, a target error, the instability analysis, edge-popup.
    (("train.eval_every_n_steps=2", "train.target_error=0.95", "analysis.instability.enabled=true", "analysis.instability.points=3",
      "train.mode=edge_popup"),
     {"steps_to_99", "steps_to_target", "early_stop_step", "instability_barrier", "supermask_acc", "subnetwork_density"}),
    # Regression: errors instead of accuracies.
    ((*TEACHER, "train.eval_every_n_steps=2", "train.target_error=100"), {"val_error", "test_error", "steps_to_target"}),
], ids=["classification", "regression"])
def test_a_run_shows_every_field_it_filled_where_the_field_says(make_cfg, tmp_path, overrides, filled):
    from rlth_runner.run.runner import run

    out = tmp_path / "run"
    result = run(make_cfg("rounds=2", *overrides, out=out))
    rounds = result["summary"]["rounds"]
    assert filled <= {key for key in RoundRecord.keys() if rounds[-1][key] is not None}  # the run filled what it is here to show

    scalars = summary_scalars(out)
    shown = {key for key in RoundRecord.SCALARS if any(r[key] is not None for r in rounds)}
    assert set(scalars) == shown
    for key in shown:
        assert scalars[key] == [(r["round"], pytest.approx(r[key], rel=1e-6)) for r in rounds if r[key] is not None], key

    last = rounds[-1]
    row = hparams_row(out)
    assert set(row) == {key for key in hparams.METRICS if last[key] is not None}
    for key, value in row.items():
        assert value == pytest.approx(last[key], rel=1e-6), key

    record = RoundRecord.from_dict(last)
    assert result["objective"] == (record.val_acc if record.val_acc is not None else record.val_error)  # the default objective
    for key in choices.OPTIMIZED_METRICS:
        assert record.objective(key) == last[key]

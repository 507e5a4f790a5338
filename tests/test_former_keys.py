"""`flops` and `train_flops` became `macs` and `train_macs` (they count
multiply-accumulates). Run directories written before still resume, rlth-report
still reads them, and `optimized_metric=flops` still means `macs`."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from rlth_runner.config import ConfigError, validate
from rlth_runner.record import FORMER_KEYS, RoundRecord
from rlth_runner.storage.files import sha256

OLD_RECORD = dict(round=1, density=0.8, layer_density={}, params_total=10, params_nonzero=8, hidden_layers=1, flops=64,
                  val_acc=0.5, test_acc=0.5, test_loss=1.0, train_flops=3 * 64 * 100)


def test_a_record_with_the_former_keys_loads_under_the_current_ones():
    record = RoundRecord.from_dict(OLD_RECORD)
    assert (record.macs, record.train_macs, record.extra) == (64, 3 * 64 * 100, {})
    written = record.to_dict()
    assert written["macs"] == 64 and written["train_macs"] == 3 * 64 * 100 and not set(FORMER_KEYS) & set(written)
    assert RoundRecord.from_dict({**OLD_RECORD, "macs": 65}).macs == 65  # both present: the current key wins
    assert record.objective("flops") == record.objective("macs") == 64


def as_written_before_the_rename(out) -> None:
    """Rewrite a run directory's records with the former keys, as the code before the rename wrote them,
    checksums included (a round whose metrics.json does not match its checksum would be retrained)."""
    ledger_path = out / "checksums.json"
    ledger = json.loads(ledger_path.read_text())
    old = lambda record: {{v: k for k, v in FORMER_KEYS.items()}.get(k, k): v for k, v in record.items()}  # noqa: E731
    summary = json.loads((out / "summary.json").read_text())
    (out / "summary.json").write_text(json.dumps({**summary, "rounds": [old(r) for r in summary["rounds"]]}))
    for path in sorted(out.glob("rounds/round_*/metrics.json")):
        path.write_text(json.dumps(old(json.loads(path.read_text()))))
        ledger[str(path.relative_to(out))] = {"sha256": sha256(path), "bytes": path.stat().st_size}
    ledger_path.write_text(json.dumps(ledger))


def test_a_run_directory_written_before_the_rename_reports_and_resumes(make_cfg, tmp_path):
    from rlth_runner.report import costs, plots
    from rlth_runner.storage.layout import RunLayout
    from rlth_runner.report.groups import Group
    from rlth_runner.report.runs import load_run
    from rlth_runner.run.runner import run

    out = tmp_path / "run"
    validate(make_cfg("optimized_metric=flops"))
    cfg = make_cfg("rounds=2", "optimized_metric=flops", out=out)
    first = run(cfg)
    RunLayout(out).config_path.parent.mkdir()
    OmegaConf.save(cfg, RunLayout(out).config_path)  # what rlth-run's Hydra saves, and rlth-report reads the settings from
    before = first["summary"]["rounds"]
    assert first["objective"] == before[-1]["macs"] > 0

    as_written_before_the_rename(out)
    assert "flops" in json.loads((out / "rounds" / "round_1" / "metrics.json").read_text())
    reported = load_run(out)
    assert [(r.macs, r.train_macs) for r in reported.records] == [(r["macs"], r["train_macs"]) for r in before]
    group = Group("policy=reset", [reported])
    assert len(costs.accuracy_against_costs([group], plots.colours([group])).axes) == 2  # the training-MACs panel is drawn

    rounds = run(make_cfg("rounds=3", "optimized_metric=flops", out=out))["summary"]["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    assert [r["macs"] for r in rounds[:2]] == [r["macs"] for r in before]  # rounds 0 and 1 loaded, not trained again
    assert [r["seconds"] for r in rounds[:2]] == [r["seconds"] for r in before]
    assert all("flops" not in r and "train_flops" not in r for r in rounds)
    assert rounds[2]["macs"] < rounds[1]["macs"]


def test_a_former_key_is_optimisable_only_where_its_field_is(make_cfg):
    # train_macs is not a value of optimized_metric, so neither is the name it had.
    with pytest.raises(ConfigError, match="optimized_metric='train_flops' is not one of"):
        validate(make_cfg("optimized_metric=train_flops"))

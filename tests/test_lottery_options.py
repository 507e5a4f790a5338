"""Bad pruner, policy, stop and verify options fail before training, with one line
naming the key and what is allowed; every pruner and policy runs (in process,
and from the CLI in the slow tier)."""

import json

import pytest

from conftest import FAST, rlth_run
from rlth_runner.config import ConfigError, validate
from rlth_runner.run.runner import run


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["pruner.sparsity=1.0"], "pruner.sparsity=1.0 must be in [0, 1)"),
        (["pruner.schedule=cubic"], "pruner.schedule='cubic' is not one of: imp, level, one_shot, target"),
        (["pruner=l1_filter", "pruner.scope=global"], "pruner.scope='global' is not one of: layer"),
        (["pruner.scope=everywhere"], "pruner.scope='everywhere' is not one of: layer, global"),
        (["pruner.name=lottery"], "pruner.name='lottery' is not one of: l1_filter, magnitude, random"),
        (["pruner.layer_rates={output:1.5}"], "pruner.layer_rates.output=1.5 must be in [0, 1)"),
        (["pruner.include=output"], "pruner.include='output' must be a list of layer-name patterns"),
        (["pruner.target_rounds=0"], "pruner.target_rounds=0 must be an integer >= 1 or null"),
        (["policy=rewind", "policy.step=null"], "policy.step=None: policy=rewind needs policy.step"),
        (["policy=rewind", "policy.step=-1"], "policy.step=-1 must be an integer >= 0"),
        (["stop.density=1.5"], "stop.density=1.5 must be in [0, 1]"),
        (["stop.compression=0.5"], "stop.compression=0.5 must be a number >= 1"),
        (["stop.metric=loss"], "stop.metric='loss' is not one of: val_acc, test_acc"),
        (["verify.reference=best"], "verify.reference='best' is not one of: dense, final, target"),
        (["verify.enabled=true", "verify.reference=target"], "verify.reference='target' needs stop.accuracy"),
    ],
)
def test_config_errors_name_the_key_and_the_allowed_values(make_cfg, overrides, needle):
    with pytest.raises(ConfigError) as err:
        validate(make_cfg(*overrides))
    assert str(err.value).startswith(needle) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "overrides, needle",
    [
        # digits: 1,257 training examples, 20 batches of 64; FAST caps a round at 8 steps
        (["policy=rewind", "policy.step=9"], "policy.step=9 (step 9) is beyond round 0's length of 8 steps"),
        (["policy=rewind", "policy.epoch=2", "train.max_steps=null"], "policy.epoch=2 (step 40) is beyond round 0's length of 20 steps"),
        (["pruner.layer_rates={outptu:0.1}"], "pruner.layer_rates: 'outptu' matches no prunable layer of model mlp; its prunable layers are: input, hidden.h0, output"),
        (["pruner=l1_filter"], "pruner.layer_types=['Conv2d'] selects no layer of model mlp"),
        # a growing network is checked as it will be by the last round: hidden.h0 appears after round 0
        (["policy=grow", "model.hidden_layers=0", "pruner.include=[hiden.*]"],
         "pruner.include: 'hiden.*' matches no prunable layer of model mlp; its prunable layers are: input, hidden.h0, output"),
        (["policy=grow", "model.hidden_layers=0", "policy.every=5", "pruner.include=[hidden.*]"],
         "pruner.include: 'hidden.*' matches no prunable layer of model mlp; its prunable layers are: input, output"),
    ],
)
def test_model_dependent_errors_fail_before_round_0(make_cfg, tmp_path, overrides, needle):
    cfg = make_cfg("rounds=2", *overrides)
    validate(cfg)
    with pytest.raises(ConfigError) as err:
        run(cfg)
    assert str(err.value).startswith(needle) and "\n" not in str(err.value), str(err.value)
    assert not (tmp_path / "run" / "summary.json").exists()
    assert not (tmp_path / "run" / "rounds").exists()


# The five runs pair the four pruners with the five policies (l1_filter prunes
# the MLP's hidden units). In process in the fast tier; each costs a few seconds
# more of imports from the CLI, so the CLI versions are slow.
CLI_RUNS = [
    ("magnitude", "rewind", ["policy.step=4", "pruner.layer_rates={output:0.1}", "verify.enabled=true"]),
    ("global_magnitude", "finetune", ["pruner.schedule=target"]),
    ("random", "reinit", ["pruner.schedule=level"]),
    ("l1_filter", "random_mask", ["pruner.layer_types=[Linear]", "pruner.exclude=[output]", "pruner.schedule=one_shot"]),
    ("magnitude", "reset", ["pruner.include=[hidden.*]", "stop.density=0.7"]),
]
RUN_IDS = [f"{p}-{q}" for p, q, _ in CLI_RUNS]


def check_run(run_dir, pruner, policy):
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["status"] == "completed" and s["policy"] == policy and s["pruner"] == pruner.removeprefix("global_")
    densities = [r["density"] for r in s["rounds"]]
    assert densities[0] == 1.0 and densities[-1] < 1.0
    assert all(r["train_steps"] == 8 for r in s["rounds"]), "every round trains FAST's 8 steps"
    if policy == "reset":  # only the hidden layer is prunable; stops once it is at 0.8^2 = 0.64
        assert list(s["rounds"][-1]["layer_density"]) == ["hidden.h0"]
        assert s["stopped_by"] == "density" and len(s["rounds"]) == 3
    else:
        assert s["stopped_by"] == "max_rounds" and [r["round"] for r in s["rounds"]] == [0, 1, 2]
    if policy == "rewind":
        assert (run_dir / "rewind.pt").exists() and "winning_ticket" in s["verification"]
        assert s["rounds"][2]["layer_density"]["output"] == 259 / 320  # floor(320 * 0.9^2 + 0.5)
    if pruner == "global_magnitude":  # target: sparsity 0.2 reached over the 2 pruning rounds, 0.8^(1/2) after the first
        assert densities[1] == pytest.approx(0.8 ** 0.5, abs=0.01) and densities[2] == pytest.approx(0.8, abs=0.01)
    if pruner == "random":  # level: every layer at 0.8 after every pruning round
        assert densities[1] == pytest.approx(0.8, abs=0.01) and densities[2] == pytest.approx(0.8, abs=0.01)
    if pruner == "l1_filter":
        assert s["rounds"][1]["layer_density"]["input"] == pytest.approx(26 / 32)  # floor(32 * 0.8 + 0.5) units
        assert s["rounds"][2]["density"] == s["rounds"][1]["density"], "one_shot prunes once"
    return s


@pytest.mark.parametrize("pruner, policy, extra", CLI_RUNS, ids=RUN_IDS)
def test_every_pruner_and_policy_runs(make_cfg, tmp_path, pruner, policy, extra):
    cfg = make_cfg("rounds=3", f"pruner={pruner}", f"policy={policy}", *extra)
    validate(cfg)
    result = run(cfg)
    s = check_run(tmp_path / "run", pruner, policy)
    assert result["summary"]["rounds"] == s["rounds"] and result["objective"] == s["rounds"][-1]["val_acc"]


@pytest.mark.slow
@pytest.mark.parametrize("pruner, policy, extra", CLI_RUNS, ids=RUN_IDS)
def test_every_pruner_and_policy_runs_from_the_cli(tmp_path, pruner, policy, extra):
    run_dir = tmp_path / "run"
    rlth_run(*FAST, "rounds=3", f"pruner={pruner}", f"policy={policy}", *extra, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    check_run(run_dir, pruner, policy)


BAD_OPTIONS = [
    ("pruner.schedule=cubic", "pruner.schedule='cubic' is not one of: imp, level, one_shot, target"),
    ("policy.step=500", "policy.step=500 (step 500) is beyond round 0's length of 8 steps"),
]


def bad_option_overrides(override: str) -> list[str]:
    return [override] if override.startswith("pruner") else ["policy=rewind", override]


@pytest.mark.parametrize("override, needle", BAD_OPTIONS)
def test_bad_option_is_one_line_before_training(make_cfg, tmp_path, override, needle):
    # What the CLI prints after "rlth-run: error: ", exiting 2 (the slow test below runs the CLI).
    cfg = make_cfg(*bad_option_overrides(override))
    with pytest.raises(ConfigError) as err:
        validate(cfg)
        run(cfg)
    assert str(err.value).startswith(needle) and "\n" not in str(err.value), str(err.value)
    assert not (tmp_path / "run" / "summary.json").exists()
    assert not (tmp_path / "run" / "rounds").exists()


@pytest.mark.slow
@pytest.mark.parametrize("override, needle", BAD_OPTIONS)
def test_cli_bad_option_is_one_line_before_training(tmp_path, override, needle):
    proc = rlth_run(*FAST, *bad_option_overrides(override), f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"rlth-run: error: {needle}"), proc.stderr
    assert not (tmp_path / "run" / "summary.json").exists()

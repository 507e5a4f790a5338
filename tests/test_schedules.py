"""Schedules: the density each layer should have after each round (torch-free)."""

import zlib

import pytest

from rlth_runner import seeds
from rlth_runner.lottery.pruning import density_schedules as schedules


def test_imp_removes_a_fraction_of_the_remaining_weights():
    assert [schedules.imp(k, 0.2, 99) for k in range(4)] == pytest.approx([1, 0.8, 0.64, 0.512])


def test_level_prunes_to_the_same_sparsity_every_round():
    assert [schedules.level(k, 0.95, 99) for k in (1, 2, 7)] == pytest.approx([0.05] * 3)


def test_target_reaches_the_final_sparsity_in_n_rounds_then_holds():
    d = [schedules.target(k, 0.9, 4) for k in range(1, 7)]
    assert d[3] == pytest.approx(0.1) and d[4] == d[5] == d[3]
    ratios = [b / a for a, b in zip([1.0] + d[:3], d[:4])]
    assert ratios == pytest.approx([0.1 ** 0.25] * 4), "the same fraction of the remaining weights each round"


def test_one_shot_prunes_only_after_round_0():
    assert schedules.one_shot(1, 0.8, 9) == pytest.approx(0.2)
    assert schedules.one_shot(2, 0.8, 9) is None and schedules.one_shot(5, 0.8, 9) is None


def test_target_count_rounds_half_up():
    assert schedules.target_count(10, 0.25) == 3  # 2.5 -> 3
    assert schedules.target_count(10, 0.24) == 2
    assert schedules.target_count(7, 0.0) == 0


def test_unknown_schedule_names_the_choices():
    with pytest.raises(KeyError, match="imp, level, one_shot, target"):
        schedules.get("cubic")


def test_derived_seeds_differ_by_stream_and_round_and_are_stable():
    a = seeds.derive(3, "reinit", 1)
    assert a == seeds.derive(3, "reinit", 1)
    assert len({a, seeds.derive(3, "reinit", 2), seeds.derive(3, "random_mask", 1), seeds.derive(4, "reinit", 1)}) == 4


def test_seed_streams_keep_the_values_of_version_0_1():
    # Runs made before seeds.py existed reproduce only if these stay.
    assert seeds.derive(7, "init") == 7
    assert seeds.derive(7, "train", 3) == seeds.derive(7, "new_layer", 3) == 7003
    assert seeds.derive(7, "verify") == 7999
    assert seeds.derive(3, "prune", 1) == 3001 * 2**20 + zlib.crc32(b"prune") % 2**20

"""Comparing a run with round records saved on another machine.

Another CPU runs other vector kernels (`ATEN_CPU_CAPABILITY`), which add the
same float32 numbers in another order, so a run reproduces another machine's
losses only to within rounding. Everything that is counted or decided (steps,
nonzero parameters, densities, architecture) is still exact, and so is the
comparison of two runs on one machine (resume, block size, branches): those
tests compare bit for bit and do not use this module.
"""

from __future__ import annotations

import math

from rlth_runner.record import FORMER_KEYS

# Integers, or ratios of integers (densities, compression): any difference is a real change.
EXACT = ("round", "density", "layer_density", "params_total", "params_nonzero", "hidden_layers", "macs",
         "train_steps", "train_macs", "epochs", "pruned", "compression", "early_stop_step", "steps_to_99")
# Fractions of an evaluation set, keyed by the size of that set's config key.
ACCURACIES = {"val_acc": "val_size", "test_acc": "test_size", "early_stop_val_acc": "val_size",
              "early_stop_test_acc": "test_size", "supermask_acc": "test_size"}
# Computed from the trained weights: losses, errors and relative distances, within float32_rtol.
LOSSES = ("test_loss", "val_error", "test_error", "early_stop_val_loss", "dist_from_start", "dist_from_init")

UNIT_ROUNDOFF = 2.0**-24  # float32


def float32_rtol(optimizer_steps: int, longest_sum: int) -> float:
    """How far another CPU's float32 kernels can move a loss after training.

    Reordering a sum of n float32 terms moves it by at most gamma_n = n u / (1 - n u)
    of the sum of the terms' magnitudes (Higham, Accuracy and Stability of Numerical
    Algorithms, 2002, section 3.1). A training step's longest sum is over the batch
    (a weight gradient) or over a layer's inputs (the forward pass). Each step starts
    from the previous one's weights, so to first order the steps' errors add: after T
    steps the weights, and a loss computed from them, are within T gamma_n of the
    other machine's, relatively. This is a first-order bound, over a thousand times what
    is seen between the AVX-512, AVX2 and default kernels (at most 2.6e-7 on the golden
    runs, against 3e-4 to 1.5e-3 allowed), yet well below what a real change does: a
    learning rate 1% off moves the same losses by 1.1-1.4%, 18 to 46 times the allowance
    (test_a_real_change_is_caught_by_the_recorded_comparison).
    """
    n = longest_sum
    gamma = n * UNIT_ROUNDOFF / (1 - n * UNIT_ROUNDOFF)
    return optimizer_steps * gamma


def differences(got: list[dict], expected: list[dict], *, longest_sum: int, eval_sizes: dict[str, int]) -> list[str]:
    """Each way `got` (a run's round records) departs from the recorded ones.

    An accuracy may differ by one example of its evaluation set: an example whose two
    best logits are within rounding of each other (a tie edge) can go either way.
    """
    problems = []
    if len(got) != len(expected):
        problems.append(f"{len(got)} rounds, recorded {len(expected)}")
    steps = 0
    for mine, theirs in zip(got, expected):
        k = theirs["round"]
        steps += theirs.get("train_steps", 0)
        rtol = float32_rtol(steps, longest_sum)
        for recorded_key, want in theirs.items():
            key = FORMER_KEYS.get(recorded_key, recorded_key)  # records saved before a rename hold the former key
            have = mine.get(key)
            if key in EXACT or not isinstance(want, float):
                ok = have == want
            elif key in ACCURACIES:
                ok = have is not None and abs(have - want) <= 1 / eval_sizes[ACCURACIES[key]] + UNIT_ROUNDOFF
            elif key in LOSSES:
                ok = have is not None and math.isclose(have, want, rel_tol=rtol, abs_tol=0.0)
            else:
                raise KeyError(f"round {k}: say how to compare {key!r} across machines")
            if not ok:
                problems.append(f"round {k} {key}: {have!r}, recorded {want!r}")
    return problems

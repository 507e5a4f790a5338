"""When a run stops: the RLTH paper's rules (Algorithms 1 and 2), whichever
is met first. `rounds` is the maximum; the others are optional targets,
checked after every pruned round (round 0 is the dense reference):

    stop.accuracy     the round's `stop.metric` (val_acc by default) >= this
    stop.density      the fraction of prunable weights left <= this
    stop.compression  round 0's nonzero parameters / this round's >= this
                      (compression=10 is the paper's r*_comp = 0.1)

Torch-free: a verdict is a function of the rounds' records only, so a resumed
run stops exactly where an uninterrupted one did.
"""

from __future__ import annotations

from ..record import RoundRecord


def compression(first: RoundRecord, record: RoundRecord) -> float:
    return first.params_nonzero / max(1, record.params_nonzero)


def check(stop_cfg, first: RoundRecord, metrics: RoundRecord) -> tuple[str, str] | None:
    """(rule, message) if a target is met after this round, else None."""
    if metrics.round == 0:
        return None
    met = []
    if stop_cfg.accuracy is not None:
        value = getattr(metrics, stop_cfg.metric)
        if value is not None and value >= stop_cfg.accuracy:
            met.append(("accuracy", f"{stop_cfg.metric} {value:.4f} >= stop.accuracy={stop_cfg.accuracy}"))
    if stop_cfg.density is not None and metrics.density <= stop_cfg.density:
        met.append(("density", f"density {metrics.density:.4f} <= stop.density={stop_cfg.density}"))
    if stop_cfg.compression is not None:
        ratio = compression(first, metrics)
        if ratio >= stop_cfg.compression:
            met.append(("compression", f"compression {ratio:.2f}x >= stop.compression={stop_cfg.compression}"))
    if not met:
        return None
    return met[0][0], f"after round {metrics.round}: " + "; ".join(m for _, m in met)


def judge(vcfg, stop_cfg, rounds: list[RoundRecord], result: RoundRecord) -> dict:
    """Algorithm 1, lines 9-10: is the retrained subnetwork a winning ticket?

    Its accuracy Acc' must be within `verify.tolerance` below the reference
    Acc* (or above it), and, when the run had a density or compression target,
    the subnetwork must meet it.
    """
    final = rounds[-1]
    metric = vcfg.metric
    reference = {"dense": getattr(rounds[0], metric), "final": getattr(final, metric), "target": stop_cfg.accuracy}[vcfg.reference]
    acc = getattr(result, metric)
    accuracy_ok = None if acc is None or reference is None else acc >= reference - vcfg.tolerance
    ratio = compression(rounds[0], final)
    size_ok = None
    if stop_cfg.density is not None or stop_cfg.compression is not None:
        size_ok = (stop_cfg.density is None or final.density <= stop_cfg.density) and (
            stop_cfg.compression is None or ratio >= stop_cfg.compression
        )
    return {
        "round": final.round,
        "metric": metric,
        "acc": acc,
        "reference": vcfg.reference,
        "reference_acc": reference,
        "tolerance": vcfg.tolerance,
        "gap": None if accuracy_ok is None else acc - reference,
        "accuracy_ok": accuracy_ok,
        "density": final.density,
        "compression": ratio,
        "size_ok": size_ok,
        "winning_ticket": bool(accuracy_ok) and size_ok is not False,
    }

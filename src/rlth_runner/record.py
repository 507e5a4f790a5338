"""The one schema of a round's record: `rounds/round_<k>/metrics.json`, each
entry of summary.json's `rounds`, the printed table, the TensorBoard summary
run, the HPARAMS row, `optimized_metric` and the stopping rules all read and
write a `RoundRecord`.

Torch-free, so that analysis scripts and the config home can import it. Keys
are stable: add fields with a default; a renamed field keeps its old key in
`FORMER_KEYS`, so records written before still load (README lists the keys; a
test checks).
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import ClassVar

# Where a field is shown besides metrics.json and summary.json. Each list of keys
# (RoundRecord.SCALARS, hparams.METRICS, choices.OPTIMIZED_METRICS) is read from the
# fields, so a new field is declared once, with its places.
SCALAR = "scalar"  # plotted in the TensorBoard summary run against the round index, as rounds/<key>
HPARAM = "hparam"  # a metric of the run's HPARAMS row (hparams.py), the last round's, as final/<key>
OPTIMIZABLE = "optimizable"  # a value of `optimized_metric`: what a sweeper may optimise, the last round's
RESULT = (SCALAR, HPARAM, OPTIMIZABLE)

# Keys records were written with before a field was renamed, and the field each is now.
FORMER_KEYS = {"flops": "macs", "train_flops": "train_macs"}


def shown(*places: str, default=MISSING):
    """A field shown in `places` (SCALAR, HPARAM, OPTIMIZABLE)."""
    return field(default=default, metadata={"shown": frozenset(places)})


@dataclass
class RoundRecord:
    round: int
    density: float = shown(*RESULT)  # fraction of prunable weights left
    layer_density: dict[str, float]  # per masked layer
    params_total: int = shown(SCALAR)
    params_nonzero: int = shown(*RESULT)  # every parameter, biases included, that is not zero
    hidden_layers: int | None = shown(*RESULT)  # hidden layers (MLP) or blocks (RLTH ResNet); None for other models
    macs: int = shown(SCALAR, OPTIMIZABLE)  # multiply-accumulates of one example through the unpruned weights (analysis/flops.py)
    val_acc: float | None = shown(*RESULT)  # best over the round's validation passes; None for regression
    test_acc: float | None = shown(*RESULT)  # with the round's final weights; None for regression
    test_loss: float = shown(SCALAR, OPTIMIZABLE)
    val_error: float | None = shown(*RESULT, default=None)  # regression only: mean squared error
    test_error: float | None = shown(*RESULT, default=None)
    train_steps: int = shown(SCALAR, HPARAM, default=0)
    # Training compute of the round (lottery/budget.py), in multiply-accumulates: 3 x `macs` x the examples its
    # train_steps saw, a forward pass and a backward pass of about twice its cost per example; None in older records
    train_macs: int | None = shown(SCALAR, HPARAM, default=None)
    epochs: int = 0
    seconds: float = 0.0  # wall-clock time of fit + test
    # train.eval_every_n_steps: the step of lowest validation loss and the scores there
    early_stop_step: int | None = shown(*RESULT, default=None)
    early_stop_val_loss: float | None = None
    early_stop_val_acc: float | None = shown(OPTIMIZABLE, default=None)
    early_stop_test_acc: float | None = shown(OPTIMIZABLE, default=None)
    pruned: int = 0  # weights removed by this round's pruning
    compression: float = shown(*RESULT, default=1.0)  # round 0's nonzero parameters / this round's
    # How the round learned (analysis/measures.py): the first evaluated step at 99% of its best val accuracy, the
    # relative L2 distance the kept weights moved from the round's start and from initialisation, and
    # the test accuracy of the starting weights before training (classification only)
    steps_to_99: int | None = shown(*RESULT, default=None)
    # train.target_error: the first step on the validation grid whose validation error (regression: MSE) is at most it
    steps_to_target: int | None = shown(*RESULT, default=None)
    dist_from_start: float | None = shown(*RESULT, default=None)
    dist_from_init: float | None = shown(*RESULT, default=None)
    supermask_acc: float | None = shown(*RESULT, default=None)
    # analysis.instability: the test-error barrier between two copies trained from the round's start (instability.py)
    instability_barrier: float | None = shown(*RESULT, default=None)
    # train.mode=edge_popup: the fraction of the prunable weights the round's subnetwork uses (training/edge_popup.py);
    # None when the weights train
    subnetwork_density: float | None = shown(*RESULT, default=None)
    # Whether the round's training loss ended above where it started: its last epoch's mean more than 1.5 x its first
    # step's loss (training/divergence.py), a learning rate far too high, say. None in older records
    diverged: bool | None = None
    extra: dict = field(default_factory=dict, repr=False)  # keys this version does not know (newer runs)

    SCALARS: ClassVar[tuple[str, ...]]  # set below from the fields, as shown_in(SCALAR)

    @classmethod
    def shown_in(cls, place: str) -> tuple[str, ...]:
        """The keys shown in `place` (SCALAR, HPARAM, OPTIMIZABLE), in the record's order."""
        return tuple(f.name for f in fields(cls) if place in f.metadata.get("shown", ()))

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name != "extra"]

    @classmethod
    def from_dict(cls, data: dict) -> "RoundRecord":
        # A record written before a rename holds the former key; should it hold both, the current one wins.
        data = {FORMER_KEYS.get(k, k): v for k, v in data.items() if FORMER_KEYS.get(k) not in data}
        known = set(cls.keys())
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        if missing := [k for k in required if k not in data]:
            raise ValueError(f"not a round record: it lacks {', '.join(missing)}")
        return cls(**{k: v for k, v in data.items() if k in known}, extra={k: v for k, v in data.items() if k not in known})

    def to_dict(self) -> dict:
        data = asdict(self)
        return {**{k: data[k] for k in self.keys()}, **data["extra"]}

    def scalars(self) -> dict[str, float]:
        return {key: getattr(self, key) for key in self.SCALARS if getattr(self, key) is not None}

    @property
    def regression(self) -> bool:
        return self.val_acc is None and self.test_error is not None

    def objective(self, metric: str | None = None) -> float | None:
        """What a sweep optimises (`optimized_metric`): the key `metric`; by default the
        best val accuracy (maximise), or the val error (minimise) for regression."""
        if metric is not None:
            return getattr(self, FORMER_KEYS.get(metric, metric))
        return self.val_acc if self.val_acc is not None else self.val_error

    def describe(self) -> str:
        if self.regression:
            return f"val error {self.val_error:.4g}, test error {self.test_error:.4g}"
        return f"best val acc {self.val_acc:.4f}, test acc {self.test_acc:.4f}"


RoundRecord.SCALARS = RoundRecord.shown_in(SCALAR)

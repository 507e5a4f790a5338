"""The one schema of a round's record: `rounds/round_<k>/metrics.json`, each
entry of summary.json's `rounds`, the printed table, the TensorBoard summary
run and the stopping rules all read and write a `RoundRecord`.

Torch-free, so that analysis scripts can import it. Keys are stable: add
fields with a default, never rename one (README lists them; a test checks).
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields


@dataclass
class RoundRecord:
    round: int
    density: float  # fraction of prunable weights left
    layer_density: dict[str, float]  # per masked layer
    params_total: int
    params_nonzero: int  # every parameter, biases included, that is not zero
    hidden_layers: int | None  # hidden layers (MLP) or blocks (RLTH ResNet); None for other models
    flops: int  # multiply-accumulates of one example through the unpruned weights
    val_acc: float | None  # best over the round's validation passes; None for regression
    test_acc: float | None  # with the round's final weights; None for regression
    test_loss: float
    val_error: float | None = None  # regression only: mean squared error
    test_error: float | None = None
    train_steps: int = 0
    # Training compute of the round (lottery/budget.py): 3 x `flops` x the examples its train_steps saw,
    # a forward pass and a backward pass of about twice its cost per example; None in older records
    train_flops: int | None = None
    epochs: int = 0
    seconds: float = 0.0  # wall-clock time of fit + test
    # train.eval_every_n_steps: the step of lowest validation loss and the scores there
    early_stop_step: int | None = None
    early_stop_val_loss: float | None = None
    early_stop_val_acc: float | None = None
    early_stop_test_acc: float | None = None
    pruned: int = 0  # weights removed by this round's pruning
    compression: float = 1.0  # round 0's nonzero parameters / this round's
    # How the round learned (analysis/measures.py): the first evaluated step at 99% of its best val accuracy, the
    # relative L2 distance the kept weights moved from the round's start and from initialisation, and
    # the test accuracy of the starting weights before training (classification only)
    steps_to_99: int | None = None
    # train.target_error: the first step on the validation grid whose validation error (regression: MSE) is at most it
    steps_to_target: int | None = None
    dist_from_start: float | None = None
    dist_from_init: float | None = None
    supermask_acc: float | None = None
    # analysis.instability: the test-error barrier between two copies trained from the round's start (analysis/instability.py)
    instability_barrier: float | None = None
    # train.mode=edge_popup: the fraction of the prunable weights the round's subnetwork uses (training/edge_popup.py);
    # None when the weights train
    subnetwork_density: float | None = None
    extra: dict = field(default_factory=dict, repr=False)  # keys this version does not know (newer runs)

    # What the TensorBoard summary run plots against the round index, as rounds/<key>.
    SCALARS = ("density", "val_acc", "test_acc", "test_loss", "params_nonzero", "params_total", "compression",
               "hidden_layers", "flops", "val_error", "test_error", "steps_to_99", "steps_to_target", "dist_from_start", "dist_from_init",
               "supermask_acc", "early_stop_step", "instability_barrier", "train_steps", "train_flops", "subnetwork_density")

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name != "extra"]

    @classmethod
    def from_dict(cls, data: dict) -> "RoundRecord":
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
            return getattr(self, metric)
        return self.val_acc if self.val_acc is not None else self.val_error

    def describe(self) -> str:
        if self.regression:
            return f"val error {self.val_error:.4g}, test error {self.test_error:.4g}"
        return f"best val acc {self.val_acc:.4f}, test acc {self.test_acc:.4f}"

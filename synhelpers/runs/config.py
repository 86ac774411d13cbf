"""Configurations of stage 3 (pure Python: cheap to import for the CLI).

The command line takes its defaults from these dataclasses, so the defaults have one home.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["TrainConfig", "BaselineConfig", "MODES", "PROGRESS"]

MODES = ("transductive", "inductive")
PROGRESS = ("auto", "lines", "bar", "none")


@dataclass
class TrainConfig:
    """How one training run (N seeds of one model on one task) is done.

    Attributes:
        model: registry name (``python -m synhelpers models``).
        task: shorthand for label columns: ``cell_class``, ``nt`` (``predictedNt``) or ``both``.
        labels: label columns to predict jointly (multitask heads); overrides ``task``. With
            neither, every label column of the graph.
        mode: ``transductive`` (whole graph visible, test labels hidden) or ``inductive``
            (test neurons and their connections absent in training, added at inference).
        seeds: number of seeds; seed values are ``first_seed .. first_seed + seeds - 1``.
        splits: number of train/val/test splits; split 0 is the graph's own (``split.parquet``),
            the others are drawn the same way with the next split seeds. Scores are reported as
            mean ± std over splits x seeds (the number to cite for small connectomes).
        max_epochs / patience: early stopping on validation macro-F1 (mode max); an epoch is
            one optimisation step over the full graph.
        min_epochs: no early stop before this many epochs, so that a model is never stopped
            before it has learned at all (small graphs have noisy, flat early validation).
        lr / weight_decay: AdamW.
        loss_weights: label column -> loss weight (multitask); missing columns weigh 1.
        aux_weight: loss weight of a fused model's per-view auxiliary heads (0 = unused).
        accelerator / devices / precision: Lightning settings; ``precision=None`` means
            ``bf16-mixed`` on CUDA and ``32-true`` on CPU.
        deterministic: ``torch.use_deterministic_algorithms`` (CPU runs are bit-reproducible).
        num_threads: torch CPU threads (None = leave as is).
        progress: ``auto`` (a bar in Jupyter, one line per epoch elsewhere), ``lines``,
            ``bar`` or ``none``.
        model_overrides: fields of :class:`synhelpers.models.ModelConfig` to override.
        augment: point-set augmentation applied in training, ``NAME[,NAME]`` from
            :mod:`synhelpers.augment` (``python -m synhelpers train --help`` lists the names);
            ``"none"``: off. Drawn once per forward pass (one global map per step).
        tta: test-time augmentation: average the softmax over K views (view 0 unaugmented;
            views 1..K-1 with ``tta_augment``). 1: plain evaluation.
        loss: training loss, a name from :mod:`synhelpers.runs.losses` (``ce``,
            ``weighted_ce``, ``focal``, ``logit_adjusted``); class counts always come from
            the training labels.
        loss_params: keyword arguments of the loss, e.g. ``{"gamma": 2.0}`` for ``focal``.
        tta_augment: augmentation of the TTA views; None: the same as ``augment``.

    Example:
        >>> TrainConfig(model="sage").patience
        30
        >>> TrainConfig(labels=["class", "nt"]).labels
        ('class', 'nt')
    """

    model: str = "hybrid"
    task: str | None = None
    labels: tuple[str, ...] = ()
    mode: str = "transductive"
    seeds: int = 1
    first_seed: int = 0
    splits: int = 1
    max_epochs: int = 200
    min_epochs: int = 50
    patience: int = 30
    lr: float = 8e-3
    weight_decay: float = 1e-4
    loss_weights: dict[str, float] = field(default_factory=dict)
    aux_weight: float = 0.5
    accelerator: str = "auto"
    devices: int | str = 1
    precision: str | None = None
    deterministic: bool = True
    num_threads: int | None = None
    progress: str = "auto"
    model_overrides: dict = field(default_factory=dict)
    augment: str = "none"
    tta: int = 1
    loss: str = "ce"
    loss_params: dict = field(default_factory=dict)
    tta_augment: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.progress not in PROGRESS:
            raise ValueError(f"progress must be one of {PROGRESS}, got {self.progress!r}")
        self.labels = tuple(self.labels)
        for name in ("seeds", "splits", "max_epochs", "patience"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.task is not None and self.task not in ("cell_class", "nt", "both"):
            raise ValueError(f"task must be cell_class, nt or both; got {self.task!r}")
        if self.lr <= 0 or self.weight_decay < 0 or self.aux_weight < 0:
            raise ValueError("lr must be > 0; weight_decay and aux_weight >= 0")
        self._check_fewer_labels()

    def _check_fewer_labels(self) -> None:
        """Names are checked by the registries at the first use (they import torch); here only
        what is cheap: TTA needs an augmentation for its views."""
        if int(self.tta) < 1:
            raise ValueError(f"tta must be >= 1, got {self.tta}")
        view_aug = self.augment if self.tta_augment is None else self.tta_augment
        if self.tta > 1 and str(view_aug).strip().lower() in ("", "none"):
            raise ValueError(f"tta={self.tta} needs an augmentation for its views: set augment "
                             "or tta_augment (e.g. 'rotate_z,scale')")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BaselineConfig:
    """Settings of the quick logistic-regression baseline.

    Attributes:
        label: label column (``y_<label>`` must be in the graph).
        c_grid: inverse regularisation strengths tried; the best on validation macro-F1 wins.
        max_iter: solver iterations.
        seed: random state of the solver.
        splits: fit on K splits (split 0: the graph's own; the others drawn as
            ``TrainConfig.splits`` draws them) and report mean ± std over splits.
    """

    label: str = "cell_class"
    c_grid: tuple[float, ...] = (0.1, 1.0, 10.0)
    max_iter: int = 300
    seed: int = 0
    splits: int = 1

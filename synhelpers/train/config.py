"""Configurations of stage 3 (pure Python: cheap to import for the CLI).

The command line takes its defaults from these dataclasses, so the defaults have one home.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..models.config import ModelConfig

__all__ = ["TrainConfig", "BaselineConfig", "MODES", "PROGRESS"]

MODES = ("transductive", "inductive")
PROGRESS = ("auto", "lines", "bar", "none")
#: Lightning's precision names (``TrainConfig.precision``; None: bf16-mixed on CUDA, else 32).
PRECISIONS = ("64-true", "64", "32-true", "32", "16-mixed", "16", "bf16-mixed", "bf16",
              "16-true", "bf16-true", "transformer-engine", "transformer-engine-float16")
#: The largest seed numpy's random generators take (seeds are in [0, 2**32 - 1]).
MAX_SEED = 2**32 - 1


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
        model_overrides: fields of :class:`synhelpers.models.ModelConfig` to override, checked
            at construction: names must be fields, values are converted to the field's type
            (``"no"`` -> False, ``"32"`` -> 32; anything else is refused) and must make a valid
            ``ModelConfig``.
        batch_size: None (default) trains on the full graph, one step per epoch. An int trains
            on mini-batches of that many training seeds per step and per process, each with
            its sampled in- and out-neighbourhood and those edges' synapse sets; ``"auto"``
            picks it from free memory (the full graph when that fits). In mini-batch mode an
            epoch is one pass over all training seeds (many steps), so ``max_epochs``,
            ``min_epochs`` and ``patience`` (still counted in epochs) want smaller values.
        fanouts: mini-batch mode: neighbours sampled per node and per direction (in, out) at
            each hop, one value per GNN layer (-1 = all). (10, 5): the second hop only feeds
            the first layer's messages into first-hop nodes, so it is sampled more thinly; at
            2,000 neurons (mean degree ~30 each way, batches of 256) it keeps 15k of 58k edges
            per step, a step costs a fifth of a full-graph step, and test macro-F1 equals that
            of (10, 10) and of full-graph training (0.907, 0.907, 0.906; seed 0).
        eval_chunk_size: mini-batch mode: validation and test use every neighbour, layer by
            layer over the whole graph in chunks of this many target nodes. None: the full
            graph in one forward when it fits in a quarter of free memory, else chunks sized
            from free memory.
        loader_workers: DataLoader worker processes that sample and gather mini-batches.
        num_nodes: machines in a data-parallel run (Lightning ``num_nodes``); under torchrun or
            SLURM both ``devices`` and ``num_nodes`` are read from the launcher when left at 1.
        strategy: Lightning strategy; ``auto`` lets Lightning pick ``ddp`` when there are several
            processes (``ddp_fork`` in Jupyter).
        augment: point-set augmentation applied in training, ``NAME[,NAME]`` from
            :mod:`synhelpers.augment` (``python -m synhelpers train --help`` lists the names);
            ``"none"``: off. Drawn once per forward pass (one global map per step).
        tta: test-time augmentation: average the softmax over K views (view 0 unaugmented;
            views 1..K-1 with ``tta_augment``). 1: plain evaluation.
        loss: training loss, a name from :mod:`synhelpers.train.losses` (``ce``,
            ``weighted_ce``, ``focal``, ``logit_adjusted``); class counts always come from
            the training labels.
        loss_params: keyword arguments of the loss, e.g. ``{"gamma": 2.0}`` for ``focal``.
        tta_augment: augmentation of the TTA views; None: the same as ``augment``.
        labelled, labels_per_class: a label budget (at most one), as ``baseline`` takes it:
            only that fraction of each class's labelled training neurons, or that many per
            class, keep their label (:func:`synhelpers.graph.split.label_budget`, drawn with
            the split's index as seed, so ``baseline`` and ``train`` get the same labelled
            sets); saved as ``splits/split<k>.parquet`` in the run folder.
        label_context: give the model, as extra node features, the synapse-weighted class
            composition of each neuron's input and output partners over the *known* labels
            (:mod:`synhelpers.graph.label_context`). In training the label trick applies:
            each step a random ``label_trick_rate`` of the labelled training neurons are the
            inputs and only the others are the loss's targets, so no neuron's own label
            reaches its own prediction; validation, test and answers read the training labels
            only, never validation or test labels.
        label_trick_rate: the fraction of labelled training neurons that are inputs in a step.

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
    model_overrides: dict[str, bool | int | float | str] = field(default_factory=dict)
    batch_size: int | str | None = None
    fanouts: tuple[int, ...] = (10, 5)
    eval_chunk_size: int | None = None
    loader_workers: int = 0
    num_nodes: int = 1
    strategy: str = "auto"
    augment: str = "none"
    tta: int = 1
    loss: str = "ce"
    loss_params: dict = field(default_factory=dict)
    tta_augment: str | None = None
    labelled: float | None = None
    labels_per_class: int | None = None
    label_context: bool = False
    label_trick_rate: float = 0.5

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
        finite = all(math.isfinite(float(v)) for v in (self.lr, self.weight_decay, self.aux_weight))
        if not finite or self.lr <= 0 or self.weight_decay < 0 or self.aux_weight < 0:
            raise ValueError("lr must be a finite number > 0; weight_decay and aux_weight finite "
                             f"and >= 0 (got lr={self.lr}, weight_decay={self.weight_decay}, "
                             f"aux_weight={self.aux_weight})")
        if not 0 <= int(self.first_seed) <= MAX_SEED - int(self.seeds) + 1:
            raise ValueError(f"seeds must lie in [0, {MAX_SEED}] (numpy's range); got first_seed "
                             f"{self.first_seed} with {self.seeds} seed(s)")
        if self.precision is not None and str(self.precision) not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        self._check_scale()
        self._check_fewer_labels()
        if self.labelled is not None and self.labels_per_class is not None:
            raise ValueError("give at most one label budget: labelled or labels_per_class")
        if self.labelled is not None and not 0.0 < float(self.labelled) <= 1.0:
            raise ValueError(f"labelled must be a fraction in (0, 1], got {self.labelled}")
        if self.labels_per_class is not None and int(self.labels_per_class) < 1:
            raise ValueError(f"labels_per_class must be >= 1, got {self.labels_per_class}")
        if not 0.0 < float(self.label_trick_rate) < 1.0:
            raise ValueError(f"label_trick_rate must be in (0, 1), got {self.label_trick_rate}")
        self._check_model_overrides()

    def _check_model_overrides(self) -> None:
        """Known ModelConfig fields with typed values (``pair_stats="no"`` must not read as
        true), and together a valid ModelConfig."""
        try:
            self.model_overrides = ModelConfig.check_overrides(self.model_overrides)
            ModelConfig(**self.model_overrides)
        except ValueError as e:
            raise ValueError(f"model_overrides: {e}") from None

    def _check_scale(self) -> None:
        """Mini-batch and data-parallel settings (see the class docstring)."""
        if isinstance(self.batch_size, str) and self.batch_size.isdigit():
            self.batch_size = int(self.batch_size)
        if not (self.batch_size is None or self.batch_size == "auto"
                or (isinstance(self.batch_size, int) and self.batch_size >= 1)):
            raise ValueError(f"batch_size must be None, 'auto' or an int >= 1, got {self.batch_size!r}")
        self.fanouts = tuple(int(k) for k in self.fanouts)
        if not self.fanouts or any(k < -1 or k == 0 for k in self.fanouts):
            raise ValueError(f"fanouts must be one or more ints >= 1 (or -1 = all), got {self.fanouts}")
        if self.eval_chunk_size is not None and int(self.eval_chunk_size) < 1:
            raise ValueError(f"eval_chunk_size must be None or >= 1, got {self.eval_chunk_size}")
        if self.loader_workers < 0 or self.num_nodes < 1:
            raise ValueError("loader_workers must be >= 0 and num_nodes >= 1")

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
        max_iter: solver iterations (a C whose fit stops there is listed in ``not_converged_C``).
        seed: random state of the solver.
        splits: fit on K splits (split 0: the graph's own; the others drawn as
            ``TrainConfig.splits`` draws them) and report mean ± std over splits.
        labelled, labels_per_class: a label budget (at most one): only that fraction of each
            class's labelled training neurons, or that many per class, keep their label
            (:func:`synhelpers.graph.split.budgeted_split`: drawn with the split's index as seed,
            so ``train`` with the same budget uses the same neurons).
    """

    label: str = "cell_class"
    c_grid: tuple[float, ...] = (0.1, 1.0, 10.0)
    max_iter: int = 300
    seed: int = 0
    splits: int = 1
    labelled: float | None = None
    labels_per_class: int | None = None

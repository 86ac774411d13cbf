"""Training configuration."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["TrainConfig", "MODES"]

MODES = ("transductive", "inductive")


@dataclass
class TrainConfig:
    """How one training run (N seeds of one model on one task) is done.

    Attributes:
        model: registry name (``python -m synhelpers models``).
        task: ``cell_class``, ``nt`` or ``both``.
        mode: ``transductive`` (whole graph visible, test labels hidden) or ``inductive``
            (test neurons and their connections absent in training, added at inference).
        seeds: number of seeds; seed values are ``first_seed .. first_seed + seeds - 1``.
        max_epochs / patience: early stopping on validation macro-F1 (mode max).
        lr / weight_decay: AdamW.
        loss_weights: label column -> loss weight (multitask); missing columns weigh 1.
        accelerator / devices / precision: Lightning settings; ``precision=None`` means
            ``bf16-mixed`` on CUDA and ``32-true`` on CPU.
        deterministic: ``torch.use_deterministic_algorithms`` (CPU runs are bit-reproducible).
        num_threads: torch CPU threads (None = leave as is).
        progress: show Lightning progress bars.
        model_overrides: fields of :class:`synhelpers.models.ModelConfig` to override.
    """

    model: str = "hybrid"
    task: str = "cell_class"
    mode: str = "transductive"
    seeds: int = 1
    first_seed: int = 0
    max_epochs: int = 200
    patience: int = 30
    lr: float = 8e-3
    weight_decay: float = 1e-4
    loss_weights: dict[str, float] = field(default_factory=dict)
    accelerator: str = "auto"
    devices: int | str = 1
    precision: str | None = None
    deterministic: bool = True
    num_threads: int | None = None
    progress: bool = False
    model_overrides: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")

    def to_dict(self) -> dict:
        return asdict(self)

"""Lightning module and data module: full-graph node classification with honest evaluation.

The module only ever sees the *training graph*, whose test labels were replaced by -1
(:func:`hide_test_labels`), so no test label can reach the loss, the validation metric,
early stopping or checkpoint selection. Test metrics are computed afterwards, once, by
:func:`synhelpers.train.run.evaluate_test` on the selected checkpoint.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, is_dataclass

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from ..models import ModelConfig, build_model
from .augmenting import train_augment
from .config import TrainConfig
from .losses import get_loss
from .metrics import macro_f1

__all__ = ["NodeClassifier", "GraphDataModule", "EpochStats", "hide_test_labels", "label_mask",
           "train_class_counts"]


def hide_test_labels(data, columns):
    """A shallow copy of ``data`` whose ``y_<column>`` are -1 on test nodes (other tensors shared)."""
    out = copy.copy(data)
    for c in columns:
        y = data[f"y_{c}"].clone()
        y[data.test_mask] = -1
        out[f"y_{c}"] = y
    return out


def label_mask(data, column: str, split: str):
    """Nodes of ``split`` with a label in ``column`` (masked labels count nowhere)."""
    return data[f"{split}_mask"] & (data[f"y_{column}"] >= 0)


def _as_dict(cfg) -> dict:
    return asdict(cfg) if is_dataclass(cfg) else dict(cfg)


def train_class_counts(data, column: str) -> torch.Tensor:
    """(C,) int64 labelled training nodes per class of ``column`` (the counts every
    class-balanced loss uses: training labels only, never validation or test)."""
    y = data[f"y_{column}"]
    return torch.bincount(y[label_mask(data, column, "train")], minlength=len(data.label_names[column]))


class NodeClassifier(L.LightningModule):
    """Wraps a registry model; multitask loss ``sum_c w_c loss(logits_c[m_c], y_c[m_c])``.

    ``loss`` is ``TrainConfig.loss`` from :mod:`synhelpers.train.losses` (default plain
    cross-entropy), given the training class counts of each column
    (:func:`train_class_counts`); ``TrainConfig.augment`` augments the point sets in training
    steps only (:mod:`synhelpers.train.augmenting`).

    A fused model's auxiliary view heads (outputs ``"<column>@<view>"``, training only) add
    ``aux_weight`` times their own loss; the main loss (``train_loss``) and the auxiliary one
    (``train_aux_loss``) are logged apart, so ``train_loss`` compares with other models' and
    with the validation loss.

    Args:
        model_name: registry name. model_cfg / train_cfg: :class:`ModelConfig` and
        :class:`TrainConfig` (or their dicts, as saved in a checkpoint's hyperparameters).
        columns: label columns to predict.
    """

    def __init__(self, model_name: str, model_cfg: ModelConfig | dict, train_cfg: TrainConfig | dict,
                 columns: list[str]):
        super().__init__()
        self.save_hyperparameters({"model_name": model_name, "model_cfg": _as_dict(model_cfg),
                                   "train_cfg": _as_dict(train_cfg), "columns": list(columns)})
        self.model_cfg = ModelConfig(**self.hparams.model_cfg)
        self.train_cfg = TrainConfig(**self.hparams.train_cfg)
        self.model = build_model(model_name, self.model_cfg)
        self.loss_fn = get_loss(self.train_cfg.loss, **self.train_cfg.loss_params)
        self.columns = list(columns)
        self.history: dict[str, list] = {"epoch": [], "train_loss": [], "train_aux_loss": [],
                                         "val_loss": [], "val_macro_f1": [], "val_accuracy": []}

    def forward(self, data):
        return self.model(data)

    def losses(self, out, data, split) -> tuple[torch.Tensor, torch.Tensor]:
        """``(main, aux)``: the weighted loss of the fused heads, and of the view heads."""
        main, aux = torch.zeros((), device=self.device), torch.zeros((), device=self.device)
        for key, logits in out.items():
            c, _, view = key.partition("@")
            m = label_mask(data, c, split)
            if c in self.columns and m.any():
                loss = self.train_cfg.loss_weights.get(c, 1.0) * self.loss_fn(
                    logits[m].float(), data[f"y_{c}"][m], train_class_counts(data, c))
                if view:
                    aux = aux + loss
                else:
                    main = main + loss
        return main, aux

    def _loss(self, out, data, split):
        main, aux = self.losses(out, data, split)
        return main + self.train_cfg.aux_weight * aux

    def training_step(self, data, batch_idx):
        with train_augment(self, data):
            out = self(data)
        main, aux = self.losses(out, data, "train")
        self.log("train_loss", main, batch_size=1)
        if self._has_aux:
            self.log("train_aux_loss", aux, batch_size=1)
        self._last = (float(main.detach()), float(aux.detach()))
        return main + self.train_cfg.aux_weight * aux

    @property
    def _has_aux(self) -> bool:
        return len(getattr(self.model, "aux_heads", ())) > 0

    def validation_step(self, data, batch_idx):
        out = self(data)
        loss, _ = self.losses(out, data, "val")
        f1s, accs = [], []
        for c in self.columns:
            m = label_mask(data, c, "val")
            y = data[f"y_{c}"][m].cpu().numpy()
            p = out[c][m].argmax(-1).cpu().numpy()
            f1s.append(macro_f1(y, p))
            accs.append(float((y == p).mean()) if len(y) else 0.0)
        f1, acc = float(np.mean(f1s)), float(np.mean(accs))
        self.log("val_macro_f1", f1, batch_size=1)
        self.log("val_accuracy", acc, batch_size=1)
        self.log("val_loss", loss, batch_size=1)
        main, aux = getattr(self, "_last", (float("nan"), float("nan")))
        h = self.history
        h["epoch"].append(int(self.current_epoch))
        h["train_loss"].append(main)
        h["train_aux_loss"].append(aux if self._has_aux else None)
        h["val_loss"].append(float(loss))
        h["val_macro_f1"].append(f1)
        h["val_accuracy"].append(acc)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.train_cfg.lr,
                                 weight_decay=self.train_cfg.weight_decay)


class GraphDataModule(L.LightningDataModule):
    """One full graph per epoch, for training and for validation (the same training graph)."""

    def __init__(self, train_graph):
        super().__init__()
        self.train_graph = train_graph

    def _loader(self):
        return DataLoader([self.train_graph], batch_size=None, collate_fn=lambda x: x)

    def train_dataloader(self):
        return self._loader()

    def val_dataloader(self):
        return self._loader()


class EpochStats(L.Callback):
    """Wall time of every training epoch: its one full-graph step, validation excluded."""

    def __init__(self):
        self.times: list[float] = []
        self._t0 = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self._t0)

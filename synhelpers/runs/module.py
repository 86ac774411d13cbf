"""Lightning module and data module: full-graph node classification with honest evaluation.

The module only ever sees the *training graph*, whose test labels were replaced by -1
(:func:`hide_test_labels`), so no test label can reach the loss, the validation metric,
early stopping or checkpoint selection. Test metrics are computed afterwards, once, by
:func:`synhelpers.runs.train.evaluate_test` on the selected checkpoint.
"""

from __future__ import annotations

import copy
import time

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from .metrics import macro_f1
from ..models import ModelConfig, build_model
from .config import TrainConfig

__all__ = ["NodeClassifier", "GraphDataModule", "EpochStats", "hide_test_labels", "label_mask"]


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


class NodeClassifier(L.LightningModule):
    """Wraps a registry model; multitask loss ``sum_c w_c CE(logits_c[m_c], y_c[m_c])``."""

    def __init__(self, model_name: str, model_cfg: ModelConfig, train_cfg: TrainConfig, columns):
        super().__init__()
        self.model = build_model(model_name, model_cfg)
        self.model_cfg = model_cfg
        self.train_cfg = train_cfg
        self.columns = list(columns)
        self.history: dict[str, list] = {"epoch": [], "train_loss": [], "val_loss": [],
                                         "val_macro_f1": [], "val_accuracy": []}

    def forward(self, data):
        return self.model(data)

    def _loss(self, out, data, split):
        """Weighted cross-entropy over the label columns; auxiliary view heads (keys
        ``"<column>@<view>"``, training only) add ``aux_weight`` times their own loss."""
        total = 0.0
        for key, logits in out.items():
            c, _, view = key.partition("@")
            m = label_mask(data, c, split)
            if c in self.columns and m.any():
                w = self.train_cfg.loss_weights.get(c, 1.0)
                if view:
                    w = w * self.model_cfg.aux_weight
                total = total + w * F.cross_entropy(logits[m].float(), data[f"y_{c}"][m])
        return total

    def training_step(self, data, batch_idx):
        loss = self._loss(self(data), data, "train")
        self.log("train_loss", loss, batch_size=1, prog_bar=True)
        self._last_train_loss = float(loss.detach())
        return loss

    def validation_step(self, data, batch_idx):
        out = self(data)
        loss = self._loss(out, data, "val")
        f1s, accs = [], []
        for c in self.columns:
            m = label_mask(data, c, "val")
            y = data[f"y_{c}"][m].cpu().numpy()
            p = out[c][m].argmax(-1).cpu().numpy()
            f1s.append(macro_f1(y, p))
            accs.append(float((y == p).mean()) if len(y) else 0.0)
        f1, acc = float(np.mean(f1s)), float(np.mean(accs))
        self.log("val_macro_f1", f1, batch_size=1, prog_bar=True)
        self.log("val_accuracy", acc, batch_size=1)
        self.log("val_loss", loss, batch_size=1)
        h = self.history
        h["epoch"].append(int(self.current_epoch))
        h["train_loss"].append(getattr(self, "_last_train_loss", float("nan")))
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

"""The one Lightning module of every way of training: full graph, mini-batches, data-parallel,
and the active-learning simulation.

Full-graph training is the mini-batch path with one batch of every training neuron: each step
gets a graph (the whole training graph, or a sampled mini-batch whose first ``batch_size``
nodes are its seeds), takes the loss on its seed nodes (:func:`seed_mask`) with
:meth:`NodeClassifier.multitask_loss`, and validation always scores the whole graph with full
neighbourhoods (:mod:`synhelpers.train.inference`), so scores never depend on sampling.

The module only ever sees the *training graph*, whose test labels were replaced by -1
(:func:`hide_test_labels`), so no test label can reach the loss, the validation metric,
early stopping or checkpoint selection. Test metrics are computed afterwards, once, by
:func:`synhelpers.train.run.evaluate_test` on the selected checkpoint.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, is_dataclass

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from ..graph.label_context import known_mask, label_trick_split, with_label_context
from ..models import ModelConfig, ModelOutput, build_model
from .augmenting import ForwardAugment, point_augmentation
from .config import TrainConfig
from .inference import GraphEvaluator, whole_graph_logits
from .losses import get_loss
from .metrics import macro_f1

__all__ = ["NodeClassifier", "GraphDataModule", "EpochStats", "hide_test_labels", "label_mask",
           "train_class_counts", "seed_mask"]


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


def seed_mask(batch) -> torch.Tensor:
    """(N,) bool: the nodes a training step learns from. A sampled mini-batch (it has
    ``batch_size``): its first ``batch_size`` nodes, the seeds; a whole graph: its training
    split. Labels of -1 are skipped by the loss in both cases."""
    if "batch_size" in batch:
        n = int(batch.num_nodes)
        return torch.arange(n, device=batch.edge_index.device) < int(batch.batch_size)
    return batch.train_mask


def _as_dict(cfg) -> dict:
    return asdict(cfg) if is_dataclass(cfg) else dict(cfg)


def train_class_counts(data, column: str) -> torch.Tensor:
    """(C,) int64 labelled training nodes per class of ``column`` (the counts every
    class-balanced loss uses: training labels only, never validation or test)."""
    y = data[f"y_{column}"]
    return torch.bincount(y[label_mask(data, column, "train")], minlength=len(data.label_names[column]))


class NodeClassifier(L.LightningModule):
    """Wraps a registry model; multitask loss ``sum_c w_c loss(logits_c[m_c], y_c[m_c])``, plus
    ``aux_weight`` times the same sum over each auxiliary head of a fused model.

    Args:
        model_name: registry name.
        model_cfg / train_cfg: :class:`ModelConfig` and :class:`TrainConfig` (or their dicts,
            as saved in a checkpoint's hyperparameters).
        columns: label columns to predict.
        class_counts: ``{column: [n_0, ..., n_{C-1}]}`` labelled TRAINING nodes per class
            (:func:`train_class_counts` of the training graph): the counts every class-balanced
            loss uses, the same in every batch.
        val_graph: the graph scored every epoch (its validation split), with every neighbour;
            None for a module only used to predict.
        eval_chunk_size: None: validation is one forward over ``val_graph``; an int:
            layer-wise inference with that many target nodes per chunk.
        identity: ``{"data_fingerprint", "run_id", "tag"}`` of the run folder (saved in every
            checkpoint; :func:`synhelpers.answers.load.load_run` refuses weights of another).

    ``loss`` is ``TrainConfig.loss`` from :mod:`synhelpers.train.losses` (default plain
    cross-entropy); ``TrainConfig.augment`` augments the point sets in training steps only.
    The fused heads' loss (``train_loss``) and the auxiliary one (``train_aux_loss``) are logged
    apart, each the mean over the epoch's steps weighted by their seed nodes, so ``train_loss``
    compares with other models' and with the validation loss.
    """

    def __init__(self, model_name: str, model_cfg: ModelConfig | dict, train_cfg: TrainConfig | dict,
                 columns: list[str], class_counts: dict[str, list[int]] | None = None,
                 val_graph=None, eval_chunk_size: int | None = None, identity: dict | None = None):
        super().__init__()
        counts = {c: [int(v) for v in n] for c, n in (class_counts or {}).items()}
        # plain JSON values (tuples as lists), so that hparams.yaml loads with yaml.safe_load;
        # identity: the graph fingerprint, run id and seed tag (checked when a run is loaded)
        self.save_hyperparameters(json.loads(json.dumps(
            {"model_name": model_name, "model_cfg": _as_dict(model_cfg),
             "train_cfg": _as_dict(train_cfg), "columns": list(columns), "class_counts": counts,
             "identity": identity})))
        self.model_cfg = ModelConfig(**self.hparams.model_cfg)
        self.train_cfg = TrainConfig(**self.hparams.train_cfg)
        self.model = build_model(model_name, self.model_cfg)
        self.loss_fn = get_loss(self.train_cfg.loss, **self.train_cfg.loss_params)
        self.columns = list(columns)
        self.class_counts = {c: torch.tensor(n, dtype=torch.long) for c, n in counts.items()}
        self._train_graph = val_graph  # the whole training graph (label contexts of mini-batches)
        if val_graph is not None and self.train_cfg.label_context:
            val_graph = self.with_context(val_graph)  # training labels only, every epoch the same
        self.evaluator = GraphEvaluator(val_graph, eval_chunk_size) if val_graph is not None else None
        self._augment: ForwardAugment | None = None  # built at the first step, on its device
        self._sums = torch.zeros(3, dtype=torch.float64)  # main * seeds, aux * seeds, seeds
        self.history: dict[str, list] = {"epoch": [], "train_loss": [], "train_aux_loss": [],
                                         "val_loss": [], "val_macro_f1": [], "val_accuracy": []}

    def _train_augment(self, batch) -> ForwardAugment | None:
        """The training augmentation, drawn anew for this step; None when off. Built at the
        first step (it needs the graph's length unit), with a generator on the batch's device
        seeded from ``torch.initial_seed()`` (the run's seed after ``seed_everything``)."""
        if self._augment is None:
            aug = point_augmentation(self.train_cfg.augment, batch)
            if aug is None:
                return None
            gen = torch.Generator(device=batch.x.device).manual_seed(torch.initial_seed())
            self._augment = ForwardAugment(aug, gen)
        self._augment.begin()  # one draw of the global parameters per step
        return self._augment

    def forward(self, data, augment=None) -> ModelOutput:
        return self.model(data, augment=augment)

    def multitask_loss(self, out: ModelOutput, batch, mask: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(main, aux)``: the weighted loss of the fused heads and of the auxiliary heads on
        the nodes of ``mask`` (N,) with a label. A head without a labelled node adds
        ``0 * logits.sum()``, so every parameter gets a gradient (DDP expects one on every rank)."""
        def heads_loss(logits: dict) -> torch.Tensor:
            total = torch.zeros((), device=mask.device)
            for c in self.columns:
                y = batch[f"y_{c}"]
                m = mask & (y >= 0)
                if bool(m.any()):
                    counts = self.class_counts.get(c)
                    counts = counts.to(y.device) if counts is not None else None
                    total = total + self.train_cfg.loss_weights.get(c, 1.0) * self.loss_fn(
                        logits[c][m].float(), y[m], counts)
                else:
                    total = total + 0.0 * logits[c].sum()
            return total

        main = heads_loss(out.logits)
        aux = torch.zeros((), device=mask.device)
        for view in out.aux.values():
            aux = aux + heads_loss(view)
        return main, aux

    def with_context(self, data, known: torch.Tensor | None = None):
        """``data`` with its label-context features (``TrainConfig.label_context``), read from
        the ``known`` neurons' labels (default: the labelled training neurons of ``data``,
        never validation or test ones); ``data`` itself when the option is off."""
        if not self.train_cfg.label_context:
            return data
        return with_label_context(data, self.columns, data.train_mask if known is None else known)

    def _training_inputs(self, batch):
        """The step's input graph and the nodes its loss reads. With label context, the label
        trick: a random ``label_trick_rate`` of the labelled training neurons are label inputs,
        and only the others (and no input) are targets of the loss, so no neuron's label
        reaches its own prediction, in one hop or through a neighbour."""
        mask = seed_mask(batch)
        if not self.train_cfg.label_context:
            return batch, mask
        full = self._train_graph if "n_id" in batch else batch
        labelled = torch.zeros_like(full.train_mask)
        for c in self.columns:
            labelled |= full[f"y_{c}"] >= 0
        labelled &= full.train_mask
        inputs, _ = label_trick_split(labelled.nonzero().flatten().cpu(),
                                      self.train_cfg.label_trick_rate)
        known = known_mask(int(full.num_nodes), inputs)
        graph = self.with_context(full, known)
        if "n_id" not in batch:
            return graph, mask & ~known.to(mask.device)
        n_id = batch.n_id.cpu()
        out = copy.copy(batch)
        out.x = torch.cat([batch.x, graph.x[n_id, batch.x.shape[1]:].to(batch.x.device)], dim=1)
        return out, mask & ~known[n_id].to(mask.device)

    def training_step(self, batch, batch_idx):
        batch, mask = self._training_inputs(batch)
        out = self(batch, augment=self._train_augment(batch))
        main, aux = self.multitask_loss(out, batch, mask)
        b = float(mask.sum())
        self._sums += torch.tensor([float(main.detach()) * b, float(aux.detach()) * b, b],
                                   dtype=torch.float64)
        return main + self.train_cfg.aux_weight * aux

    def on_train_epoch_start(self):
        self._sums.zero_()

    @property
    def _has_aux(self) -> bool:
        return len(getattr(self.model, "aux_heads", ())) > 0 or \
            getattr(self.model, "edge_votes", None) is not None

    def whole_graph_logits(self, data=None, chunk_size: int | None = None, augment=None) -> dict:
        """Eval-mode logits ``{column: (N, C)}`` of every node of ``data`` (default: the
        validation graph), with every neighbour."""
        if data is None:
            return self.evaluator.logits(self.model, self.device, augment=augment)
        return whole_graph_logits(self.model, self.with_context(data), chunk_size, self.device,
                                  augment=augment)

    def validation_scores(self, out, data) -> tuple[float, float, float]:
        """(loss, macro-F1, accuracy) on the validation split, averaged over the columns."""
        loss, _ = self.multitask_loss(ModelOutput({c: out[c] for c in self.columns}), data,
                                      data.val_mask)
        f1s, accs = [], []
        for c in self.columns:
            m = label_mask(data, c, "val")
            y = data[f"y_{c}"][m].cpu().numpy()
            p = out[c][m.to(out[c].device)].argmax(-1).cpu().numpy()
            f1s.append(macro_f1(y, p))
            accs.append(float((y == p).mean()) if len(y) else 0.0)
        return float(loss), float(np.mean(f1s)), float(np.mean(accs))

    def validation_step(self, batch, batch_idx):
        sums = self.trainer.strategy.reduce(self._sums.to(self.device), reduce_op="sum").cpu()
        main, aux = (sums[:2] / sums[2].clamp(min=1)).tolist()
        loss, f1, acc = self.validation_scores(self.whole_graph_logits(), self.evaluator.data)
        for key, value in (("train_loss", main), ("val_macro_f1", f1), ("val_accuracy", acc),
                           ("val_loss", loss)):
            self.log(key, value, batch_size=1, sync_dist=True)
        if self._has_aux:
            self.log("train_aux_loss", aux, batch_size=1, sync_dist=True)
        h = self.history
        h["epoch"].append(int(self.current_epoch))
        h["train_loss"].append(main)
        h["train_aux_loss"].append(aux if self._has_aux else None)
        h["val_loss"].append(loss)
        h["val_macro_f1"].append(f1)
        h["val_accuracy"].append(acc)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.train_cfg.lr,
                                 weight_decay=self.train_cfg.weight_decay)


class GraphDataModule(L.LightningDataModule):
    """Full-graph training: one batch per epoch, the whole training graph. Validation: a
    placeholder item (the module scores its validation graph itself)."""

    def __init__(self, train_graph):
        super().__init__()
        self.train_graph = train_graph

    def train_dataloader(self):
        return DataLoader([self.train_graph], batch_size=None, collate_fn=lambda x: x)

    def val_dataloader(self):
        return DataLoader([0], batch_size=None)


class EpochStats(L.Callback):
    """Wall time of every training step (in full-graph mode: the epoch's one step), validation
    excluded."""

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

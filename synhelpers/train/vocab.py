"""What a run was trained on, and aligning another connectome's graph to it.

A model's input widths and ids depend on the graph it was trained on: ``edge_roi`` has one
column per ROI of that graph (``x`` has ``4 + 2R`` columns), ``syn_roi`` indexes its ROI
embedding, and each head has one output per class of ``label_names``. :func:`run_vocabulary`
records these (``metrics.json``, key ``trained_on``) when a run trains; :func:`align_graph`
maps a new connectome's graph onto them before the model sees it:

- ROIs are matched by name; the new graph's ROIs the run never saw are dropped (their
  synapses count as "no ROI", as in the builder), and ``edge_roi`` rows are renormalised over
  the kept ROIs; ``x`` and ``roi_center`` are recomputed from the aligned tensors.
- Classes are matched by name; a neuron of a class the run does not know keeps its published
  label (shown) but gets class id -1 (not scored).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ..graph.features import wiring_features
from ..graph.synapses import roi_centers

__all__ = ["run_vocabulary", "align_graph", "Alignment", "label_strings"]


def run_vocabulary(data, columns) -> dict:
    """The vocabularies a model trained on ``data`` depends on (saved as ``trained_on``).

    Example:
        >>> from synhelpers.testing.random_graph import make_random_graph
        >>> v = run_vocabulary(make_random_graph(num_nodes=20, num_edges=40), ["cell_class"])
        >>> sorted(v), v["label_columns"]
        (['connectome_names', 'label_columns', 'label_names', 'roi_names'], ['cell_class'])
    """
    return {
        "roi_names": [str(r) for r in getattr(data, "roi_names", [])],
        "label_columns": list(columns),
        "label_names": {c: [str(n) for n in data.label_names[c]] for c in columns},
        "connectome_names": [str(n) for n in getattr(data, "connectome_names",
                                                     [getattr(data, "dataset_name", "")])],
    }


def label_strings(data, column: str) -> np.ndarray:
    """(N,) object: each neuron's class name in ``column`` (``None`` where masked or absent)."""
    out = np.full(int(data.num_nodes), None, dtype=object)
    if column not in getattr(data, "label_columns", []):
        return out
    y = data[f"y_{column}"].numpy()
    names = np.asarray(data.label_names[column], dtype=object)
    out[y >= 0] = names[y[y >= 0]]
    return out


@dataclass
class Alignment:
    """What :func:`align_graph` changed.

    Attributes:
        dropped_rois: ROIs of the new graph the run never saw (dropped).
        synapses_in_dropped_rois: synapses whose ROI was dropped (now "no ROI").
        missing_rois: ROIs of the run absent from the new graph (their columns are zero).
        unknown_classes: label column -> {class the run does not know: neurons}.
        missing_columns: label columns of the run the new graph has no labels for.
        true_labels: label column -> (N,) object, the new graph's own class names.
    """

    dropped_rois: list[str] = field(default_factory=list)
    synapses_in_dropped_rois: int = 0
    missing_rois: list[str] = field(default_factory=list)
    unknown_classes: dict[str, dict[str, int]] = field(default_factory=dict)
    missing_columns: list[str] = field(default_factory=list)
    true_labels: dict[str, np.ndarray] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: what was dropped or left unscored.

        Example:
            >>> Alignment(dropped_rois=["X"], synapses_in_dropped_rois=3).summary()
            'dropped 1 ROI the run never saw (X; 3 synapses now have no ROI)'
        """
        parts = []
        if self.dropped_rois:
            shown = ", ".join(self.dropped_rois[:5]) + (" ..." if len(self.dropped_rois) > 5 else "")
            parts.append(f"dropped {len(self.dropped_rois)} ROI{'s' * (len(self.dropped_rois) > 1)} "
                         f"the run never saw ({shown}; {self.synapses_in_dropped_rois:,} synapses "
                         "now have no ROI)")
        for col, classes in self.unknown_classes.items():
            if classes:
                parts.append(f"{col}: {sum(classes.values()):,} neurons of {len(classes)} class(es) "
                             f"the run does not know ({', '.join(list(classes)[:5])}) shown, not scored")
        if self.missing_columns:
            parts.append(f"no labels for {', '.join(self.missing_columns)}")
        return "; ".join(parts) or "ROIs and classes match the run's"


def _align_rois(out, data, roi_names: list[str], report: Alignment) -> None:
    """``edge_roi`` (E, R_run), ``syn_roi`` in the run's ids, ``roi_center`` (R_run, 3), ``x``."""
    new_names = [str(r) for r in getattr(data, "roi_names", [])]
    idx = torch.from_numpy(pd.Index(roi_names).get_indexer(new_names).astype(np.int64))
    known = idx >= 0
    report.dropped_rois = [r for r, k in zip(new_names, known.tolist()) if not k]
    report.missing_rois = sorted(set(roi_names) - set(new_names))
    edge_roi = torch.zeros(data.edge_roi.shape[0], len(roi_names), dtype=torch.float32)
    edge_roi[:, idx[known]] = data.edge_roi[:, known].float()
    # fractions over the kept ROIs, as the builder makes them over the named ones
    out.edge_roi = edge_roi / edge_roi.sum(1, keepdim=True).clamp_min(1e-12)
    if "syn_roi" in data:
        lut = torch.cat([idx, torch.tensor([-1])])  # syn_roi -1 (unknown) reads the last entry
        syn_roi = data.syn_roi.long().clamp(min=-1)
        out.syn_roi = lut[syn_roi]
        report.synapses_in_dropped_rois = int(((syn_roi >= 0) & (out.syn_roi < 0)).sum())
        out.roi_center = roi_centers(data.syn_pos, out.syn_roi, len(roi_names))
    elif "roi_center" in data:
        out.roi_center = torch.zeros(len(roi_names), 3)
    out.roi_names = list(roi_names)
    out.x = wiring_features(data.edge_index, data.edge_weight, out.edge_roi, int(data.num_nodes),
                            data.connectome if "connectome" in data else None)


def _align_labels(out, data, label_names: dict[str, list[str]], report: Alignment) -> None:
    """``y_<col>`` in the run's class ids (-1: unknown class or unlabelled), the run's names."""
    for col, names in label_names.items():
        true = label_strings(data, col)
        report.true_labels[col] = true
        if col not in getattr(data, "label_columns", []):
            report.missing_columns.append(col)
        code = pd.Index(list(names)).get_indexer(pd.Series(true, dtype=object)).astype(np.int64)
        unknown = pd.Series(true[(code < 0) & pd.notna(true)], dtype=object).value_counts()
        report.unknown_classes[col] = {str(k): int(v) for k, v in unknown.items()}
        out[f"y_{col}"] = torch.from_numpy(code)
    out.label_columns = list(label_names)
    out.label_names = {c: list(v) for c, v in label_names.items()}


def align_graph(data, vocabulary: dict, *, gap_junctions: bool = False):
    """``data`` (a graph of a connectome the run never saw) in the run's vocabularies.

    Args:
        data: a graph from :func:`~synhelpers.graph.build.build_graph`.
        vocabulary: :func:`run_vocabulary` of the run (``metrics.json["trained_on"]``).
        gap_junctions: the model reads ``gap_index``; an empty one is added where ``data`` has
            none (a connectome without electrical synapses).

    Returns:
        ``(aligned graph, Alignment)``: a shallow copy (untouched tensors shared).
    """
    out, report = copy.copy(data), Alignment()
    _align_rois(out, data, list(vocabulary["roi_names"]), report)
    _align_labels(out, data, vocabulary["label_names"], report)
    if gap_junctions and "gap_index" not in data:
        out.gap_index = torch.zeros(2, 0, dtype=torch.long)
        out.gap_weight = torch.zeros(0)
    return out, report

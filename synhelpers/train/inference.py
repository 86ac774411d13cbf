"""Evaluation over the whole graph with full neighbourhoods, whatever the training mode.

Validation and test scores must not depend on neighbour sampling, so evaluation never
samples: it is either one full-graph forward (eval mode) or, when that does not fit in memory,
the model's layer-wise :meth:`~synhelpers.models.hybrid.HybridModel.inference`, which computes
the same logits (a test checks it) chunk by chunk: the synapse sets of ``EDGE_CHUNK_SYNAPSES``
rows at a time, then every GNN layer for ``chunk_size`` target nodes at a time with ALL their
incoming and outgoing edges (:func:`synhelpers.graph.sampler.layerwise_batches`).

:func:`eval_chunk_size` decides: the full graph when its eval forward fits in a quarter of
free memory, else the number of target nodes whose 1-hop neighbourhood fits.
"""

from __future__ import annotations

import torch

from ..graph.batch import edge_chunks, estimate_batch_size, free_memory_bytes
from ..graph.sampler import DirectedCSR, layerwise_batches

__all__ = ["eval_chunk_size", "whole_graph_logits", "GraphEvaluator", "EDGE_CHUNK_SYNAPSES"]

#: Synapse (or site) rows per chunk of the set encoders in layer-wise inference.
EDGE_CHUNK_SYNAPSES = 2_000_000
#: Eval-mode (no gradient) bytes per node, per edge and per synapse of the default model:
#: per-edge messages and edge features of one convolution dominate (hidden 64, float32).
EVAL_BYTES = {"bytes_per_node": 2048.0, "bytes_per_edge": 1536.0, "bytes_per_synapse": 512.0}


def eval_chunk_size(data, free_bytes: int | None = None, fraction: float = 0.25) -> int | None:
    """None (one full-graph forward fits) or the layer-wise chunk size in target nodes.

    Example:
        >>> from synhelpers.testing.random_graph import make_random_graph
        >>> eval_chunk_size(make_random_graph(), free_bytes=2**33) is None
        True
        >>> eval_chunk_size(make_random_graph(), free_bytes=2**20)
        4
    """
    n, e = int(data.num_nodes), int(data.edge_index.shape[1])
    s = int(data.syn_ptr[-1]) if "syn_ptr" in data else 0
    free = free_memory_bytes() if free_bytes is None else free_bytes
    size = estimate_batch_size(n, e, s, [-1], free, fraction=fraction, **EVAL_BYTES)
    return None if size >= n else size


def whole_graph_logits(model, data, chunk_size: int | None, device=None, augment=None):
    """``{column: logits (N, C)}`` (a :class:`~synhelpers.models.ModelOutput`) of every node,
    in eval mode, without gradients.

    ``chunk_size`` None: ``model(data)`` on ``device`` (the data is moved there). An int:
    layer-wise inference with that many target nodes per chunk (the model must have an
    ``inference`` method; the registry's HybridModel family has one). ``augment``: a
    point-set augmentation (test-time augmentation views), None for plain evaluation.
    """
    model.eval()
    device = device or next(model.parameters()).device
    with torch.no_grad():
        if chunk_size is None:
            return model(data.to(device), augment=augment)
        if not hasattr(model, "inference"):
            raise ValueError(f"{type(model).__name__} has no layer-wise inference; "
                             "evaluate it on the full graph (eval_chunk_size=None)")
        data = data.cpu()
        csr = DirectedCSR.from_data(data)
        syn = edge_chunks(data.syn_ptr, EDGE_CHUNK_SYNAPSES) if "syn_ptr" in data else None
        sites = edge_chunks(data.site_ptr, EDGE_CHUNK_SYNAPSES) if "site_ptr" in data else None
        return model.inference(data, lambda: layerwise_batches(csr, chunk_size), syn, sites, device,
                               augment=augment)


class GraphEvaluator:
    """Whole-graph logits of one graph, epoch after epoch (validation in mini-batch mode).

    Keeps one device copy of the graph for full-graph forwards, so the set encoders' cached
    plans (keyed by tensor) survive from one validation to the next.
    """

    def __init__(self, data, chunk_size: int | None):
        self.data = data
        self.chunk_size = chunk_size
        self._on_device, self._device = None, None

    def logits(self, model, device, augment=None):
        if self.chunk_size is not None:
            return whole_graph_logits(model, self.data, self.chunk_size, device, augment)
        if self._on_device is None or self._device != str(device):
            self._on_device, self._device = self.data.to(device), str(device)
        return whole_graph_logits(model, self._on_device, None, device, augment)

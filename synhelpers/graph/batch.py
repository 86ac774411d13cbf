"""Mini-batches that carry their synapses: the batch ``Data`` and how many seeds fit.

:func:`build_batch` cuts a sampled subgraph (node ids, edge ids from
:func:`synhelpers.graph.sampler.sample_neighbours`) out of the full graph: local
``edge_index``, sliced per-edge and per-node tensors, and the kept edges' synapse sets and the
kept neurons' sites gathered into new CSR tables (a vectorised gather of arbitrary ids, unlike
``build.subgraph``'s boolean mask, so the batch keeps the sampler's node and edge order).
Node features ``x`` are sliced, not recomputed: they were computed on the full graph.

:func:`edge_chunks` cuts all E edges into contiguous chunks under a synapse budget, for
encoding every synapse set chunk by chunk at inference.

:func:`estimate_batch_size` turns free memory into a seed batch size; :func:`free_memory_bytes`
reads the free memory of a CUDA device or of the host.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch_geometric.data import Data

__all__ = [
    "gather_csr",
    "build_batch",
    "edge_chunks",
    "free_memory_bytes",
    "estimate_batch_size",
]

#: CSR pointer -> (prefix of its row tables, "edge" or "node" owners).
CSR_TABLES = {"syn_ptr": ("syn_", "edge"), "site_ptr": ("site_", "node")}
#: Tensors that describe the whole graph, never sliced even if their length equals N.
GLOBAL_KEYS = frozenset({"pos_center"})


def gather_csr(ptr: torch.Tensor, owners: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows and new pointer of a CSR structure restricted to ``owners``, in that order.

    Args:
        ptr: (K+1,) int64 CSR pointer; owner ``i`` has rows ``ptr[i]:ptr[i+1]``.
        owners: (K',) int64 owner ids, any order, repeats allowed.

    Returns:
        ``rows`` (ptr'[-1],) int64 row ids into the old tables and ``new_ptr`` (K'+1,) int64,
        so that new owner ``j`` has rows ``table[rows][new_ptr[j]:new_ptr[j+1]]`` =
        ``table[ptr[owners[j]]:ptr[owners[j]+1]]``.

    Example:
        >>> rows, new_ptr = gather_csr(torch.tensor([0, 2, 2, 5]), torch.tensor([2, 0]))
        >>> rows.tolist(), new_ptr.tolist()
        ([2, 3, 4, 0, 1], [0, 3, 5])
    """
    owners = owners.long().to(ptr.device)
    start = ptr[owners]
    lengths = ptr[owners + 1] - start
    new_ptr = torch.zeros(owners.numel() + 1, dtype=torch.long, device=ptr.device)
    torch.cumsum(lengths, 0, out=new_ptr[1:])
    shift = torch.repeat_interleave(start - new_ptr[:-1], lengths)  # old row - new row
    return torch.arange(int(new_ptr[-1]), device=ptr.device) + shift, new_ptr


def _local_index(n_id: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """(N,) position of each node in ``n_id``, -1 where absent; checks ``n_id``."""
    if n_id.numel() and (int(n_id.min()) < 0 or int(n_id.max()) >= num_nodes):
        raise ValueError(f"n_id holds node ids outside [0, {num_nodes})")
    local = torch.full((num_nodes,), -1, dtype=torch.long, device=n_id.device)
    position = torch.arange(n_id.numel(), device=n_id.device)
    local[n_id] = position
    if not torch.equal(local[n_id], position):
        raise ValueError("n_id holds repeated node ids; each node must appear once")
    return local


def _gather_csr_tables(data: Data, out: Data, n_id: torch.Tensor, e_id: torch.Tensor,
                       site_nodes: int | None = None) -> None:
    """Gather every CSR family of ``data`` (synapses per edge, sites per node) into ``out``.

    ``site_nodes``: only the first ``site_nodes`` nodes keep their rows of node-owned tables
    (the others get empty sets); None: every node."""
    for ptr_key, (prefix, owner_kind) in CSR_TABLES.items():
        if ptr_key not in data:
            continue
        ptr = data[ptr_key]
        if owner_kind == "edge":
            rows, out[ptr_key] = gather_csr(ptr, e_id)
        else:
            rows, head = gather_csr(ptr, n_id if site_nodes is None else n_id[:site_nodes])
            out[ptr_key] = torch.cat([head, head[-1:].expand(n_id.numel() + 1 - head.numel())])
        for key, value in data.items():
            if (key.startswith(prefix) and key != ptr_key and torch.is_tensor(value)
                    and value.dim() >= 1 and value.shape[0] == int(ptr[-1])):
                out[key] = value[rows]


def _gather_gap_edges(data: Data, out: Data, local: torch.Tensor) -> None:
    """Gap junctions (undirected, ``gap_index`` (2, 2G) both directions) between batch nodes.

    They are not sampled: a batch keeps every gap edge whose two ends it holds (the induced
    subgraph), in local ids, with its ``gap_weight``.
    """
    if "gap_index" not in data:
        return
    ends = local[data.gap_index]
    keep = (ends >= 0).all(0)
    out.gap_index = ends[:, keep]
    if "gap_weight" in data:
        out.gap_weight = data.gap_weight[keep]


def build_batch(data: Data, n_id: torch.Tensor, e_id: torch.Tensor, batch_size: int, *,
                seed_sites_only: bool = False) -> Data:
    """The subgraph of a sampled mini-batch, with its synapse sets and sites.

    Attribute rules: ``edge_index`` -> local ids; tensors named ``edge_*`` -> ``[e_id]``;
    CSR families (``syn_ptr`` with ``syn_*`` rows per edge, ``site_ptr`` with ``site_*`` rows
    per node) -> gathered CSR; ``gap_index``/``gap_weight`` -> the gap junctions between batch
    nodes (not sampled), in local ids; other tensors of length N (``x``, ``y_*``, masks, ``body_id``)
    -> ``[n_id]``; everything else (lists, dicts, scalars, ``pos_center``) -> unchanged.

    Args:
        data: the full graph (N nodes, E edges).
        n_id: (N',) distinct original node ids, the ``batch_size`` seeds first.
        e_id: (E',) original edge ids; both ends of each must be in ``n_id``.
        batch_size: number of seeds; losses and metrics use ``batch.y_*[:batch_size]``.
        seed_sites_only: carry the sites (``site_*``) of the seeds only; the other nodes get
            empty site sets. For models that read a neuron's sites only for that neuron's own
            output (HybridModel's synapse cloud), the seeds' outputs are unchanged and the
            clouds of the (many more) non-seed nodes are not encoded.

    Returns:
        A ``Data`` with N' nodes, E' edges and ``n_id``, ``e_id``, ``batch_size``, on the
        device of ``data`` (the loaders keep ``data`` on the CPU; Lightning moves batches).

    Example:
        >>> from synhelpers.testing.random_graph import make_random_graph
        >>> data = make_random_graph()
        >>> b = build_batch(data, torch.tensor([3, 5]), torch.zeros(0, dtype=torch.long), 1)
        >>> b.num_nodes, b.batch_size, b.syn_ptr.tolist(), b.x.shape[0], b.roi_names == data.roi_names
        (2, 1, [0], 2, True)
    """
    device = data.edge_index.device
    n = int(data.num_nodes)
    n_id, e_id = torch.as_tensor(n_id).long().to(device), torch.as_tensor(e_id).long().to(device)
    if not 0 <= batch_size <= n_id.numel():
        raise ValueError(f"batch_size must be in [0, len(n_id)={n_id.numel()}], got {batch_size}")
    num_edges = data.edge_index.shape[1]
    if e_id.numel() and (int(e_id.min()) < 0 or int(e_id.max()) >= num_edges):
        raise ValueError(f"e_id holds edge ids outside [0, {num_edges})")
    local = _local_index(n_id, n)
    edge_index = local[data.edge_index[:, e_id]]
    if bool((edge_index < 0).any()):
        missing = int((edge_index < 0).any(0).sum())
        raise ValueError(f"{missing} of the e_id edges have an end that is not in n_id")
    out = Data(num_nodes=n_id.numel(), edge_index=edge_index, n_id=n_id, e_id=e_id,
               batch_size=int(batch_size))
    _gather_csr_tables(data, out, n_id, e_id, int(batch_size) if seed_sites_only else None)
    _gather_gap_edges(data, out, local)
    for key, value in data.items():
        if key in out or key == "num_nodes":
            continue
        if not torch.is_tensor(value) or value.dim() == 0 or key in GLOBAL_KEYS:
            out[key] = value
        elif key.startswith("edge_") and value.shape[0] == num_edges:
            out[key] = value[e_id]
        elif value.shape[0] == n:
            out[key] = value[n_id]
        else:
            out[key] = value
    return out


def edge_chunks(syn_ptr: torch.Tensor, max_synapses: int) -> torch.Tensor:
    """Boundaries that cut the E edges into contiguous chunks of at most ``max_synapses``.

    For encoding the synapse sets of all edges chunk by chunk: chunk ``c`` is edges
    ``bounds[c]:bounds[c+1]``, whose synapses are rows ``syn_ptr[bounds[c]]:syn_ptr[bounds[c+1]]``
    (local pointer: ``syn_ptr[bounds[c]:bounds[c+1]+1] - syn_ptr[bounds[c]]``). A single edge
    with more than ``max_synapses`` synapses gets a chunk of its own. The loop runs once per
    chunk (a binary search each), not per edge.

    Returns:
        (C+1,) int64, from 0 to E.

    Example:
        >>> edge_chunks(torch.tensor([0, 3, 5, 6, 20, 21]), 6).tolist()
        [0, 3, 4, 5]
    """
    if max_synapses < 1:
        raise ValueError(f"max_synapses must be >= 1, got {max_synapses}")
    num_edges = syn_ptr.numel() - 1
    bounds = [0]
    while bounds[-1] < num_edges:
        start = bounds[-1]
        end = int(torch.searchsorted(syn_ptr, syn_ptr[start] + max_synapses, right=True)) - 1
        bounds.append(min(max(end, start + 1), num_edges))
    return torch.tensor(bounds, dtype=torch.long)


# --------------------------------------------------------------------------- memory


def free_memory_bytes(device: torch.device | str | None = None) -> int:
    """Free memory in bytes: of a CUDA device (``torch.cuda.mem_get_info``), else of the host.

    The host figure is ``MemAvailable`` from ``/proc/meminfo`` (Linux; counts reclaimable
    caches), else ``os.sysconf`` free physical pages (strictly free, so lower).
    """
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))


def _per_seed_sizes(num_nodes: int, num_edges: int, fanouts: Sequence[int]) -> tuple[float, float]:
    """Expected (nodes, edges) of one seed's sampled neighbourhood, ignoring overlaps."""
    degree = num_edges / max(num_nodes, 1)  # mean in-degree = mean out-degree
    frontier, nodes, edges = 1.0, 1.0, 0.0
    for k in fanouts:
        per_dir = degree if k < 0 else min(float(k), degree)
        frontier = 2.0 * per_dir * frontier  # each sampled edge reaches at most one new node
        edges += frontier
        nodes += frontier
    return min(nodes, float(num_nodes)), min(edges, float(num_edges))


def estimate_batch_size(num_nodes: int, num_edges: int, num_synapses: int,
                        fanouts: Sequence[int], free_bytes: int, *, num_seeds: int | None = None,
                        fraction: float = 0.5, bytes_per_node: float = 4096.0,
                        bytes_per_edge: float = 1024.0, bytes_per_synapse: float = 2048.0,
                        max_synapses_per_edge: float | None = 16.0) -> int:
    """A seed batch size whose sampled batches should fit in ``fraction * free_bytes``.

    Assumptions (an estimate, not a guarantee; calibrate the ``bytes_per_*`` costs by
    measuring the peak memory of one training step when it matters):

    * every node has the mean in- and out-degree ``d = E / N``; hop ``l`` reaches
      ``2 * min(k_l, d)`` new nodes per frontier node (``d`` for k = -1), with no overlap
      between seeds, so the per-seed size is an upper bound (heavy-tailed degrees and shared
      neighbours make real batches smaller) and is capped at the whole graph;
    * each edge has ``S / E`` synapses, capped at ``max_synapses_per_edge`` (the synapse
      encoder subsamples each set to ``ModelConfig.set_size`` = 16 points; None: no cap);
    * memory is linear in nodes, edges and synapse points. The defaults are training costs
      (float32 activations kept for backward, gradients, optimiser-free) of the default
      ``ModelConfig`` (hidden 64, syn_dim 32, point_dim 16 with kNN attention): about 4 KiB
      per node, 1 KiB per edge, 2 KiB per synapse point;
    * the model's parameters and the full graph's resident tensors are already allocated
      (``free_bytes`` is measured after they are), and ``fraction`` leaves head-room for
      fragmentation and the allocator.

    Args:
        num_nodes, num_edges, num_synapses: N, E, S of the full graph.
        fanouts: per-layer fan-outs (-1 = all neighbours).
        free_bytes: e.g. :func:`free_memory_bytes`.
        num_seeds: the number of training seeds (the result never exceeds it); default N.

    Returns:
        An int in ``[1, num_seeds]``; all seeds when the whole graph fits.

    Example:
        >>> estimate_batch_size(25_000, 3_000_000, 20_000_000, [10, 10], 8 * 2**30)
        544
        >>> estimate_batch_size(2_000, 40_000, 200_000, [10, 10], 8 * 2**30, num_seeds=1400)
        1400
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    num_seeds = num_nodes if num_seeds is None else int(num_seeds)
    syn_per_edge = num_synapses / max(num_edges, 1)
    if max_synapses_per_edge is not None:
        syn_per_edge = min(syn_per_edge, float(max_synapses_per_edge))

    def cost(nodes: float, edges: float) -> float:
        return nodes * bytes_per_node + edges * (bytes_per_edge + syn_per_edge * bytes_per_synapse)

    budget = fraction * float(free_bytes)
    if cost(num_nodes, num_edges) <= budget:
        return max(1, num_seeds)
    per_seed = cost(*_per_seed_sizes(num_nodes, num_edges, fanouts))
    return int(min(max(1, budget // per_seed), max(1, num_seeds)))

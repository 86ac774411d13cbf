"""Mini-batches that carry their synapses: which nodes and edges go into a batch.

Why this module exists (instead of ``torch_geometric.loader.NeighborLoader``):

* PyG 2.8's samplers need ``pyg-lib`` or ``torch-sparse``, which have no wheels on PyPI for
  every torch build and do not install without a compiler.
* Our GNN aggregates inputs and outputs separately (Dir-GNN), so every hop samples up to
  ``k`` incoming AND up to ``k`` outgoing edges per node. A homogeneous ``NeighborLoader``
  samples incoming edges only; expressing both directions needs a ``HeteroData`` with a
  reversed edge type, whose sampled edge ids then have to be mapped back and merged.
* ``pyg-lib`` draws from the global RNG, not from a ``torch.Generator``, so a batch would not
  be reproducible from a seed, and would differ between installs with and without it.

So the pure-torch path below is ALWAYS used; it is a few sorts and gathers per hop (no
Python loop over nodes or edges). Sampling runs on the CPU (the CSR lives there, and a CPU
``torch.Generator`` seeds it), typically inside ``DataLoader`` workers. The batch itself (sliced tensors, gathered synapse CSR)
is built by :func:`synhelpers.graph.batch.build_batch`.

Pieces:

* :class:`DirectedCSR`: in- and out-adjacency in CSR form, built once per graph.
* :func:`sample_neighbours`: the seeded, per-direction, per-hop neighbour sampler.
* :class:`SeedBatchSampler`, :class:`NeighborSampleDataset`, :class:`NeighborBatchLoader`:
  shuffled, sharded (data-parallel) seed batches as a ``torch.utils.data.DataLoader``.
* :func:`layerwise_batches`: full-neighbourhood, chunked inference (and
  :func:`synhelpers.graph.batch.edge_chunks` for synapse sets chunk by chunk).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch_geometric.data import Data

from .batch import build_batch

__all__ = [
    "DirectedCSR",
    "NeighbourSample",
    "sample_neighbours",
    "sample_adjacent_edges",
    "SeedBatchSampler",
    "NeighborSampleDataset",
    "NeighborBatchLoader",
    "layerwise_batches",
]


@dataclass(frozen=True)
class DirectedCSR:
    """In- and out-adjacency of a directed graph, as edge ids into the ORIGINAL edge list.

    Node ``v``'s incoming edges are ``in_eid[in_ptr[v]:in_ptr[v+1]]`` and its outgoing edges
    ``out_eid[out_ptr[v]:out_ptr[v+1]]``. Build it once per graph and reuse it for every batch.

    Attributes:
        num_nodes: N.
        src, dst: (E,) int64, pre and post node of each edge (``edge_index`` rows).
        in_ptr, out_ptr: (N+1,) int64 CSR pointers.
        in_eid, out_eid: (E,) int64 edge ids, grouped by post (in) or pre (out) node.

    Example:
        >>> csr = DirectedCSR.from_edge_index(torch.tensor([[0, 0, 2], [1, 2, 1]]), 3)
        >>> csr.in_eid[csr.in_ptr[1]:csr.in_ptr[2]].tolist()  # edges into node 1
        [0, 2]
    """

    num_nodes: int
    src: torch.Tensor
    dst: torch.Tensor
    in_ptr: torch.Tensor
    in_eid: torch.Tensor
    out_ptr: torch.Tensor
    out_eid: torch.Tensor

    @classmethod
    def from_edge_index(cls, edge_index: torch.Tensor, num_nodes: int) -> DirectedCSR:
        """Both CSRs from a (2, E) pre -> post ``edge_index`` (any edge order)."""
        if edge_index.dim() != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
        src, dst = edge_index.long().cpu()
        if src.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
            raise ValueError(f"edge_index holds node ids outside [0, {num_nodes})")
        return cls(num_nodes, src, dst, *_csr(dst, num_nodes), *_csr(src, num_nodes))

    @classmethod
    def from_data(cls, data: Data) -> DirectedCSR:
        """Both CSRs of a graph from :mod:`synhelpers.graph.build`."""
        return cls.from_edge_index(data.edge_index, int(data.num_nodes))


def _csr(owner: torch.Tensor, num_nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ptr, edge ids) grouping edges by ``owner``; stable, so ties keep the edge order."""
    eid = torch.sort(owner, stable=True).indices
    ptr = torch.zeros(num_nodes + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(owner, minlength=num_nodes), 0, out=ptr[1:])
    return ptr, eid


@dataclass(frozen=True)
class NeighbourSample:
    """The result of :func:`sample_neighbours`.

    Attributes:
        n_id: (N',) int64 original node ids; the ``batch_size`` seeds first, in their order,
            then the other nodes in the order they were first reached.
        e_id: (E',) int64 original edge ids of the sampled edges (sorted, each once).
        edge_index: (2, E') int64 the sampled edges in local node ids (positions in ``n_id``).
        batch_size: number of seeds.
        num_sampled_nodes: nodes first reached at each hop (hop 0: the seeds), so hop ``l``'s
            nodes are ``n_id[sum(num_sampled_nodes[:l]):sum(num_sampled_nodes[:l + 1])]``.
    """

    n_id: torch.Tensor
    e_id: torch.Tensor
    edge_index: torch.Tensor
    batch_size: int
    num_sampled_nodes: tuple[int, ...] = ()


def _check_fanouts(fanouts: Sequence[int]) -> list[int]:
    out = [int(k) for k in fanouts]
    if any(k < -1 for k in out):
        raise ValueError(f"fanouts must be >= 0, or -1 for all neighbours, got {list(fanouts)}")
    return out


def _check_seeds(seeds: torch.Tensor, num_nodes: int) -> torch.Tensor:
    seeds = torch.as_tensor(seeds)
    if seeds.dtype == torch.bool:
        if seeds.shape != (num_nodes,):
            raise ValueError(f"a boolean seeds mask must have shape ({num_nodes},)")
        return seeds.cpu().nonzero().flatten()
    seeds = seeds.long().flatten().cpu()
    if seeds.numel() and (int(seeds.min()) < 0 or int(seeds.max()) >= num_nodes):
        raise ValueError(f"seeds hold node ids outside [0, {num_nodes})")
    if torch.unique(seeds).numel() != seeds.numel():
        raise ValueError("seeds hold repeated node ids; each seed must appear once")
    return seeds


def sample_adjacent_edges(csr: DirectedCSR, nodes: torch.Tensor, fanout: int,
                          generator: torch.Generator | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """One hop: up to ``fanout`` incoming and up to ``fanout`` outgoing edge ids per node.

    Uniform without replacement; all of a node's edges when its degree is <= ``fanout`` or
    ``fanout`` is -1. Returns (in edge ids, out edge ids), grouped by node in ``nodes`` order.
    """
    fanout = _check_fanouts([fanout])[0]
    nodes = torch.as_tensor(nodes).long()
    return (_sample_segments(csr.in_ptr, csr.in_eid, nodes, fanout, generator),
            _sample_segments(csr.out_ptr, csr.out_eid, nodes, fanout, generator))


def _sample_segments(ptr: torch.Tensor, eid: torch.Tensor, nodes: torch.Tensor, fanout: int,
                     generator: torch.Generator | None) -> torch.Tensor:
    """Up to ``fanout`` edge ids of each node's CSR segment, uniformly without replacement.

    All of a segment is taken when its length is <= fanout (or fanout is -1). Otherwise every
    candidate gets a uniform random key and the ``fanout`` smallest keys of each segment win:
    one sort of ``segment + key`` keeps the segments contiguous and orders each one randomly.
    """
    start = ptr[nodes]
    deg = ptr[nodes + 1] - start
    seg = torch.repeat_interleave(torch.arange(nodes.numel()), deg)  # (D,) segment of each
    offset = torch.arange(seg.numel()) - torch.repeat_interleave(torch.cumsum(deg, 0) - deg, deg)
    if fanout >= 0 and bool((deg > fanout).any()):
        key = torch.rand(seg.numel(), generator=generator, dtype=torch.float64)
        order = torch.argsort(seg.double() + key, stable=True)  # random order inside segments
        chosen = order[offset < fanout]  # the first `fanout` places of each segment
        return eid[start[seg[chosen]] + offset[chosen]]
    return eid[start[seg] + offset]


def _first_occurrences(values: torch.Tensor) -> torch.Tensor:
    """Distinct values in the order of their first occurrence."""
    uniq, inverse = torch.unique(values, return_inverse=True)
    first = torch.full((uniq.numel(),), values.numel(), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(values.numel()), reduce="amin")
    return uniq[torch.argsort(first)]


def sample_neighbours(csr: DirectedCSR, seeds: torch.Tensor, fanouts: Sequence[int],
                      generator: torch.Generator | None = None) -> NeighbourSample:
    """Sample the multi-hop in- and out-neighbourhood of the seeds (Dir-GNN style).

    Hop ``l`` takes, for every node first reached at hop ``l - 1`` (the seeds at hop 0), up to
    ``fanouts[l]`` of its incoming edges AND up to ``fanouts[l]`` of its outgoing edges,
    uniformly without replacement (all of them when the degree is <= the fan-out; -1 = all).

    Args:
        csr: the graph's :class:`DirectedCSR`.
        seeds: (B,) distinct node ids, or an (N,) bool mask.
        fanouts: one fan-out per GNN layer, e.g. ``[10, 5]``.
        generator: a seeded ``torch.Generator`` for reproducible samples (global RNG if None).

    Returns:
        A :class:`NeighbourSample`; ``n_id[:batch_size]`` are the seeds.

    Example:
        >>> csr = DirectedCSR.from_edge_index(torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]), 5)
        >>> s = sample_neighbours(csr, torch.tensor([2]), [-1])
        >>> s.n_id.tolist(), s.e_id.tolist(), s.edge_index.tolist()
        ([2, 1, 3], [1, 2], [[1, 0], [0, 2]])
    """
    fanouts = _check_fanouts(fanouts)
    seeds = _check_seeds(seeds, csr.num_nodes)
    local = torch.full((csr.num_nodes,), -1, dtype=torch.long)
    local[seeds] = torch.arange(seeds.numel())
    nodes, edges, frontier, count = [seeds], [], seeds, seeds.numel()
    for fanout in fanouts:  # a loop over the few layers only
        e_in, e_out = sample_adjacent_edges(csr, frontier, fanout, generator)
        reached = torch.cat([csr.src[e_in], csr.dst[e_out]])  # the far end of each edge
        frontier = _first_occurrences(reached[local[reached] < 0])
        local[frontier] = torch.arange(count, count + frontier.numel())
        count += frontier.numel()
        nodes.append(frontier)
        edges += [e_in, e_out]
    e_id = torch.unique(torch.cat(edges)) if edges else torch.zeros(0, dtype=torch.long)
    edge_index = torch.stack([local[csr.src[e_id]], local[csr.dst[e_id]]])
    return NeighbourSample(torch.cat(nodes), e_id, edge_index, int(seeds.numel()),
                           tuple(int(v.numel()) for v in nodes))


# --------------------------------------------------------------------------- seed batches


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _mix_seed(*parts: int) -> int:
    """A well-spread 63-bit RNG seed from several integers (numpy's SeedSequence)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0]
               >> np.uint64(1))


class SeedBatchSampler(Sampler):
    """This rank's shuffled seed batches for one epoch, as ``(rng_seed, seed ids)`` items.

    Every epoch the seeds are permuted with ``seed + epoch`` (the same permutation on every
    rank), rank ``r`` of ``R`` takes ``perm[r::R]`` (disjoint shards that cover all seeds),
    and each shard is cut into the same number ``B = ceil(ceil(n / R) / batch_size)`` of
    batches, whose sizes differ by at most one and never exceed ``batch_size``. Equal batch
    counts keep data-parallel ranks in step (DDP hangs if one rank has an extra batch).
    ``torch.utils.data.DistributedSampler`` is not reused because it pads shards with
    repeated seeds (or drops seeds), so its shards are not disjoint and covering.

    ``rng_seed`` seeds the neighbour sampling of that batch; it depends on (seed, epoch,
    rank, batch), so batches are reproducible whatever the number of loader workers.
    Iterating uses the current epoch then advances it by one; :meth:`set_epoch` (called by
    Lightning at every epoch) sets it explicitly.
    """

    def __init__(self, seeds: torch.Tensor, batch_size: int, shuffle: bool = True,
                 seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        seeds = torch.as_tensor(seeds).cpu()
        self.seeds = seeds.nonzero().flatten() if seeds.dtype == torch.bool else seeds.long()
        n = self.seeds.numel()
        if torch.unique(self.seeds).numel() != n:
            raise ValueError("seeds hold repeated node ids; each seed must appear once")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas={num_replicas}), got {rank}")
        if n < num_replicas:
            raise ValueError(f"{n} seeds cannot be shared by num_replicas={num_replicas} ranks")
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), int(seed)
        self.num_replicas, self.rank, self.epoch = int(num_replicas), int(rank), 0
        self.num_batches = _ceil_div(_ceil_div(n, num_replicas), batch_size)
        if n // num_replicas < self.num_batches:
            raise ValueError(f"{n} seeds, num_replicas={num_replicas}, batch_size={batch_size}: "
                             "some rank would get an empty batch; raise batch_size")

    def set_epoch(self, epoch: int) -> None:
        """Use this epoch's permutation for the next iteration."""
        self.epoch = int(epoch)

    def batches(self, epoch: int) -> list[torch.Tensor]:
        """This rank's seed node ids for ``epoch``, one tensor per batch."""
        n = self.seeds.numel()
        if self.shuffle:
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + epoch))
        else:
            perm = torch.arange(n)
        shard = self.seeds[perm[self.rank::self.num_replicas]]
        return list(torch.tensor_split(shard, self.num_batches))

    def __iter__(self) -> Iterator[tuple[int, torch.Tensor]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        for b, ids in enumerate(self.batches(epoch)):
            yield _mix_seed(self.seed, epoch, self.rank, b), ids

    def __len__(self) -> int:
        return self.num_batches


class NeighborSampleDataset(Dataset):
    """Turns a ``(rng_seed, seed ids)`` item into a batch ``Data`` (sample, then gather).

    Meant as the dataset of a ``DataLoader`` with ``batch_size=None`` and a
    :class:`SeedBatchSampler` as sampler (what :class:`NeighborBatchLoader` sets up). It can
    also be called directly: ``ds[(0, torch.tensor([3, 7]))]``.
    """

    def __init__(self, data: Data, fanouts: Sequence[int], csr: DirectedCSR | None = None,
                 seed_sites_only: bool = False):
        self.data, self.fanouts = data, _check_fanouts(fanouts)
        self.csr = csr if csr is not None else DirectedCSR.from_data(data)
        self.seed_sites_only = bool(seed_sites_only)

    def __getitem__(self, item: tuple[int, torch.Tensor]) -> Data:
        rng_seed, seeds = item
        sample = sample_neighbours(self.csr, seeds, self.fanouts,
                                   torch.Generator().manual_seed(int(rng_seed)))
        return build_batch(self.data, sample.n_id, sample.e_id, sample.batch_size,
                           seed_sites_only=self.seed_sites_only)


def _unchanged(batch: Data) -> Data:
    """The collate function of a loader whose dataset already returns whole batches."""
    return batch


class NeighborBatchLoader(DataLoader):
    """A ``DataLoader`` of sampled mini-batches (``Data``) around shuffled training seeds.

    Each batch is a :func:`~synhelpers.graph.batch.build_batch` subgraph: the seeds are its
    first ``batch.batch_size`` nodes (compute losses on those only), ``batch.n_id`` and
    ``batch.e_id`` map back to the full graph, and the kept edges carry their synapse sets.

    Args:
        data: the full graph.
        seeds: (n,) node ids or an (N,) bool mask, e.g. ``data.train_mask``.
        fanouts: per-layer fan-outs, -1 = all neighbours.
        batch_size: seeds per batch (at most; see :class:`SeedBatchSampler`).
        shuffle, seed: reshuffle every epoch from ``seed + epoch``.
        num_replicas, rank: data-parallel world size and this process's rank.
        seed_sites_only: batches carry the seeds' sites only (see
            :func:`~synhelpers.graph.batch.build_batch`).
        **loader_kwargs: passed to ``DataLoader`` (``num_workers``, ``pin_memory``, ...).

    With Lightning, pass ``num_replicas=trainer.world_size, rank=trainer.global_rank`` and
    ``Trainer(use_distributed_sampler=False)``: the loader shards itself, and Lightning's
    per-epoch ``set_epoch`` call reaches :attr:`sampler`.

    Example:
        >>> from synhelpers.testing.random_graph import make_random_graph
        >>> data = make_random_graph()
        >>> loader = NeighborBatchLoader(data, data.train_mask, [5, 5], batch_size=16, seed=0)
        >>> len(loader), [b.batch_size for b in loader]
        (2, [14, 14])
    """

    def __init__(self, data: Data, seeds: torch.Tensor, fanouts: Sequence[int], batch_size: int,
                 shuffle: bool = True, seed: int = 0, num_replicas: int = 1, rank: int = 0,
                 seed_sites_only: bool = False, **loader_kwargs) -> None:
        sampler = SeedBatchSampler(_check_seeds(seeds, int(data.num_nodes)), batch_size,
                                   shuffle, seed, num_replicas, rank)
        dataset = NeighborSampleDataset(data, fanouts, seed_sites_only=seed_sites_only)
        super().__init__(dataset, batch_size=None, sampler=sampler, collate_fn=_unchanged,
                         **loader_kwargs)

    def set_epoch(self, epoch: int) -> None:
        """Use this epoch's seed permutation for the next iteration."""
        self.sampler.set_epoch(epoch)


# --------------------------------------------------------------------------- inference


def layerwise_batches(csr: DirectedCSR, chunk_size: int) -> Iterator[NeighbourSample]:
    """Every node's full 1-hop in+out neighbourhood, ``chunk_size`` target nodes at a time.

    For layer-by-layer inference over the whole graph without sampling: the targets of each
    chunk are ``n_id[:batch_size]`` (consecutive node ids, all N covered once), and
    ``edge_index`` holds ALL their incoming and outgoing edges (``e_id`` into the full graph).

    Example (``layer(h, edge_index, edge_attr)`` is one Dir-GNN layer)::

        for layer in model.layers:
            h_next = h.new_empty(N, dim)
            for s in layerwise_batches(csr, 4096):
                out = layer(h[s.n_id], s.edge_index, edge_attr[s.e_id])
                h_next[s.n_id[:s.batch_size]] = out[:s.batch_size]
            h = h_next
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    for targets in torch.arange(csr.num_nodes).split(int(chunk_size)):
        yield sample_neighbours(csr, targets, [-1])

"""Augmentations: shapes, padding, masks, determinism, invariances, units, registry, TTA."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import torch

from synhelpers.augment import (
    AUGMENTATIONS,
    Compose,
    ConfidenceResample,
    EdgeDropout,
    Jitter,
    Mirror,
    PointDropout,
    Rotate,
    Scale,
    build_augmentations,
    get_augmentation,
    parse_augment_spec,
    tta_rngs,
    tta_views,
)

UNIT_NM = 20_500 * 8.0  # nm per normalised unit at hemibrain scale (pos_scale * voxel_nm)
SIZES = [7, 3, 1, 0, 5]  # real points per set; set 3 is empty
POINT_NAMES = [n for n in AUGMENTATIONS if n != "edge_dropout"]
TORCH_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def make_batch(seed: int = 0, dim: int = 6, dtype=np.float32) -> dict:
    """Padded sets with sizes SIZES; padded entries hold distinctive values (not zeros)."""
    rng = np.random.default_rng(seed)
    mask = np.arange(max(SIZES)) < np.array(SIZES)[:, None]
    pos = rng.uniform(-1, 1, (len(SIZES), max(SIZES), dim)).astype(dtype)
    pos[~mask] = rng.uniform(5, 6, (int((~mask).sum()), dim))
    conf = rng.uniform(0.5, 1.0, (len(SIZES), max(SIZES), 2)).astype(np.float32)
    return {"pos": pos, "mask": mask, "conf": conf}


def to_torch(batch: dict, dtype=None, device="cpu") -> dict:
    out = {k: torch.from_numpy(v.copy()).to(device) for k, v in batch.items()}
    if dtype is not None:
        out["pos"] = out["pos"].to(dtype)
    return out


def build(name: str, **over):
    return build_augmentations([name], length_unit_nm=UNIT_NM, **({name: over} if over else {}))


def real_triples(pos, mask, b):
    """(n * D/3, 3) float64 triples of the real points of set b."""
    return np.asarray(pos[b][mask[b]], np.float64).reshape(-1, 3)


# ----------------------------------------------------------------------------- shapes, padding


@pytest.mark.parametrize("name", POINT_NAMES)
def test_numpy_keeps_shapes_dtypes_padding_and_inputs(name):
    batch = make_batch()
    before = {k: v.copy() for k, v in batch.items()}
    out = build(name, p=1.0)(batch, np.random.default_rng(3))
    for k, v in before.items():
        np.testing.assert_array_equal(batch[k], v)  # input untouched
    assert out["pos"].shape == batch["pos"].shape and out["pos"].dtype == np.float32
    assert out["mask"].shape == batch["mask"].shape and out["mask"].dtype == bool
    pad = ~batch["mask"]
    assert np.array_equal(out["pos"][pad].view(np.uint32), batch["pos"][pad].view(np.uint32))
    assert not (out["mask"] & pad).any()  # padded points stay padded
    np.testing.assert_array_equal(out["conf"], batch["conf"])


@pytest.mark.parametrize("dtype", TORCH_DTYPES)
@pytest.mark.parametrize("name", POINT_NAMES)
def test_torch_keeps_shapes_dtypes_padding(name, dtype):
    batch = to_torch(make_batch(), dtype)
    pos_before = batch["pos"].clone()
    out = build(name, p=1.0)(batch, torch.Generator().manual_seed(3))
    assert torch.equal(batch["pos"], pos_before)
    assert out["pos"].shape == pos_before.shape and out["pos"].dtype == dtype
    assert out["mask"].dtype == torch.bool and out["mask"].shape == batch["mask"].shape
    pad = ~batch["mask"]
    assert torch.equal(out["pos"][pad], pos_before[pad])


def test_single_unpadded_set():
    pos = make_batch()["pos"][0]  # (7, 6), all real
    for name in ("rotate_z", "jitter", "scale_aniso"):
        out = build(name)({"pos": pos}, np.random.default_rng(0))
        assert out["pos"].shape == pos.shape and not np.allclose(out["pos"], pos)
    out = build("dropout", q=0.5)({"pos": pos}, np.random.default_rng(0))
    assert out["mask"].shape == (7,) and 1 <= out["mask"].sum() < 7
    np.testing.assert_array_equal(out["pos"], pos)


# ----------------------------------------------------------------------------- masks


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_dropout_never_empties_a_set_and_only_turns_points_off(backend):
    batch = make_batch()
    mask = batch["mask"]
    for seed in range(50):
        if backend == "numpy":
            new = PointDropout(q=0.95)(batch, np.random.default_rng(seed))["mask"]
        else:
            new = PointDropout(q=0.95)(to_torch(batch), torch.Generator().manual_seed(seed))
            new = new["mask"].numpy()
        assert not (new & ~mask).any()
        np.testing.assert_array_equal(new.sum(1) >= 1, mask.sum(1) >= 1)  # empty set stays empty


def test_dropout_rate():
    mask = np.ones((200, 100), bool)
    new = PointDropout(q=0.3)({"pos": np.zeros((200, 100, 6)), "mask": mask},
                              np.random.default_rng(0))["mask"]
    assert abs(1 - new.mean() - 0.3) < 0.01


def test_confidence_resample_drops_below_threshold_and_keeps_the_best():
    batch = make_batch()
    out = ConfidenceResample((0.75, 0.75))(batch, np.random.default_rng(0))
    score = batch["conf"].min(-1)
    expected = batch["mask"] & (score >= 0.75)
    emptied = batch["mask"].any(1) & ~expected.any(1)
    best = np.where(batch["mask"], score, -1).argmax(1)
    expected[emptied, best[emptied]] = True
    np.testing.assert_array_equal(out["mask"], expected)
    everything = ConfidenceResample((1.0, 1.0))(batch, np.random.default_rng(0))["mask"]
    np.testing.assert_array_equal(everything.sum(1), np.minimum(SIZES, 1))
    ones = dict(batch, conf=np.ones_like(batch["conf"]))  # graph default: no confidences
    np.testing.assert_array_equal(ConfidenceResample()(ones, np.random.default_rng(0))["mask"],
                                  batch["mask"])


# ----------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("name", POINT_NAMES)
def test_same_seed_same_output(name):
    aug, batch = build(name, p=1.0), make_batch()
    a, b = aug(batch, np.random.default_rng(7)), aug(batch, np.random.default_rng(7))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    t = to_torch(batch)
    c, d = aug(t, torch.Generator().manual_seed(7)), aug(t, torch.Generator().manual_seed(7))
    for k in c:
        assert torch.equal(c[k], d[k])


def test_different_seeds_differ():
    aug, batch = get_augmentation("rotate_z,jitter", length_unit_nm=UNIT_NM), make_batch()
    a, b = aug(batch, np.random.default_rng(1)), aug(batch, np.random.default_rng(2))
    assert not np.allclose(a["pos"][batch["mask"]], b["pos"][batch["mask"]])


@pytest.mark.parametrize("aug", [
    Rotate("x", theta=30.0), Rotate("y", theta=30.0, center="set"),
    Rotate("z", theta=(30.0, 30.0), center=(0.1, -0.2, 0.3)), Mirror("y", offset=0.25),
    Scale(0.2, anisotropic=True, center="set"), ConfidenceResample((0.6, 0.9)),
    Compose([Rotate("z", 20.0), Scale(0.1), Mirror("x", p=0.5)]),
], ids=repr)
def test_numpy_and_torch_agree_given_the_same_params(aug):
    batch = make_batch(dtype=np.float64)
    params = aug.sample(np.random.default_rng(5))
    a = aug(batch, np.random.default_rng(0), params)
    b = aug(to_torch(batch), torch.Generator().manual_seed(0), params)
    np.testing.assert_allclose(a["pos"], b["pos"].numpy(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(a["mask"], b["mask"].numpy())


def test_shared_params_give_the_same_map_to_every_chunk():
    aug = Compose([Rotate("z", 45.0), Scale(0.2)])
    params = aug.sample(torch.Generator().manual_seed(0))
    chunk = to_torch(make_batch(dtype=np.float64))
    first = aug(chunk, torch.Generator().manual_seed(1), params)
    second = aug(chunk, torch.Generator().manual_seed(2), params)
    assert torch.equal(first["pos"], second["pos"])


# ----------------------------------------------------------------------------- geometry


def test_rotation_is_right_handed_and_moves_pre_and_post_together():
    pos = np.array([[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]])
    rng = np.random.default_rng(0)
    out = Rotate("z", theta=(90.0, 90.0))({"pos": pos}, rng)["pos"]
    np.testing.assert_allclose(out, [[0, 1, 0, -1, 0, 0]], atol=1e-12)
    out = Rotate("x", theta=(90.0, 90.0))({"pos": pos}, rng)["pos"]  # y -> z
    np.testing.assert_allclose(out, [[1, 0, 0, 0, 0, 1]], atol=1e-12)
    out = Rotate("y", theta=(90.0, 90.0))({"pos": np.array([[0.0, 0, 1]])}, rng)["pos"]  # z -> x
    np.testing.assert_allclose(out, [[1, 0, 0]], atol=1e-12)


@pytest.mark.parametrize("per_set", [False, True])
@pytest.mark.parametrize("center", ["origin", "set"])
def test_rotation_preserves_distances_within_sets(center, per_set):
    batch = make_batch(dtype=np.float64)
    out = Rotate("y", theta=40.0, center=center, per_set=per_set)(batch, np.random.default_rng(0))
    for b in range(len(SIZES)):
        x, y = real_triples(batch["pos"], batch["mask"], b), real_triples(out["pos"], batch["mask"], b)
        dx = np.linalg.norm(x[:, None] - x[None], axis=-1)
        np.testing.assert_allclose(np.linalg.norm(y[:, None] - y[None], axis=-1), dx, atol=1e-12)
    moved = not np.allclose(out["pos"][batch["mask"]], batch["pos"][batch["mask"]])
    assert moved


@pytest.mark.parametrize("per_set, kept", [(False, True), (True, False)])
def test_one_global_map_keeps_geometry_between_sets(per_set, kept):
    batch = make_batch(dtype=np.float64)
    out = Rotate("z", theta=40.0, per_set=per_set)(batch, np.random.default_rng(0))
    a, b = real_triples(batch["pos"], batch["mask"], 0), real_triples(batch["pos"], batch["mask"], 1)
    c, d = real_triples(out["pos"], batch["mask"], 0), real_triples(out["pos"], batch["mask"], 1)
    between = np.linalg.norm(a[:, None] - b[None], axis=-1)
    assert np.allclose(np.linalg.norm(c[:, None] - d[None], axis=-1), between) == kept


def test_centroid_moves_with_its_set_and_set_centre_stays_put():
    batch = make_batch(dtype=np.float64)
    trip = batch["pos"].reshape(5, 7, 2, 3) * batch["mask"][..., None, None]
    cen3 = trip.sum((1, 2)) / np.maximum(batch["mask"].sum(1) * 2, 1)[:, None]
    batch["centroid"] = np.tile(cen3, 2)  # (B, 6): the same centre for pre and post
    out = Compose([Rotate("z", 30.0), Scale(0.2)])(batch, np.random.default_rng(0))
    new = out["pos"].reshape(5, 7, 2, 3) * batch["mask"][..., None, None]
    new_cen = new.sum((1, 2)) / np.maximum(batch["mask"].sum(1) * 2, 1)[:, None]
    full = np.array(SIZES) > 0
    np.testing.assert_allclose(out["centroid"][full, :3], new_cen[full], atol=1e-12)
    local = Rotate("x", 60.0, center="set")(batch, np.random.default_rng(0))
    np.testing.assert_allclose(local["centroid"], batch["centroid"], atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_mirror_twice_is_the_identity(backend):
    batch = make_batch()
    if backend == "numpy":
        once = Mirror("x")(batch, np.random.default_rng(0))
        assert np.array_equal(Mirror("x")(once, np.random.default_rng(0))["pos"], batch["pos"])
        flip = Mirror("y", offset=0.3, per_set=True)
        twice = flip(flip(batch, np.random.default_rng(4)), np.random.default_rng(4))
        np.testing.assert_allclose(twice["pos"], batch["pos"], atol=1e-6)
    else:
        t = to_torch(batch)
        once = Mirror("z")(t, None)
        assert torch.equal(Mirror("z")(once, None)["pos"], t["pos"])
    assert not np.allclose(np.asarray(once["pos"]), batch["pos"])


def test_mirror_reflects_across_the_plane():
    out = Mirror("x", offset=0.25)({"pos": np.array([[1.0, 2.0, 3.0, -1.0, 0.0, 0.0]])},
                                   np.random.default_rng(0))
    np.testing.assert_allclose(out["pos"], [[-0.5, 2.0, 3.0, 1.5, 0.0, 0.0]])


def test_scale_factors_in_range():
    pos = np.ones((1, 1, 3))
    for seed in range(30):
        out = Scale(0.05)({"pos": pos}, np.random.default_rng(seed))["pos"]
        assert 0.95 <= out[0, 0, 0] <= 1.05 and np.allclose(out, out[0, 0, 0])  # isotropic


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_jitter_sigma_matches_the_requested_nm(backend):
    pos = np.zeros((100, 200, 6), np.float64)
    mask = np.ones((100, 200), bool)
    jit = Jitter(sigma_nm=20.0, length_unit_nm=UNIT_NM)
    if backend == "numpy":
        out = jit({"pos": pos, "mask": mask}, np.random.default_rng(0))["pos"]
    else:
        out = jit(to_torch({"pos": pos, "mask": mask}), torch.Generator().manual_seed(0))
        out = out["pos"].numpy()
    disp_nm = out * UNIT_NM
    assert abs(disp_nm.std() - 20.0) < 0.2 and abs(disp_nm.mean()) < 0.2
    corr = np.corrcoef(disp_nm[..., 0].ravel(), disp_nm[..., 3].ravel())[0, 1]
    assert abs(corr) < 0.02  # pre and post are jittered independently
    vox = Jitter(sigma_voxels=2.5, voxel_nm=8.0, length_unit_nm=UNIT_NM)
    assert vox.sigma == pytest.approx(jit.sigma)


# ----------------------------------------------------------------------------- edges


def test_edge_dropout_keeps_about_one_minus_q_and_filters_edge_arrays():
    e = 20_000
    batch = {"edge_index": np.stack([np.arange(e), np.arange(e)[::-1]]),
             "edge_weight": np.arange(e, dtype=np.float32), "edge_roi": np.ones((e, 4))}
    out = EdgeDropout(q=0.3)(batch, np.random.default_rng(0))
    keep = out["edge_keep"]
    assert keep.shape == (e,) and abs(keep.mean() - 0.7) < 0.015
    np.testing.assert_array_equal(out["edge_index"], batch["edge_index"][:, keep])
    np.testing.assert_array_equal(out["edge_weight"], np.flatnonzero(keep))
    assert out["edge_roi"].shape == (int(keep.sum()), 4)
    again = EdgeDropout(q=0.3)(batch, np.random.default_rng(0))["edge_keep"]
    np.testing.assert_array_equal(again, keep)
    t = {k: torch.from_numpy(v) for k, v in batch.items()}
    tk = EdgeDropout(q=0.3)(t, torch.Generator().manual_seed(0))["edge_keep"]
    assert torch.equal(tk, EdgeDropout(q=0.3)(t, torch.Generator().manual_seed(0))["edge_keep"])
    assert EdgeDropout(q=0.3, p=0.0)(t, None)["edge_keep"].all()


# ----------------------------------------------------------------------------- p, registry, TTA


def test_probability_p():
    aug, pos = Mirror("x", p=0.5), np.ones((1, 3))
    flips = [aug({"pos": pos}, np.random.default_rng(s))["pos"][0, 0] < 0 for s in range(400)]
    assert 0.4 < np.mean(flips) < 0.6
    assert Mirror("x", p=0.0)({"pos": pos}, np.random.default_rng(0))["pos"][0, 0] == 1.0


def test_registry_builds_every_name_with_its_defaults():
    for name, entry in AUGMENTATIONS.items():
        aug = build(name).transforms[0]
        assert isinstance(aug, entry.cls)
    assert parse_augment_spec("none") == [] and get_augmentation("").transforms == []
    aug = get_augmentation("rotate:theta=10:per_set=true,mirror_x", length_unit_nm=UNIT_NM)
    rot, mir = aug.transforms
    assert rot.axis == "z" and rot.theta == (-10.0, 10.0) and rot.per_set and mir.p == 0.5


@pytest.mark.parametrize("spec, message", [
    ("rotate_w", "unknown augmentation 'rotate_w'"),
    ("rotate_z:angle=3", "unknown parameter(s) ['angle']"),
    ("rotate_z:theta", "must be key=value"),
    ("mirror_q", "allowed:"),
])
def test_registry_errors_name_the_problem(spec, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        get_augmentation(spec, length_unit_nm=UNIT_NM)


def test_physical_units_must_be_given():
    with pytest.raises(ValueError, match="length_unit_nm"):
        get_augmentation("jitter")
    with pytest.raises(ValueError, match="exactly one of sigma_nm"):
        Jitter(length_unit_nm=UNIT_NM)


def test_batch_errors():
    rot, batch = Rotate(), make_batch()
    with pytest.raises(TypeError, match="np.random.default_rng"):
        rot(batch)
    with pytest.raises(TypeError, match="torch.Generator"):
        rot(to_torch(batch), np.random.default_rng(0))
    with pytest.raises(ValueError, match="multiple of 3"):
        rot({"pos": np.zeros((3, 4))}, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"batch\['mask'\] must be bool of shape \(5, 7\)"):
        rot(dict(batch, mask=batch["mask"][:, :3]), np.random.default_rng(0))
    with pytest.raises(KeyError, match="conf"):
        ConfidenceResample()({"pos": batch["pos"]}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="axis must be one of"):
        Mirror("w")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_tta_views_are_deterministic_and_distinct(backend):
    batch = make_batch() if backend == "numpy" else to_torch(make_batch())
    aug = get_augmentation("rotate_z,jitter", length_unit_nm=UNIT_NM)
    first = [np.asarray(v["pos"]) for v in tta_views(batch, aug, k=4, seed=3)]
    second = [np.asarray(v["pos"]) for v in tta_views(batch, aug, k=4, seed=3)]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    np.testing.assert_array_equal(first[0], np.asarray(batch["pos"]))  # view 0: identity
    assert not np.allclose(first[1], first[2])
    assert len(tta_rngs(3, kind="numpy")) == 3


# ----------------------------------------------------------------------------- docs, device

MODULES = ["synhelpers.augment", "synhelpers.augment.core", "synhelpers.augment.spatial",
           "synhelpers.augment.points", "synhelpers.augment.registry"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", TORCH_DTYPES)
def test_cuda_matches_cpu_with_a_cpu_generator(dtype):
    aug = get_augmentation("rotate_z,mirror_x,scale_aniso,jitter,dropout,conf_resample",
                           length_unit_nm=UNIT_NM)
    batch = make_batch()
    cpu = aug(to_torch(batch, dtype), torch.Generator().manual_seed(0))
    gpu = aug(to_torch(batch, dtype, "cuda"), torch.Generator().manual_seed(0))
    assert gpu["pos"].device.type == "cuda" and gpu["pos"].dtype == dtype
    assert torch.equal(gpu["mask"].cpu(), cpu["mask"])
    tol = 1e-5 if dtype in (torch.float32, torch.float64) else 1e-2
    torch.testing.assert_close(gpu["pos"].cpu(), cpu["pos"], atol=tol, rtol=tol)
    pad = ~gpu["mask"].new_tensor(batch["mask"])
    assert torch.equal(gpu["pos"][pad].cpu(), to_torch(batch, dtype)["pos"][pad.cpu()])
    fast = aug(to_torch(batch, dtype, "cuda"), torch.Generator("cuda").manual_seed(0))
    assert fast["pos"].device.type == "cuda"

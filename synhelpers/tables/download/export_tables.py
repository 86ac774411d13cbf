"""Convert verified export files into the neurons / connections / synapses tables.

Every read goes through :func:`synhelpers.tables.download.verify.reading`, so a file that
cannot be parsed gives a one-line :class:`~.errors.ExportIntegrityError` naming it, never a
raw tarfile, pyarrow or pandas traceback. Tar members are read by name with their size caps
(:func:`~.verify.read_tar_members`); nothing is extracted to disk.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.feather as feather

from .errors import DownloadError
from .manifest import ExportSet, TarMember
from .verify import read_tar_members, reading

__all__ = ["hemibrain_tables", "hemibrain_synapses", "manc_tables", "with_not_primary"]

HB_POINTS = "hemibrain-v1.2-synapse-points-with-body-roi-type-status.feather"
HB_PARTNERS = "hemibrain-v1.2-synapse-partners.feather"
HB_MEMBERS = ("traced-neurons.csv", "traced-total-connections.csv", "traced-roi-connections.csv")
MANC_DIR = "manc-traced-adjacencies-v1.0/"
MANC_PROPERTIES = "manc-v1.0-neuron-properties.feather"

SYNAPSE_COLUMNS = ["bodyId_pre", "bodyId_post", "roi_pre", "roi_post", "x_pre", "y_pre", "z_pre",
                   "x_post", "y_post", "z_post", "confidence_pre", "confidence_post"]


def _pick(df: pd.DataFrame, label: str, *names: str) -> str:
    for n in names:
        if n in df.columns:
            return n
    raise DownloadError(f"{label} lacks all of the columns {list(names)} (has {list(df.columns)[:12]})")


def _read_feather(path: Path) -> pd.DataFrame:
    with reading(path, path.name, "feather"):
        return feather.read_table(str(path)).to_pandas()


def _read_csv(source: Path | bytes, label: str) -> pd.DataFrame:
    data = io.BytesIO(source) if isinstance(source, bytes) else source
    with reading(source if isinstance(source, Path) else None, label, "CSV"):
        return pd.read_csv(data)


def with_not_primary(roi: pd.DataFrame, total: pd.DataFrame) -> pd.DataFrame:
    """Add ``NotPrimary`` rows so per-ROI weights sum to each pair's total weight.

    Example:
        >>> roi = pd.DataFrame({"bodyId_pre": [1], "bodyId_post": [2], "roi": ["A"], "weight": [2]})
        >>> tot = pd.DataFrame({"bodyId_pre": [1], "bodyId_post": [2], "weight": [5]})
        >>> with_not_primary(roi, tot)[["roi", "weight"]].values.tolist()
        [['A', 2], ['NotPrimary', 3]]
    """
    s = roi.groupby(["bodyId_pre", "bodyId_post"], as_index=False)["weight"].sum()
    m = total.merge(s, on=["bodyId_pre", "bodyId_post"], how="left", suffixes=("", "_roi"))
    m = m.fillna({"weight_roi": 0})
    m["weight"] = (m["weight"] - m["weight_roi"]).astype(np.int64)
    rest = m["weight"] > 0
    extra = m.loc[rest, ["bodyId_pre", "bodyId_post"]].assign(roi="NotPrimary", weight=m.loc[rest, "weight"])
    out = pd.concat([roi[["bodyId_pre", "bodyId_post", "roi", "weight"]], extra], ignore_index=True)
    return out.astype({"bodyId_pre": "int64", "bodyId_post": "int64", "weight": "int64"})


def hemibrain_tables(files: dict[str, Path], es: ExportSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(neurons, per-ROI connections)`` from the hemibrain adjacency tarball."""
    spec = es.adjacency[0]
    listed = {m.name for m in spec.members}
    wanted = spec.members + tuple(TarMember(n) for n in HB_MEMBERS if n not in listed)
    members = read_tar_members(files[spec.name], wanted, label=spec.name)
    tables = {name: _read_csv(data, f"{spec.name} member {name}") for name, data in members.items()}
    neurons = tables["traced-neurons.csv"]
    neurons["status"] = "Traced"
    conn = with_not_primary(tables["traced-roi-connections.csv"], tables["traced-total-connections.csv"])
    return neurons, conn


def _point_rows(partners: pd.DataFrame, col: str, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(row in the sorted points, found)`` for each partner's point id in column ``col``."""
    v = partners[col].to_numpy(np.int64)
    pos = np.searchsorted(ids, v).clip(0, max(len(ids) - 1, 0))
    found = (ids[pos] == v) if len(ids) else np.zeros(len(v), bool)
    return pos, found


def hemibrain_synapses(files: dict[str, Path], bodies: np.ndarray) -> pd.DataFrame:
    """Join partners to points; keep pairs whose both bodies are in ``bodies``.

    Returns:
        One row per synapse pair with :data:`SYNAPSE_COLUMNS` (coordinates in voxels).
    """
    pts = _read_feather(files[HB_POINTS])
    body = _pick(pts, HB_POINTS, "body", "bodyId")
    pid = _pick(pts, HB_POINTS, "point_id", "id", "index")
    conf = _pick(pts, HB_POINTS, "conf", "confidence")
    pts = pts[pts[body].isin(bodies)].sort_values(pid)
    ids = pts[pid].to_numpy(np.int64)
    partners = _read_feather(files[HB_PARTNERS])
    pre_c = _pick(partners, HB_PARTNERS, "pre_id", "pre")
    post_c = _pick(partners, HB_PARTNERS, "post_id", "post")
    side_rows = {"pre": _point_rows(partners, pre_c, ids), "post": _point_rows(partners, post_c, ids)}
    keep = side_rows["pre"][1] & side_rows["post"][1]
    res = {}
    for side, (pos, _found) in side_rows.items():
        rows = pts.iloc[pos[keep]]
        res[f"bodyId_{side}"] = rows[body].to_numpy(np.int64)
        res[f"roi_{side}"] = rows["roi"].astype(object).where(rows["roi"].notna(), None).to_numpy() \
            if "roi" in rows.columns else None
        for a in "xyz":
            res[f"{a}_{side}"] = rows[a].to_numpy(np.int32)
        res[f"confidence_{side}"] = rows[conf].to_numpy(np.float32)
    return pd.DataFrame({c: res[c] for c in SYNAPSE_COLUMNS})


def manc_tables(files: dict[str, Path], es: ExportSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(neurons with the v1.0 properties, per-ROI connections)`` from the MANC exports."""
    def csv(name: str) -> pd.DataFrame:
        return _read_csv(files[MANC_DIR + name], MANC_DIR + name)

    neurons = csv("traced-neurons.csv")
    neurons["status"] = "Traced"
    props = _read_feather(files[MANC_PROPERTIES])
    props = props.rename(columns={_pick(props, MANC_PROPERTIES, "bodyId", "body"): "bodyId"})
    extra = ["bodyId"] + [c for c in props.columns if c not in neurons.columns]
    neurons = neurons.merge(props[extra].drop_duplicates("bodyId"), on="bodyId", how="left")
    return neurons, with_not_primary(csv("traced-connections-per-roi.csv"), csv("traced-connections.csv"))

"""The data contract: every bad input gets its own clear error naming file, column and rows."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from synhelpers import TableError, WeightMismatchWarning, from_frames, load_tables, write_tables
from synhelpers.tables import validate_tables


def _good():
    neurons = pd.DataFrame({"bodyId": np.array([10, 20, 30], np.int64), "cell_class": ["A", "B", None]})
    connections = pd.DataFrame({
        "bodyId_pre": np.array([10, 20, 10], np.int64),
        "bodyId_post": np.array([20, 30, 20], np.int64),
        "roi": ["AL(R)", "LH(R)", "MB(R)"],
        "weight": np.array([1, 2, 1], np.int64),
    })
    synapses = pd.DataFrame({
        "bodyId_pre": np.array([10, 10, 20, 20], np.int64),
        "bodyId_post": np.array([20, 20, 30, 30], np.int64),
        **{c: np.arange(4, dtype=np.int32) + i for i, c in
           enumerate(["x_pre", "y_pre", "z_pre", "x_post", "y_post", "z_post"])},
    })
    return neurons, connections, synapses


def test_good_tables_pass_without_warning():
    n, c, s = _good()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        con = from_frames(n, c, s, name="toy")
    assert con.has_synapses and "toy" in repr(con)


def test_missing_column_names_table_and_column():
    n, c, s = _good()
    with pytest.raises(TableError, match=r"<connections frame>, column 'weight': missing required column"):
        from_frames(n, c.drop(columns="weight"), s)


def test_wrong_dtype_names_column_and_rows():
    n, c, s = _good()
    c["bodyId_post"] = c["bodyId_post"].astype(str).where(c.index != 1, "thirty")
    with pytest.raises(TableError) as e:
        from_frames(n, c, s)
    assert e.value.column == "bodyId_post" and "expected an integer dtype" in str(e.value)
    assert e.value.rows == [1] and "row 1" in str(e.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_coordinates(bad):
    n, c, s = _good()
    s["y_post"] = s["y_post"].astype(float)
    s.loc[2, "y_post"] = bad
    with pytest.raises(TableError, match="NaN or infinite coordinates") as e:
        from_frames(n, c, s)
    assert e.value.column == "y_post" and e.value.rows == [2]


def test_duplicate_body_ids():
    n, c, s = _good()
    n = pd.concat([n, n.iloc[[1]]], ignore_index=True)
    with pytest.raises(TableError, match="duplicated bodyId") as e:
        from_frames(n, c, s)
    assert e.value.rows == [1, 3]


def test_connection_to_unknown_body():
    n, c, s = _good()
    c.loc[2, "bodyId_post"] = 999
    with pytest.raises(TableError, match="absent from the neurons table") as e:
        from_frames(n, c)
    assert e.value.column == "bodyId_post" and e.value.rows == [2] and "999" in str(e.value)


def test_synapse_of_unknown_body():
    n, c, s = _good()
    s.loc[3, "bodyId_pre"] = 12345
    with pytest.raises(TableError, match=r"<synapses frame>, column 'bodyId_pre'.*absent") as e:
        from_frames(n, c, s)
    assert e.value.rows == [3]


@pytest.mark.parametrize("w", [0, -3])
def test_zero_or_negative_weight(w):
    n, c, s = _good()
    c.loc[1, "weight"] = w
    with pytest.raises(TableError, match="zero or negative weights") as e:
        from_frames(n, c, s)
    assert e.value.rows == [1]


def test_weight_synapse_mismatch_is_a_warning_with_count():
    n, c, s = _good()
    c.loc[1, "weight"] = 5  # pair 20->30 has 2 synapse rows
    with pytest.warns(WeightMismatchWarning, match=r"1 of 2 connected pairs .*20->30: weight 5 vs 2"):
        con = from_frames(n, c, s)
    assert con is not None


@pytest.mark.parametrize("table", ["neurons", "connections", "synapses"])
def test_empty_table(table):
    frames = dict(zip(["neurons", "connections", "synapses"], _good()))
    frames[table] = frames[table].iloc[:0]
    with pytest.raises(TableError, match=f"the {table} table is empty"):
        validate_tables(**frames)


def test_load_tables_names_the_file(tmp_path):
    n, c, s = _good()
    write_tables(from_frames(n, c, s), tmp_path)
    bad = n.copy()
    bad.loc[2, "bodyId"] = 10
    bad.to_parquet(tmp_path / "neurons.parquet")
    with pytest.raises(TableError) as e:
        load_tables(tmp_path)
    assert str(tmp_path / "neurons.parquet") in str(e.value) and "'bodyId'" in str(e.value)


def test_load_tables_roundtrip_and_missing_files(tmp_path):
    n, c, s = _good()
    write_tables(from_frames(n, c, s), tmp_path)
    con = load_tables(tmp_path)
    pd.testing.assert_frame_equal(con.synapses, s)
    assert load_tables(tmp_path, synapses=False).synapses is None
    (tmp_path / "synapses.parquet").unlink()
    assert load_tables(tmp_path).synapses is None  # synapses are optional
    (tmp_path / "connections.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="connections"):
        load_tables(tmp_path)


def test_corrupt_parquet_is_a_table_error(tmp_path):
    n, c, s = _good()
    write_tables(from_frames(n, c, s), tmp_path)
    (tmp_path / "connections.parquet").write_bytes(b"not parquet")
    with pytest.raises(TableError, match="connections.parquet: cannot be read as Parquet"):
        load_tables(tmp_path)


def test_real_hemibrain_annotation_table_is_a_valid_neurons_table(hemibrain_meta_path):
    """The public hemibrain table (../shared) enters through the same path as any user table."""
    meta = pd.read_csv(hemibrain_meta_path)
    ids = meta["bodyId"].to_numpy()
    conns = pd.DataFrame({"bodyId_pre": ids[:-1], "bodyId_post": ids[1:], "weight": np.ones(len(ids) - 1, np.int64)})
    con = from_frames(meta, conns, name="hemibrain annotations")
    assert len(con.neurons) > 20_000 and con.neurons["cell_class"].notna().sum() > 5_000

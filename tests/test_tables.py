"""The data contract: every bad input gets its own clear error naming file, column and rows."""

from __future__ import annotations

import doctest
import importlib
import warnings

import numpy as np
import pandas as pd
import pytest

from synhelpers import TableError, WeightMismatchWarning, from_frames, load_tables, write_tables
from synhelpers.tables import validate_tables
from synhelpers.tables.contract import LABEL_COLUMNS, check_label_column, label_columns


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


# --------------------------------------------------------------------------- numbers that are numbers


@pytest.mark.parametrize("table, col, values, match, row", [
    # uint64 ids >= 2**63 would wrap to negative numbers
    ("neurons", "bodyId", np.array([10, 2**63 + 7, 30], np.uint64), r">= 2\*\*63.*wrap", 1),
    ("synapses", "bodyId_post", pd.Series([20, 20, 2**64 + 30, 30], dtype=object),
     "not integers within int64", 2),
    # a FlyWire-sized root id in a float column has already lost its last digits
    ("neurons", "bodyId", np.array([10, 720575940621234567, 30], np.float64),
     r"float64 holds integers exactly only up to 2\*\*53", 1),
    ("synapses", "x_pre", np.array([0, 1, 2, -1e300]), r"beyond \+-1e\+12", 3),
    # NaN confidence means unknown and is allowed; 1.5 is not a confidence
    ("synapses", "confidence_post", np.array([0.9, np.nan, 1.5, 0.2]), r"outside \[0, 1\]", 2),
])
def test_numbers_that_are_not_numbers(table, col, values, match, row):
    frames = dict(zip(["neurons", "connections", "synapses"], _good()))
    frames[table][col] = values
    with pytest.raises(TableError, match=match) as e:
        from_frames(**frames)
    assert str(e.value).startswith(f"<{table} frame>, column '{col}'") and e.value.rows == [row]
    assert f"row {row}:" in str(e.value)


def test_uint64_ids_within_int64_are_accepted():
    n, c, s = _good()
    c["bodyId_post"] = c["bodyId_post"].astype(np.uint64)
    assert from_frames(n, c, s).connections is c


def test_uint64_beyond_int64_in_a_parquet_file_names_the_file(tmp_path):
    n, c, s = _good()
    write_tables(from_frames(n, c, s), tmp_path)
    c["bodyId_pre"] = np.array([10, 20, 2**64 - 1], np.uint64)
    c.to_parquet(tmp_path / "connections.parquet")
    with pytest.raises(TableError) as e:
        load_tables(tmp_path)
    assert str(e.value).startswith(f"{tmp_path / 'connections.parquet'}, column 'bodyId_pre'")
    assert e.value.rows == [2]


def test_duplicated_column_names():
    n, c, s = _good()
    c = pd.concat([c, c[["weight"]]], axis=1)
    with pytest.raises(TableError, match=r"<connections frame>, column 'weight': has duplicated column"):
        from_frames(n, c)


# --------------------------------------------------------------------------- sites


def _sites():
    return pd.DataFrame({
        "bodyId": np.array([10, 10, 20, 30], np.int64),
        "kind": ["pre", "post", "post", "pre"],
        "x": np.array([1, 2, 3, 4], np.int32), "y": [5.0, 6, 7, 8], "z": np.zeros(4, np.int32),
        "roi": ["AL(R)", None, "LH(R)", "LH(R)"],
        "confidence": np.array([0.9, 1.0, 0.5, np.nan], np.float32),
    })


def test_sites_pass_and_neuprint_type_column_is_renamed_kind():
    n, c, s = _good()
    con = from_frames(n, c, sites=_sites().rename(columns={"kind": "type"}))
    assert con.has_sites and not con.has_gap_junctions
    assert con.sites["kind"].tolist() == ["pre", "post", "post", "pre"] and "type" not in con.sites
    assert "sites=4" in repr(con) and "gap_junctions=none" in repr(con)


def test_sites_missing_kind_mentions_the_alias():
    n, c, s = _good()
    with pytest.raises(TableError, match=r"<sites frame>, column 'kind': missing .*'type' is accepted"):
        from_frames(n, c, sites=_sites().drop(columns="kind"))


def test_sites_bad_kind_names_rows_and_allowed_values():
    n, c, s = _good()
    sites = _sites()
    sites["kind"] = ["pre", "PRE", "post", None]
    with pytest.raises(TableError, match=r"other than the allowed \['pre', 'post'\]") as e:
        from_frames(n, c, sites=sites)
    assert e.value.column == "kind" and e.value.rows == [1, 3] and "kind='PRE'" in str(e.value)


def _set(df, row, col, value):
    df = df.copy()
    if isinstance(value, str | float) and not pd.api.types.is_float_dtype(df[col].dtype):
        df[col] = df[col].astype(object if isinstance(value, str) else float)
    df.loc[row, col] = value
    return df


@pytest.mark.parametrize("row, col, value, match", [
    (2, "bodyId", 77, "references 1 bodyId"),
    (1, "y", np.nan, "NaN or infinite coordinates"),
    (1, "x", -np.inf, "NaN or infinite coordinates"),
    (1, "z", 1e300, r"beyond \+-1e\+12"),
    (0, "confidence", -0.1, r"outside \[0, 1\]"),
    (0, "confidence", 1.01, r"outside \[0, 1\]"),
    (0, "confidence", np.inf, r"outside \[0, 1\]"),
    (2, "z", "zero", "expected a numeric dtype"),
])
def test_sites_bad_values_name_file_column_and_row(row, col, value, match):
    n, c, s = _good()
    with pytest.raises(TableError, match=match) as e:
        from_frames(n, c, sites=_set(_sites(), row, col, value))
    assert str(e.value).startswith(f"<sites frame>, column '{col}'") and e.value.rows == [row]


# --------------------------------------------------------------------------- gap junctions


def _gaps():
    return pd.DataFrame({"bodyId_a": np.array([10, 20], np.int64),
                         "bodyId_b": np.array([30, 30], np.int64), "weight": np.array([3, 1])})


def test_gap_junctions_pass():
    n, c, s = _good()
    con = from_frames(n, c, gap_junctions=_gaps())
    assert con.has_gap_junctions and "gap_junctions=2" in repr(con)


@pytest.mark.parametrize("row, col, value, match", [
    (0, "weight", 0, "zero or negative weights"),
    (0, "weight", -1, "zero or negative weights"),
    (1, "bodyId_a", 5, "references 1 bodyId"),
])
def test_gap_junction_bad_values(row, col, value, match):
    n, c, s = _good()
    with pytest.raises(TableError, match=match) as e:
        from_frames(n, c, gap_junctions=_set(_gaps(), row, col, value))
    assert str(e.value).startswith("<gap_junctions frame>, column") and e.value.rows == [row]
    assert e.value.column == col


def test_gap_junction_self_pair_is_refused_by_the_strict_check():
    """validate_tables changes nothing, so it still refuses a self-pair (from_frames and
    load_tables drop them with a notice: tests/test_normalise.py)."""
    n, c, s = _good()
    with pytest.raises(TableError, match="has self-pairs") as e:
        validate_tables(n, c, gap_junctions=_set(_gaps(), 1, "bodyId_a", 30))
    assert e.value.rows == [1] and e.value.column == "bodyId_b"


def test_gap_junction_pair_listed_both_ways_is_an_error():
    n, c, s = _good()
    g = pd.concat([_gaps(), pd.DataFrame({"bodyId_a": [30], "bodyId_b": [10], "weight": [3]})],
                  ignore_index=True)
    with pytest.raises(TableError, match=r"1 unordered pair\(s\) more than once.*bodyId_a < bodyId_b") as e:
        from_frames(n, c, gap_junctions=g)
    assert e.value.rows == [0, 2]


def test_sites_and_gap_junctions_round_trip(tmp_path):
    n, c, s = _good()
    con = from_frames(n, c, s, sites=_sites(), gap_junctions=_gaps(), name="toy", voxel_nm=4.0)
    written = write_tables(con, tmp_path)
    assert sorted(written) == ["connections", "gap_junctions", "neurons", "sites", "synapses"]
    back = load_tables(tmp_path)
    pd.testing.assert_frame_equal(back.sites, con.sites)
    pd.testing.assert_frame_equal(back.gap_junctions, con.gap_junctions)
    pd.testing.assert_frame_equal(back.neurons, n)
    assert back.name == "toy" and back.meta["voxel_nm"] == 4.0 and back.neurons.attrs == {}
    skipped = load_tables(tmp_path, sites=False, gap_junctions=False)
    assert skipped.sites is None and skipped.gap_junctions is None


def test_corrupt_sites_file_is_a_table_error(tmp_path):
    n, c, s = _good()
    write_tables(from_frames(n, c, sites=_sites()), tmp_path)
    data = (tmp_path / "sites.parquet").read_bytes()
    (tmp_path / "sites.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(TableError, match="sites.parquet: cannot be read as Parquet"):
        load_tables(tmp_path)


# --------------------------------------------------------------------------- voxel size


def test_voxel_nm_default_argument_and_meta():
    n, c, s = _good()
    assert from_frames(n, c).meta["voxel_nm"] == 8.0
    assert from_frames(n, c, voxel_nm=1).meta["voxel_nm"] == 1.0
    con = from_frames(n, c, meta={"voxel_nm": 4})
    assert con.meta["voxel_nm"] == 4.0 and con.voxel_nm == 4.0
    with pytest.raises(TableError, match=r"voxel_nm = 8 disagrees with voxel_nm = 4 from <voxel_nm arg"):
        from_frames(n, c, meta={"voxel_nm": 8}, voxel_nm=4)


@pytest.mark.parametrize("bad", [0, -8.0, np.nan, np.inf, "8", True])
def test_voxel_nm_must_be_finite_positive(bad):
    n, c, s = _good()
    with pytest.raises(TableError, match=r"<voxel_nm argument>: voxel_nm must be a finite positive"):
        from_frames(n, c, voxel_nm=bad)
    with pytest.raises(TableError, match=r"<meta\['voxel_nm'\]>: voxel_nm must be a finite positive"):
        from_frames(n, c, meta={"voxel_nm": bad})


@pytest.mark.parametrize("meta_file", ["synthetic.json", "manifest.json"])
def test_voxel_nm_from_the_folder_json(tmp_path, meta_file):
    n, c, s = _good()
    write_tables(from_frames(n, c, s), tmp_path)  # stores voxel_nm 8 in neurons.parquet
    (tmp_path / "neurons.parquet").unlink()
    n.to_parquet(tmp_path / "neurons.parquet")  # a plain file: no stored voxel_nm
    (tmp_path / meta_file).write_text('{"name": "worm", "voxel_nm": 2.5}')
    con = load_tables(tmp_path)
    assert con.meta["voxel_nm"] == 2.5 and con.name == "worm"
    assert load_tables(tmp_path, voxel_nm=2.5).voxel_nm == 2.5
    with pytest.raises(TableError, match=f"{meta_file}: voxel_nm = 2.5 disagrees"):
        load_tables(tmp_path, voxel_nm=8)
    (tmp_path / meta_file).write_text('{"voxel_nm": -3}')
    with pytest.raises(TableError, match=f"{meta_file}: voxel_nm must be a finite positive"):
        load_tables(tmp_path)
    (tmp_path / meta_file).write_text('{"voxel_nm": 8,')
    with pytest.raises(TableError, match=f"{meta_file}: cannot be read as JSON"):
        load_tables(tmp_path)
    write_tables(from_frames(n, c, voxel_nm=4), tmp_path)  # stored 4 vs the folder's 8
    (tmp_path / meta_file).write_text('{"voxel_nm": 8}')
    with pytest.raises(TableError, match=r"neurons.parquet: voxel_nm = 4 disagrees with voxel_nm = 8"):
        load_tables(tmp_path)


# --------------------------------------------------------------------------- label columns


def test_label_columns_in_documented_order_and_skip_empty_ones():
    n = pd.DataFrame({"bodyId": [1, 2], "predictedNt": ["ACh", None], "type": ["KC", "PN"],
                      "cell_class": ["", None], "class": [None, "sensory"], "notes": ["a", "b"]})
    assert label_columns(n) == ["class", "type", "predictedNt"]
    assert LABEL_COLUMNS.index("class") < LABEL_COLUMNS.index("type") < LABEL_COLUMNS.index("predictedNt")


def test_check_label_column():
    n = pd.DataFrame({"bodyId": [1, 2], "type": ["KC", None], "cell_class": [None, "  "]})
    check_label_column(n, "type", "x/neurons.parquet")  # one labelled neuron is enough
    with pytest.raises(TableError, match=r"x/neurons.parquet, column 'nt': .*columns are \['bodyId', "
                                         r"'type', 'cell_class'\].*among them: \['type'\]"):
        check_label_column(n, "nt", "x/neurons.parquet")
    with pytest.raises(TableError, match="labels no neuron: all 2 values are missing or blank"):
        check_label_column(n, "cell_class")


@pytest.mark.parametrize("module", ["synhelpers.tables.checks", "synhelpers.tables.labels",
                                    "synhelpers.tables.normalise"])
def test_docstring_examples_of_the_contract_helpers(module):
    """(tests/test_doctests.py covers synhelpers.tables.contract; these are its helper modules.)"""
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

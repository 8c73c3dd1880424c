"""Reading data files for `densegrad train` / `predict`: CSV edge cases (missing values, text in a
numeric column, empty file, one row, ...) each with a message naming the row and column, .npz
archives, and the shipped demo data set."""

from __future__ import annotations

import numpy as np
import pytest

from densegrad import data
from densegrad.data import DataError


def _csv(tmp_path, text, name="d.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def test_reads_numbers_and_picks_columns(tmp_path):
    p = _csv(tmp_path, "a,b,name,y\n1,2.5,x,3\n-4e2, 5 ,\"q,uoted\",6\n\n7,8,z,9\n")
    names, v = data.read_csv(p, ["a", "b", "y"])
    assert names == ["a", "b", "y"]
    assert v.dtype == np.float64 and v.tolist() == [[1, 2.5, 3], [-400, 5, 6], [7, 8, 9]]
    ds = data.read_xy(p, "y", "a,b")  # the text column is never parsed
    assert ds.features == ["a", "b"] and ds.target == ["y"]
    assert ds.x.tolist() == [[1, 2.5], [-400, 5], [7, 8]] and ds.y.tolist() == [[3], [6], [9]]


def test_default_features_are_the_other_columns_and_multi_target(tmp_path):
    p = _csv(tmp_path, "x1,t1,x2,t2\n1,2,3,4\n5,6,7,8\n")
    ds = data.read_xy(p, ["t2", "t1"])
    assert ds.features == ["x1", "x2"] and ds.target == ["t2", "t1"]
    assert ds.x.tolist() == [[1, 3], [5, 7]] and ds.y.tolist() == [[4, 2], [8, 6]]


def test_byte_order_mark_and_spaces_in_the_header(tmp_path):
    p = _csv(tmp_path, "\ufeff a , y \n1,2\n", encoding="utf-8")
    assert data.read_csv(p) == (["a", "y"], pytest.approx(np.array([[1.0, 2.0]])))
    ds = data.read_xy(p, "y")
    assert ds.features == ["a"]


def test_one_row(tmp_path):
    ds = data.read_xy(_csv(tmp_path, "a,b,y\n1,2,3\n"), "y")
    assert ds.x.shape == (1, 2) and ds.y.shape == (1, 1)


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        ("a,y\n", "no data rows after the header"),
        ("a,y\n\n\n", "no data rows after the header"),
        ("a,y\n1,2\n3,\n", "row 3, column 'y': missing value"),
        ("a,y\n1,2\n3,  \n", "row 3, column 'y': missing value"),
        ("a,y\n1,2\n3,4\nabc,5\n", "row 4, column 'a': 'abc' is not a number"),
        ("a,y\n1,2\n3,NA\n", "row 3, column 'y': 'NA' is not a number"),
        ("a,y\n1,2\nnan,4\n", "row 3, column 'a': 'nan' is not a finite number"),
        ("a,y\n1,2\n3,-inf\n", "row 3, column 'y': '-inf' is not a finite number"),
        ("a,y\n1,2\n\n3,4,5\n", "row 4 has 3 fields, the header has 2"),
        ("a,y\n1\n", "row 2 has 1 fields, the header has 2"),
        ("a,a,y\n1,2,3\n", "column name 'a' appears twice"),
        ("a,,y\n1,2,3\n", "column 2 of the header has no name"),
        ("a,b\n1,2\n", "no column 'y'; the header has a, b"),
        ("y\n1\n", "no feature columns besides the target y"),
    ],
)
def test_bad_csv_names_the_row_and_column(tmp_path, text, message):
    p = _csv(tmp_path, text)
    with pytest.raises(DataError, match=message) as e:
        data.read_xy(p, "y")
    assert str(e.value).startswith(f"{p}: ")


def test_row_numbers_count_the_header_and_blank_lines(tmp_path):
    # as an editor or a spreadsheet numbers them: header row 1, the blank line is row 3
    p = _csv(tmp_path, "a,y\n1,2\n\nx,4\n")
    with pytest.raises(DataError, match="row 4, column 'a'"):
        data.read_csv(p)


def test_not_utf8_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="not a UTF-8 text file"):
        data.read_csv(_csv(tmp_path, "a,y\n1,2\n", encoding="utf-16"))
    with pytest.raises(DataError, match="cannot read"):
        data.read_csv(tmp_path / "nope.csv")


def test_target_and_feature_cannot_overlap(tmp_path):
    with pytest.raises(DataError, match="cannot be both a feature and a target"):
        data.read_xy(_csv(tmp_path, "a,y\n1,2\n"), "y", "a,y")
    with pytest.raises(DataError, match="name the target column"):
        data.read_xy(_csv(tmp_path, "a,y\n1,2\n"))


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_duplicate_or_empty_column_lists_are_refused(tmp_path, suffix):
    # a column named twice gave a model with a repeated input or output; no features, a
    # traceback from the architecture check ('in_features, got 0')
    if suffix == ".csv":
        p = _csv(tmp_path, "x0,x1,y\n1,2,3\n")
    else:
        p = tmp_path / "d.npz"
        np.savez(p, X=np.ones((2, 2)), y=np.ones(2))
    with pytest.raises(DataError, match="'y' appears twice in the target"):
        data.read_xy(p, "y,y")
    with pytest.raises(DataError, match="'x1' appears twice in the features"):
        data.read_xy(p, "y", "x1,x0,x1")
    with pytest.raises(DataError, match="the list of features is empty"):
        data.read_xy(p, "y", "")
    with pytest.raises(DataError, match="the list of features is empty"):
        data.read_xy(p, "y", [])
    assert data.read_xy(p, "y", "x1").features == ["x1"]  # the control


def test_npz(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, X=np.arange(6, dtype=np.int64).reshape(3, 2), y=np.array([1.0, 2.0, 3.0], np.float32))
    ds = data.read_xy(p)
    assert ds.features == ["x0", "x1"] and ds.target == ["y"]
    assert ds.x.dtype == np.float64 and ds.x.tolist() == [[0, 1], [2, 3], [4, 5]] and ds.y.tolist() == [[1], [2], [3]]
    assert data.read_xy(p, "y", ["x1"]).x.tolist() == [[1], [3], [5]]
    assert data.read_features(p, None, 2).tolist() == ds.x.tolist()


@pytest.mark.parametrize(
    "arrays,message",
    [
        ({"X": np.ones((3, 2))}, "no array 'y'"),
        ({"X": np.ones((3, 2)), "y": np.ones(2)}, "X has 3 rows but y has 2"),
        ({"X": np.array([[1.0, np.nan]]), "y": np.ones(1)}, r"X\[0, 1\] is nan, not a finite number"),
        ({"X": np.array([["a", "b"]]), "y": np.ones(1)}, "dtype <U1, expected numbers"),
        ({"X": np.ones((2, 2, 2)), "y": np.ones(2)}, "must be 2-D"),
        ({"X": np.ones((0, 2)), "y": np.ones(0)}, "has no rows"),
        ({"X": np.array([{"a": 1}], dtype=object), "y": np.ones(1)}, "pickle"),
    ],
)
def test_bad_npz(tmp_path, arrays, message):
    p = tmp_path / "d.npz"
    np.savez(p, **arrays)
    with pytest.raises(DataError, match=message):
        data.read_xy(p)


def test_npz_with_a_1d_x(tmp_path):
    # a 1-D X is one feature column (as a 1-D y is one target): for training, and for a model
    # that takes one feature; for any other model it is not a table of rows
    p = tmp_path / "d.npz"
    np.savez(p, X=np.arange(5.0), y=np.arange(5.0))
    ds = data.read_xy(p)
    assert ds.x.shape == (5, 1) and ds.features == ["x0"]
    assert data.read_features(p, None, 1).tolist() == [[0], [1], [2], [3], [4]]
    with pytest.raises(DataError, match=r"array 'X' must be 2-D \(rows, columns\), got shape \(5,\)"):
        data.read_features(p, None, 2)  # said '1 feature columns, the model takes 2'


def test_not_an_npz(tmp_path):
    p = tmp_path / "d.npz"
    p.write_bytes(b"hello")
    with pytest.raises(DataError, match="not an .npz archive \\(a zip file"):  # not NumPy's "pickled data"
        data.read_xy(p)
    p.write_bytes(b"PK\x03\x04 and then nothing")
    with pytest.raises(DataError, match="not a readable .npz"):
        data.read_xy(p)
    np.save(tmp_path / "one.npy", np.ones((3, 2)))
    (tmp_path / "one.npy").rename(p)  # one array named .npz: np.load returns the array
    for read in (lambda: data.read_xy(p), lambda: data.read_features(p, None, 2)):
        with pytest.raises(DataError, match="a single .npy array, not an .npz archive"):
            read()
    with pytest.raises(DataError, match="cannot read"):
        data.read_xy(tmp_path / "missing.npz")
    for save in (np.savez, np.savez_compressed):  # a damaged member inside a sound zip
        save(p, X=np.arange(600.0).reshape(200, 3), y=np.ones(200))
        raw = bytearray(p.read_bytes())
        raw[700] ^= 0xFF
        p.write_bytes(bytes(raw))
        with pytest.raises(DataError, match="not a readable .npz"):
            data.read_xy(p)


def test_read_features_for_prediction(tmp_path):
    p = _csv(tmp_path, "b,extra,a,y\n2,text,1,0\n4,more,3,0\n")
    assert data.read_features(p, ["a", "b"], 2).tolist() == [[1, 2], [3, 4]]
    with pytest.raises(DataError, match="3 feature columns, the model takes 2"):
        data.read_features(_csv(tmp_path, "a,b,c\n1,2,3\n", "e.csv"), None, 2)
    with pytest.raises(DataError, match="no column 'c'"):
        data.read_features(p, ["a", "c"], 2)


def test_demo_data_is_shipped_and_reproducible():
    path = data.demo_path()
    assert path.is_file()
    assert path.read_text(encoding="utf-8") == data.make_houses()  # regenerated bit for bit
    ds = data.read_xy(path, data.DEMO_TARGET)
    assert ds.x.shape == (1000, 5) and ds.features == ["area_m2", "rooms", "age_years", "distance_km", "floor"]
    # a linear fit explains most of the price but not all: there is something for an MLP to learn
    X = np.c_[ds.x, np.ones(len(ds.x))]
    resid = ds.y - X @ np.linalg.lstsq(X, ds.y, rcond=None)[0]
    r2 = 1 - resid.var() / ds.y.var()
    assert 0.8 < r2 < 0.95, r2


def test_unnamed_or_repeated_columns_are_errors_only_where_used(tmp_path):
    """README: columns not used may hold anything. A spreadsheet's unnamed index column, a
    trailing comma or a repeated name among unused columns once refused the whole file."""
    text = ",a,note,note,y,\n0,1,x,z,2,\n1,3,w,v,4,\n"
    p = _csv(tmp_path, text)
    ds = data.read_xy(p, "y", "a")
    assert ds.x.tolist() == [[1.0], [3.0]] and ds.y.tolist() == [[2.0], [4.0]]
    with pytest.raises(DataError, match="column 1 of the header has no name"):
        data.read_xy(p, "y")  # every other column, the unnamed ones too
    with pytest.raises(DataError, match="column name 'note' appears twice"):
        data.read_xy(p, "y", "a,note")
    np.testing.assert_array_equal(data.read_csv(p, ["y", "a"])[1], [[2.0, 1.0], [4.0, 3.0]])

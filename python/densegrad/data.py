"""Reading tabular data for training and prediction: CSV files (a header row, numeric columns)
and ``.npz`` archives (arrays ``X`` and ``y``), plus the demo data set shipped with the package.

Every problem is a ``DataError`` (a ValueError) whose message names the file and, for a CSV, the
row and column: ``houses.csv: row 5, column 'area_m2': 'abc' is not a number``. Rows are numbered
as a spreadsheet (or an editor) numbers them: the header is row 1.
"""

from __future__ import annotations

import csv
import math
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DataError", "Dataset", "demo_path", "make_houses", "read_csv", "read_features", "read_xy"]

DEMO_TARGET = "price_k"


class DataError(ValueError):
    """A data file that cannot be used as it is (the message names the file, row and column)."""


@dataclass
class Dataset:
    """Features ``x`` (rows, features) and targets ``y`` (rows, targets), float64, with names."""

    x: np.ndarray
    y: np.ndarray
    features: list[str]
    target: list[str]


def _split_names(value: str | list[str] | None) -> list[str] | None:
    if value is None:
        return None
    names = value.split(",") if isinstance(value, str) else list(value)
    return [n.strip() for n in names if n.strip()]


_NPZ_NAME = re.compile(r"x\d+")  # the names read_xy gives an archive's columns


def _is_npz(p: str) -> bool:
    return p.lower().endswith(".npz")


def _read_records(p: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and every non-blank record (with its row number) of a CSV file, as text."""
    try:
        f = open(p, newline="", encoding="utf-8-sig")  # -sig: a spreadsheet's byte-order mark is not a column name
    except OSError as e:
        raise DataError(f"{p}: cannot read ({e.strerror})") from None
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise DataError(f"{p}: the file is empty (expected a header row of column names)")
            header = [h.strip() for h in header]  # unnamed or repeated names: an error where used (_select)
            records: list[tuple[int, list[str]]] = []
            start = reader.line_num + 1  # where the next record begins
            for rec in reader:
                first, start = start, reader.line_num + 1
                if not rec or (len(rec) == 1 and not rec[0].strip()):  # a blank line
                    continue
                # (a row of empty fields, ",,", is no blank line: its values are missing)
                if len(rec) != len(header):
                    _check_quotes_closed(p, first, rec)
                    raise DataError(f"{p}: row {reader.line_num} has {len(rec)} fields, the header has {len(header)}")
                records.append((reader.line_num, rec))
            if records:
                _check_quotes_closed(p, first, records[-1][1])
        except csv.Error as e:
            raise DataError(f"{p}: row {reader.line_num}: {e}") from None
        except UnicodeDecodeError as e:
            raise DataError(f"{p}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    return header, records


def _check_quotes_closed(p: str, first: int, rec: list[str]) -> None:
    """A quote that is never closed makes the csv module read the rest of the file as one field
    of the record that starts at row `first` (the text of every later row, silently: the rows
    were once simply missing). Only a record with a line break inside a field can be that one;
    its text is parsed again strictly, which ends in "unexpected end of data" exactly then.
    (Strict parsing of the whole file would also refuse text like `"Smith, J." ,` in columns
    that are not used.)"""
    if not any("\n" in v or "\r" in v for v in rec):
        return
    with open(p, newline="", encoding="utf-8-sig") as g:
        tail = g.readlines()[first - 1 :]
    try:
        for _ in csv.reader(tail, strict=True):
            pass
    except csv.Error as e:
        if "unexpected end of data" in str(e):
            raise DataError(f"{p}: row {first}: a quoted field is never closed (its quote runs to the end of the file)") from None


def _select(p: str, header: list[str], columns: list[str] | None) -> list[str]:
    """The columns to read; each must have a name that appears once in the header. Columns not
    read may be unnamed or share a name (a spreadsheet's index column, a trailing comma)."""
    wanted = header if columns is None else list(columns)
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DataError(f"{p}: no column {', '.join(repr(c) for c in missing)}; the header has {', '.join(h for h in header if h)}")
    for c in wanted:
        if not c:
            j = header.index("")
            raise DataError(f"{p}: column {j + 1} of the header has no name (name it, or choose the columns to use)")
        if header.count(c) > 1:
            raise DataError(f"{p}: column name '{c}' appears twice in the header")
    return wanted


def _parse(p: str, header: list[str], records: list[tuple[int, list[str]]], wanted: list[str]) -> np.ndarray:
    if not records:
        raise DataError(f"{p}: no data rows after the header")
    idx = [header.index(c) for c in wanted]
    fields = [[rec[j] for j in idx] for _, rec in records]
    try:  # fast path: NumPy parses every field at once
        with np.errstate(all="ignore"):
            values = np.array(fields, dtype=np.float64).reshape(len(records), len(idx))
        if np.all(np.isfinite(values)):
            return values
    except ValueError:
        pass
    # slow path, only to name the first bad field
    for (line, _), row in zip(records, fields):
        for name, s in zip(wanted, row):
            s = s.strip()
            if not s:
                raise DataError(f"{p}: row {line}, column '{name}': missing value")
            try:
                v = float(s)
            except ValueError:
                raise DataError(f"{p}: row {line}, column '{name}': {s!r} is not a number") from None
            if not math.isfinite(v):
                raise DataError(f"{p}: row {line}, column '{name}': {s!r} is not a finite number")
    raise DataError(f"{p}: could not parse the numbers")  # not reached: the slow path names the field


def read_csv(path: str | os.PathLike, columns: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """(column names, float64 array (rows, columns)) of a CSV file with a header row.

    columns: the columns to read, in this order (default: all). Only those are parsed, so other
    columns may hold text. Blank lines are skipped. A missing value, a field that is not a finite
    number, a row with the wrong number of fields, an empty file or a file with no data rows is a
    ``DataError`` naming the row and column.
    """
    p = os.fspath(path)
    header, records = _read_records(p)
    wanted = _select(p, header, columns)
    return wanted, _parse(p, header, records, wanted)


def _npz(path: str, need_y: bool, x_columns: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """X and y (when need_y) as float64 (rows, columns). A 1-D y is one target column; a 1-D X is
    one feature column when x_columns, the number of features wanted, is 1 or not known."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    with f:  # the archive reads from f: both stay open until X and y are read
        magic = f.read(6)
        f.seek(0)
        if magic == b"\x93NUMPY":  # np.load would return the array, not an archive
            raise DataError(f"{path}: a single .npy array, not an .npz archive (write X and y with numpy.savez)")
        if magic[:2] != b"PK":  # np.load's own message for these is about pickled data
            raise DataError(f"{path}: not an .npz archive (a zip file of .npy arrays, as numpy.savez writes)")
        try:
            archive = np.load(f, allow_pickle=False)
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise DataError(f"{path}: not a readable .npz archive ({e})") from None
        x, y = _npz_arrays(path, archive, need_y)
    return _npz_checked(path, x, y, x_columns)


def _npz_arrays(path: str, archive, need_y: bool):
    with archive:
        keys = set(archive.files)
        for k in ("X", "y") if need_y else ("X",):
            if k not in keys:
                raise DataError(f"{path}: no array '{k}' (the archive has {', '.join(sorted(keys)) or 'nothing'}); expected X (rows, features) and y (rows,) or (rows, targets)")
        try:
            x = archive["X"]
            y = archive["y"] if need_y else None
        except ValueError as e:  # object arrays need pickle, which is never allowed
            raise DataError(f"{path}: {e}") from None
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:  # a damaged member (CRC, truncation)
            raise DataError(f"{path}: not a readable .npz archive ({e})") from None
    return x, y


def _npz_checked(path: str, x, y, x_columns):
    out = []
    for name, a in (("X", x), ("y", y)):
        if a is None:
            out.append(None)
            continue
        if a.dtype.kind not in "biuf":
            raise DataError(f"{path}: array '{name}' has dtype {a.dtype}, expected numbers")
        a = a.astype(np.float64)
        if name == "y" and a.ndim == 1:
            a = a.reshape(-1, 1)
        if name == "X" and a.ndim == 1 and x_columns in (None, 1):
            a = a.reshape(-1, 1)
        if a.ndim != 2:
            raise DataError(f"{path}: array '{name}' must be 2-D (rows, columns), got shape {a.shape}")
        if a.shape[0] == 0:
            raise DataError(f"{path}: array '{name}' has no rows")
        bad = np.argwhere(~np.isfinite(a))
        if bad.size:
            r, c = bad[0]
            raise DataError(f"{path}: {name}[{r}, {c}] is {a[r, c]}, not a finite number")
        out.append(a)
    if y is not None and out[0].shape[0] != out[1].shape[0]:
        raise DataError(f"{path}: X has {out[0].shape[0]} rows but y has {out[1].shape[0]}")
    return out[0], out[1]


def read_xy(path: str | os.PathLike, target: str | list[str] | None = None, features: str | list[str] | None = None) -> Dataset:
    """Features and targets for training.

    CSV: ``target`` names the target column(s) (a list or a comma-separated string); ``features``
    the inputs (default: every other column). NPZ: arrays ``X`` and ``y`` (a 1-D array is one
    column); the columns are named x0, x1, ... and y (or y0, y1, ...), and ``target`` /
    ``features``, if given, must match those. A column named twice, a column that is both a
    feature and a target, or an empty list of features is a ``DataError``.
    """
    p = os.fspath(path)
    tnames, fnames = _split_names(target), _split_names(features)
    for what, names in (("target", tnames), ("features", fnames)):
        twice = [n for i, n in enumerate(names or []) if n in names[:i]]
        if twice:
            raise DataError(f"{p}: '{twice[0]}' appears twice in the {what}")
    if fnames is not None and not fnames:
        raise DataError(f"{p}: the list of features is empty")
    if _is_npz(p):
        x, y = _npz(p, need_y=True)
        assert y is not None
        feats = [f"x{i}" for i in range(x.shape[1])]
        tg = ["y"] if y.shape[1] == 1 else [f"y{i}" for i in range(y.shape[1])]
        if tnames is not None and tnames != tg:
            raise DataError(f"{p}: an .npz archive's targets are named {', '.join(tg)}, not {', '.join(tnames)}")
        if fnames is not None:
            unknown = [f for f in fnames if f not in feats]
            if unknown:
                raise DataError(f"{p}: no feature {', '.join(unknown)}; an .npz archive's are named {', '.join(feats)}")
            x = x[:, [feats.index(f) for f in fnames]]
            feats = fnames
        return Dataset(x, y, feats, tg)
    if not tnames:
        raise DataError(f"{p}: name the target column (--target COL)")
    header, records = _read_records(p)
    _select(p, header, tnames)
    if fnames is None:
        fnames = [h for h in header if h not in tnames]
        if not fnames:
            raise DataError(f"{p}: no feature columns besides the target {', '.join(tnames)}")
    overlap = [t for t in tnames if t in fnames]
    if overlap:
        raise DataError(f"{p}: {', '.join(overlap)} cannot be both a feature and a target")
    values = _parse(p, header, records, _select(p, header, fnames + tnames))
    return Dataset(values[:, : len(fnames)], values[:, len(fnames) :], fnames, tnames)


def read_features(path: str | os.PathLike, features: list[str] | None, n_features: int) -> np.ndarray:
    """The input rows of a data file for prediction, float64 (rows, n_features).

    CSV: the columns named in ``features`` (other columns, such as the target, are ignored), or,
    when the model stored no names, every column. NPZ: the array ``X`` (rows, features); when the
    model's features are named x0, x1, ... (trained on an archive, perhaps with ``--features``),
    those columns of ``X`` in that order. A 1-D ``X`` only for a model of one feature (it is that
    column), as ``read_xy`` reads it.
    """
    p = os.fspath(path)
    if _is_npz(p):
        x, _ = _npz(p, need_y=False, x_columns=n_features)
        # An archive's columns are named x0, x1, ... (read_xy): a model whose features have
        # such names (trained on an archive, perhaps with --features x2,x0) takes them by name,
        # as from a CSV (X was once used as it was, silently wrong after --features).
        if features and all(_NPZ_NAME.fullmatch(f) for f in features):
            idx = [int(f[1:]) for f in features]
            if max(idx) >= x.shape[1]:
                raise DataError(f"{p}: no column x{max(idx)} in X, which has {x.shape[1]} (an archive's columns are "
                                f"named x0 to x{x.shape[1] - 1}; the model takes {', '.join(features)})")
            x = x[:, idx]
    else:
        _, x = read_csv(p, features)
    if x.shape[1] != n_features:
        raise DataError(f"{p}: {x.shape[1]} feature columns, the model takes {n_features}")
    return x


# ---- the demo data set ------------------------------------------------------------------------------


def demo_path() -> Path:
    """The demo data set shipped with the package: ``houses.csv``, 1,000 synthetic houses (area,
    rooms, age, distance to the centre, floor) and their price in thousands (``price_k``),
    generated by ``make_houses`` (no download at run time)."""
    from importlib import resources  # here, not at import: it costs ~13 ms of `import densegrad`

    return Path(str(resources.files("densegrad") / "datasets" / "houses.csv"))


def make_houses(n: int = 1000, seed: int = 2026) -> str:
    """The demo data set's CSV text: deterministic (NumPy's PCG64 from ``seed``), with a price
    that depends non-linearly on the features, plus 5% noise."""
    rng = np.random.default_rng(seed)
    area = np.clip(rng.lognormal(np.log(85.0), 0.4, n), 25.0, 300.0)
    rooms = np.clip(np.round(area / 28.0 + rng.normal(0.0, 0.7, n)), 1, 9)
    age = rng.uniform(0.0, 100.0, n)
    distance = np.clip(rng.gamma(2.0, 4.0, n), 0.3, 40.0)
    floor = rng.integers(0, 11, n)
    location = 0.45 + 0.55 * np.exp(-distance / 7.0)  # the centre is worth most
    wear = 1.0 - 0.35 * (1.0 - np.exp(-age / 35.0)) + 0.12 * np.exp(-((age - 90.0) / 12.0) ** 2)  # old, but some period houses
    price = 4.2 * area * location * wear + 14.0 * rooms + 6.0 * np.minimum(floor, 5) - 3.0 * np.maximum(floor - 7, 0)
    price *= 1.0 + rng.normal(0.0, 0.05, n)
    lines = ["area_m2,rooms,age_years,distance_km,floor,price_k"]
    for i in range(n):
        lines.append(f"{area[i]:.1f},{int(rooms[i])},{age[i]:.0f},{distance[i]:.2f},{int(floor[i])},{price[i]:.1f}")
    return "\n".join(lines) + "\n"


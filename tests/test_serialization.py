"""Model files (docs/model-format.md): save/load round trips in both dtypes, the layout PyTorch
reads, and rejection of truncated, tampered and inconsistent files -- never unpickling."""

from __future__ import annotations

import json
import os
import pickle
import struct
from collections import OrderedDict

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file as np_load_file
from safetensors.torch import load_file as torch_load_file

import densegrad as dg
from densegrad.serialization import ModelFileError, Normalization

DTYPES = [np.float32, np.float64]


def _model(dtype=np.float32, seed=0):
    """Every layer kind the format holds, a Linear without bias, and a non-zero negative slope."""
    dg.manual_seed(seed)
    return dg.nn.Sequential(
        dg.nn.Linear(3, 8, dtype=dtype), dg.nn.ReLU(),
        dg.nn.Linear(8, 6, dtype=dtype), dg.nn.LeakyReLU(-0.2),
        dg.nn.Linear(6, 5, bias=False, dtype=dtype), dg.nn.Sigmoid(),
        dg.nn.Linear(5, 4, dtype=dtype), dg.nn.Tanh(),
        dg.nn.Linear(4, 2, dtype=dtype), dg.nn.Identity(),
    )


def _torch_model(dtype):
    nn = torch.nn
    return nn.Sequential(
        nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 6), nn.LeakyReLU(-0.2), nn.Linear(6, 5, bias=False), nn.Sigmoid(),
        nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2), nn.Identity(),
    ).to(torch.float32 if dtype == np.float32 else torch.float64)


NORM = Normalization([0.5, -1.0, 2.0], [1.5, 0.25, 3.0], [10.0, -3.0], [4.0, 0.5])
COLUMNS = {"features": ["a", "b", "c"], "target": ["y1", "y2"]}


@pytest.mark.parametrize("dtype", DTYPES)
def test_model_round_trip(tmp_path, dtype):
    m = _model(dtype)
    path = tmp_path / "m.safetensors"
    dg.save(m, path, normalization=NORM, columns=COLUMNS)
    m2 = dg.nn.Sequential.load(path)
    assert repr(m2) == repr(m)
    assert list(m2.state_dict()) == list(m.state_dict())
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert b.dtype == dtype, k
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    assert m2.columns == COLUMNS
    for k in ("x_mean", "x_std", "y_mean", "y_std"):
        np.testing.assert_array_equal(getattr(m2.normalization, k), getattr(NORM, k))
    x = np.random.default_rng(1).normal(size=(7, 3))
    np.testing.assert_array_equal(dg.serialization.predict(m2, x), dg.serialization.predict(m, x, NORM))
    # saving the loaded model keeps what it carries (safetensors orders the metadata as it likes,
    # so compare what was stored, not bytes)
    dg.save(m2, tmp_path / "again.safetensors")
    assert dg.serialization.read_metadata(tmp_path / "again.safetensors") == dg.serialization.read_metadata(path)
    assert (tmp_path / "again.safetensors").stat().st_size == path.stat().st_size
    assert sorted(os.listdir(tmp_path)) == ["again.safetensors", "m.safetensors"]  # no temporary files left


def test_normalization_is_exact_and_applied_as_the_format_says(tmp_path):
    # float64 values that need all 17 digits survive the JSON round trip
    norm = Normalization([0.1 + 0.2, 1 / 3, -2.0 / 7], [np.pi, np.e, 1e-300], [12345.678901234567], [np.sqrt(2)])
    dg.manual_seed(3)
    m = dg.nn.Sequential(dg.nn.Linear(3, 4), dg.nn.Tanh(), dg.nn.Linear(4, 1))
    dg.save(m, tmp_path / "m.safetensors", normalization=norm)
    got = dg.nn.Sequential.load(tmp_path / "m.safetensors").normalization
    for k in ("x_mean", "x_std", "y_mean", "y_std"):
        assert getattr(got, k).tolist() == getattr(norm, k).tolist()
    x = np.array([[1.0, 2.0, 3.0], [-4.0, 0.5, 1e-300]])
    with np.errstate(over="ignore"):  # 1e-300 / 1e-300 ... and 1 / 1e-300 overflows float32: inf
        xn = ((x - norm.x_mean) / norm.x_std).astype(np.float32)
    with dg.no_grad():
        expected = m(dg.from_numpy(xn)).numpy().astype(np.float64) * norm.y_std + norm.y_mean
    np.testing.assert_array_equal(dg.serialization.predict(m, x, norm), expected)


def test_normalization_fit_handles_constant_columns():
    x = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    n = Normalization.fit(x, np.array([2.0, 2.0, 2.0]))
    assert n.x_mean.tolist() == [3.0, 5.0] and n.x_std.tolist() == [np.sqrt(8 / 3), 1.0]
    assert n.y_mean.tolist() == [2.0] and n.y_std.tolist() == [1.0]
    np.testing.assert_allclose(n.inverse_y(n.transform_y([[7.0]])), [[7.0]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_metadata_is_what_the_format_says(tmp_path, dtype):
    dg.save(_model(dtype), tmp_path / "m.safetensors", normalization=NORM, columns=COLUMNS)
    meta = dg.serialization.read_metadata(tmp_path / "m.safetensors")
    assert set(meta) == {"format", "format_version", "densegrad_version", "architecture", "normalization", "columns"}
    assert meta["format"] == "densegrad.mlp" and meta["format_version"] == "1"
    assert meta["densegrad_version"] == dg.__version__
    arch = json.loads(meta["architecture"])
    assert arch["dtype"] == np.dtype(dtype).name
    assert arch["layers"][:4] == [
        {"type": "Linear", "in_features": 3, "out_features": 8, "bias": True}, {"type": "ReLU"},
        {"type": "Linear", "in_features": 8, "out_features": 6, "bias": True}, {"type": "LeakyReLU", "negative_slope": -0.2},
    ]
    assert arch["layers"][4] == {"type": "Linear", "in_features": 6, "out_features": 5, "bias": False}
    assert [m["type"] for m in arch["layers"][5:]] == ["Sigmoid", "Linear", "Tanh", "Linear", "Identity"]
    assert json.loads(meta["columns"]) == COLUMNS
    assert json.loads(meta["normalization"]) == {"x_mean": [0.5, -1.0, 2.0], "x_std": [1.5, 0.25, 3.0], "y_mean": [10.0, -3.0], "y_std": [4.0, 0.5]}
    # the header's byte layout: 8-byte little-endian length, then the JSON
    raw = (tmp_path / "m.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    code = "F32" if dtype == np.float32 else "F64"
    assert {k: v["dtype"] for k, v in header.items() if k != "__metadata__"} == dict.fromkeys(_model().state_dict(), code)


@pytest.mark.parametrize("dtype", DTYPES)
def test_state_dict_round_trip(tmp_path, dtype):
    m = _model(dtype)
    dg.save(m.state_dict(), tmp_path / "sd.safetensors")
    assert dg.serialization.read_metadata(tmp_path / "sd.safetensors")["format"] == "densegrad.state_dict"
    sd = dg.load(tmp_path / "sd.safetensors")
    assert isinstance(sd, OrderedDict) and set(sd) == set(m.state_dict())
    assert all(isinstance(v, dg.Tensor) and v.dtype == dtype for v in sd.values())
    m2 = _model(dtype, seed=1)
    assert not np.array_equal(m2[0].weight.detach().numpy(), m[0].weight.detach().numpy())
    m2.load_state_dict(sd)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(m2.state_dict()[k].numpy(), v.numpy())
    # plain ndarrays too, and the loaded arrays are ordinary writeable parameters' sources
    dg.save({"w": np.arange(6.0).reshape(2, 3)}, tmp_path / "arr.safetensors")
    w = dg.load(tmp_path / "arr.safetensors")["w"]
    assert w.shape == (2, 3) and w.numpy().tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ModelFileError, match="plain state dict"):
        dg.nn.Sequential.load(tmp_path / "sd.safetensors")


@pytest.mark.parametrize("dtype", DTYPES)
def test_file_loads_in_pytorch_with_the_same_names(tmp_path, dtype):
    m = _model(dtype)
    dg.save(m, tmp_path / "m.safetensors")
    tm = _torch_model(dtype)
    state = torch_load_file(str(tmp_path / "m.safetensors"))
    assert list(tm.state_dict()) == list(m.state_dict())
    assert sorted(state) == sorted(tm.state_dict())
    tm.load_state_dict(state)  # strict: same names and shapes
    x = np.random.default_rng(2).normal(size=(9, 3)).astype(dtype)
    with torch.no_grad():
        expected = tm(torch.from_numpy(x)).numpy()
    with dg.no_grad():
        got = m(dg.from_numpy(x)).numpy()
    tol = 1e-6 if dtype == np.float32 else 1e-13  # the same maths, a different summation order
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


def test_save_refuses_what_the_format_cannot_hold(tmp_path):
    p = tmp_path / "x.safetensors"

    class Custom(dg.nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="module 1 is Custom"):
        dg.save(dg.nn.Sequential(dg.nn.Linear(2, 2), Custom()), p)
    with pytest.raises(ValueError, match="named"):
        dg.save(dg.nn.Sequential(OrderedDict(fc=dg.nn.Linear(2, 2))), p)
    with pytest.raises(TypeError, match="one dtype"):
        dg.save(dg.nn.Sequential(dg.nn.Linear(2, 2), dg.nn.Linear(2, 2, dtype=np.float64)), p)
    with pytest.raises(ValueError, match="does not follow a Linear"):
        dg.save(dg.nn.Sequential(dg.nn.ReLU(), dg.nn.Linear(2, 2)), p)
    with pytest.raises(ValueError, match="does not chain"):
        dg.save(dg.nn.Sequential(dg.nn.Linear(2, 3), dg.nn.Linear(4, 1)), p)
    with pytest.raises(ValueError, match="no Linear"):
        dg.save(dg.nn.Sequential(), p)
    with pytest.raises(ValueError, match="2 inputs and 1 outputs"):
        dg.save(dg.nn.Sequential(dg.nn.Linear(2, 1)), p, normalization=NORM)
    with pytest.raises(ValueError, match="columns\\['target'\\] names 'y' twice"):
        dg.save(_model(), p, columns={"features": ["a", "b", "c"], "target": ["y", "y"]})
    with pytest.raises(ValueError, match="both name 'c'"):
        dg.save(_model(), p, columns={"features": ["a", "b", "c"], "target": ["c", "y"]})
    with pytest.raises(TypeError, match="int64"):
        dg.save({"w": np.arange(3)}, p)
    with pytest.raises(TypeError, match="mapping"):
        dg.save([1, 2], p)
    with pytest.raises(ValueError, match="non-finite"):
        Normalization([np.nan], [1.0], [0.0], [1.0])
    with pytest.raises(ValueError, match="must be > 0"):
        Normalization([0.0], [0.0], [0.0], [1.0])
    assert not p.exists()


def test_save_errors_name_the_path_not_the_temporary_file(tmp_path):
    # save writes <path>.tmp<pid> and renames it: an OSError named the temporary file
    m = dg.nn.Sequential(dg.nn.Linear(2, 1))
    with pytest.raises(IsADirectoryError) as e:
        dg.save(m, tmp_path)
    assert e.value.filename == str(tmp_path) and ".tmp" not in str(e.value)
    missing = tmp_path / "no" / "m.safetensors"
    with pytest.raises(FileNotFoundError) as e:
        dg.save(m, missing)
    assert e.value.filename == str(missing) and ".tmp" not in str(e.value)
    assert not list(tmp_path.parent.glob(tmp_path.name + ".tmp*"))  # no temporary file left behind


# ---- rejecting bad files ---------------------------------------------------------------------------


def _raw(header: dict, body: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + body


def _good(tmp_path):
    """A valid model file, and its header and body for tampering."""
    dg.manual_seed(0)
    m = dg.nn.Sequential(dg.nn.Linear(2, 3), dg.nn.ReLU(), dg.nn.Linear(3, 1))
    p = tmp_path / "good.safetensors"
    dg.save(m, p, normalization=Normalization([0, 0], [1, 1], [0], [1]))
    raw = p.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _tamper(tmp_path, edit):
    header, body = _good(tmp_path)
    out = edit(header, body)
    header, body = out if out is not None else (header, body)
    p = tmp_path / "bad.safetensors"
    p.write_bytes(_raw(header, body))
    return p


def _meta(key, value):
    def edit(h, b):
        if value is None:
            del h["__metadata__"][key]
        else:
            h["__metadata__"][key] = value
    return edit


def _arch(edit_layers):
    def edit(h, b):
        arch = json.loads(h["__metadata__"]["architecture"])
        edit_layers(arch)
        h["__metadata__"]["architecture"] = json.dumps(arch)
    return edit


def _arch_text(layers_key_replacement):
    def edit(h, b):
        text = h["__metadata__"]["architecture"]
        assert '"layers"' in text
        h["__metadata__"]["architecture"] = text.replace('"layers"', layers_key_replacement, 1)
    return edit


def _move(name, delta):
    def edit(h, b):
        h[name]["data_offsets"][0] += delta
        h[name]["data_offsets"][1] += delta
    return edit


TAMPERED = [
    ("no format", _meta("format", None), "not a densegrad file"),
    ("other format", _meta("format", "pytorch"), "not a densegrad file"),
    ("future version", _meta("format_version", "2"), "unsupported format_version"),
    ("no architecture", _meta("architecture", None), "no 'architecture'"),
    ("architecture not JSON", _meta("architecture", "{layers"), "architecture is not valid JSON"),
    ("does not chain", _arch(lambda a: a["layers"][2].update(in_features=4)), "does not chain"),
    ("unknown layer", _arch(lambda a: a["layers"].__setitem__(1, {"type": "GELU"})), "unknown type 'GELU'"),
    ("bad dtype", _arch(lambda a: a.update(dtype="float16")), "float32"),
    ("zero features", _arch(lambda a: a["layers"][0].update(out_features=0)), "positive integer out_features"),
    ("arch says float64", _arch(lambda a: a.update(dtype="float64")), "the architecture says float64"),
    ("missing tensor", _arch(lambda a: a["layers"][0].update(bias=False)), "unexpected \\['0.bias'\\]"),
    ("extra layer", _arch(lambda a: a["layers"].extend([{"type": "Linear", "in_features": 1, "out_features": 1, "bias": True}])),
     "missing \\['3.bias', '3.weight'\\]"),
    ("mis-shaped", lambda h, b: h["2.weight"].update(shape=[3, 1]), "has shape \\(3, 1\\), the architecture needs \\(1, 3\\)"),
    ("shape vs bytes", lambda h, b: h["2.weight"].update(shape=[1, 4]), "needs 16"),
    ("unsupported dtype", lambda h, b: h["2.bias"].update(dtype="I32"), "unsupported dtype 'I32'"),
    ("outside the data", _move("2.bias", 1000), "outside the data section"),
    ("overlap", lambda h, b: h["0.bias"].update(data_offsets=h["0.weight"]["data_offsets"][:1] + [h["0.weight"]["data_offsets"][0] + 12]),
     "overlaps|gap"),
    ("trailing bytes", lambda h, b: (h, b + b"\0" * 8), "8 bytes after the last tensor"),
    ("normalization NaN", _meta("normalization", '{"x_mean": [NaN, 0], "x_std": [1, 1], "y_mean": [0], "y_std": [1]}'), "NaN is not a JSON number"),
    ("normalization zero std", _meta("normalization", '{"x_mean": [0, 0], "x_std": [1, 0], "y_mean": [0], "y_std": [1]}'), "must be > 0"),
    ("normalization short", _meta("normalization", '{"x_mean": [0], "x_std": [1], "y_mean": [0], "y_std": [1]}'), "x_mean has 1 values, the model needs 2"),
    ("normalization keys", _meta("normalization", '{"x_mean": [0, 0]}'), "x_mean, x_std, y_mean and y_std"),
    ("columns mismatch", _meta("columns", '{"features": ["a"], "target": ["y"]}'), "columns name 1 features"),
    ("columns twice", _meta("columns", '{"features": ["a", "a"], "target": ["y"]}'), "columns\\['features'\\] names 'a' twice"),
    ("columns overlap", _meta("columns", '{"features": ["a", "y"], "target": ["y"]}'),
     "columns\\['features'\\] and columns\\['target'\\] both name 'y'"),
    ("metadata not strings", lambda h, b: h["__metadata__"].update(format_version=1), "strings to strings"),
    # JSON as the C++ reader takes it (RFC 8259): Python's json module alone accepted these
    ("architecture key twice", _arch_text('"dtype": "float32", "layers"'), "key 'dtype' appears twice"),
    ("architecture NaN", _arch_text('"note": NaN, "layers"'), "NaN is not a JSON number"),
    ("architecture lone surrogate", _arch_text('"note": "\\ud800", "layers"'), "lone surrogate"),
    ("tensor entry", lambda h, b: h.update({"2.bias": [1, 2]}), "needs dtype, shape and data_offsets"),
]


@pytest.mark.parametrize("name,edit,message", TAMPERED, ids=[t[0] for t in TAMPERED])
def test_tampered_file_is_rejected(tmp_path, name, edit, message):
    p = _tamper(tmp_path, edit)
    with pytest.raises(ModelFileError, match=message) as e:
        dg.nn.Sequential.load(p)
    assert str(p) in str(e.value)
    if "format" not in name and "version" not in name and "architecture" not in name and "arch" not in name:
        # dg.load checks the model's tensors too
        with pytest.raises(ModelFileError, match=message):
            dg.load(p)


def test_an_untampered_rewrite_loads(tmp_path):
    # the control for the table above: _tamper with no edit gives a file that loads
    p = _tamper(tmp_path, lambda h, b: None)
    assert dg.nn.Sequential.load(p)[0].in_features == 2


@pytest.mark.parametrize("keep", [0, 5, 8, 20, -1, -4])
def test_truncated_file_is_rejected(tmp_path, keep):
    dg.save(_model(), tmp_path / "m.safetensors")
    raw = (tmp_path / "m.safetensors").read_bytes()
    p = tmp_path / "cut.safetensors"
    p.write_bytes(raw[:keep] if keep >= 0 else raw[:keep])
    with pytest.raises(ModelFileError, match="truncated|shorter than|outside the data|not valid JSON|gap|after the last"):
        dg.nn.Sequential.load(p)


@pytest.mark.parametrize(
    "raw,message",
    [
        (b"", "shorter than the 8-byte"),
        (struct.pack("<Q", 2**40) + b"{}", "implausible"),
        (struct.pack("<Q", 100) + b"{}", "truncated: the header claims 100 bytes"),
        (struct.pack("<Q", 2) + b"\xff\xfe", "not valid JSON"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
        (_raw({"__metadata__": {"format": "densegrad.state_dict", "format_version": "1"}}, b""), None),
    ],
)
def test_malformed_header_is_rejected(tmp_path, raw, message):
    p = tmp_path / "f.safetensors"
    p.write_bytes(raw)
    if message is None:  # control: an empty but valid state-dict file
        assert dg.load(p) == OrderedDict()
        return
    with pytest.raises(ModelFileError, match=message):
        dg.load(p)


class _Exploit:
    def __reduce__(self):
        return (open, (os.environ["DG_PICKLE_CANARY"], "w"))


def test_a_pickle_is_never_unpickled(tmp_path, monkeypatch):
    canary = tmp_path / "canary"
    monkeypatch.setenv("DG_PICKLE_CANARY", str(canary))
    p = tmp_path / "model.pt"
    p.write_bytes(pickle.dumps({"0.weight": _Exploit()}))
    for loader in (dg.load, dg.nn.Sequential.load, dg.serialization.read_metadata):
        with pytest.raises(ModelFileError):
            loader(p)
    assert not canary.exists()
    # the negative control: unpickling it would have created the canary
    pickle.loads(p.read_bytes())["0.weight"].close()
    assert canary.exists()


def test_safetensors_numpy_reads_what_densegrad_writes(tmp_path):
    m = _model(np.float64)
    dg.save(m, tmp_path / "m.safetensors")
    arrays = np_load_file(str(tmp_path / "m.safetensors"))
    assert sorted(arrays) == sorted(m.state_dict())
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(arrays[k], v.numpy())


def test_save_refuses_a_header_the_readers_would_reject(tmp_path, monkeypatch):
    """Readers refuse headers over 100,000,000 bytes (a normalization of ~4M inputs); the writer
    must not write one (limit lowered here instead of building such a model)."""
    model = dg.nn.Sequential(dg.nn.Linear(3, 1))
    norm = dg.serialization.Normalization.fit(np.arange(12.0).reshape(4, 3), np.ones((4, 1)))
    monkeypatch.setattr(dg.serialization, "_MAX_HEADER", 400)  # this model: 352 bytes, 512 with it
    with pytest.raises(ValueError, match="at most 400"):
        dg.save(model, tmp_path / "m.safetensors", normalization=norm)
    assert not (tmp_path / "m.safetensors").exists()
    dg.save(model, tmp_path / "small.safetensors")  # a smaller header still saves


def test_save_refuses_columns_that_do_not_fit_the_model(tmp_path):
    """dg.save wrote columns naming 1 feature for a 2-input model, which dg.load then refused
    (second review): writers refuse what readers reject."""
    model = dg.nn.Sequential(dg.nn.Linear(2, 1))
    for cols in ({"features": ["a"], "target": ["y"]}, {"features": ["a", "b"], "target": ["y", "z"]}):
        with pytest.raises(ValueError, match="the model has 2 inputs and 1 outputs"):
            dg.save(model, tmp_path / "m.safetensors", columns=cols)
        assert not (tmp_path / "m.safetensors").exists()
    dg.save(model, tmp_path / "m.safetensors", columns={"features": ["a", "b"], "target": ["y"]})
    assert dg.serialization.load_model(tmp_path / "m.safetensors").columns["features"] == ["a", "b"]


def test_a_header_with_a_key_twice_is_rejected(tmp_path):
    """The C++ reader refuses a key twice in the header; Python's json kept the last one."""
    header, body = _good(tmp_path)
    text = json.dumps(header).replace('"__metadata__": {', '"__metadata__": {"format": "densegrad.mlp", ', 1)
    assert text.count('"format"') == 2
    p = tmp_path / "twice.safetensors"
    p.write_bytes(struct.pack("<Q", len(text)) + text.encode() + body)
    with pytest.raises(ModelFileError, match="key 'format' appears twice"):
        dg.load(p)


def test_save_refuses_a_column_name_no_reader_takes_back(tmp_path):
    """A name with a lone surrogate was saved, then refused by both readers (third review)."""
    model = dg.nn.Sequential(dg.nn.Linear(2, 1))
    with pytest.raises(ValueError, match="not valid UTF-8"):
        dg.save(model, tmp_path / "m.safetensors", columns={"features": ["a\ud800", "b"], "target": ["y"]})
    assert not (tmp_path / "m.safetensors").exists()
    cols = {"features": ["é", "😀"], "target": ["y"]}
    dg.save(model, tmp_path / "m.safetensors", columns=cols)
    assert dg.serialization.load_model(tmp_path / "m.safetensors").columns == cols


@pytest.mark.parametrize("name", ["model.pt", "model.PTH", "weights.bin"])
def test_save_under_a_torch_name_warns_and_still_writes_safetensors(tmp_path, name):
    """dg.save(m, "a.pt") wrote a safetensors file that torch.load then failed on with a long
    unpickling error (a new-user review); the file is still written, with a warning."""
    m = dg.nn.Sequential(dg.nn.Linear(2, 1))
    with pytest.warns(UserWarning, match="torch.load cannot read it .* Name it .safetensors"):
        dg.save(m, tmp_path / name)
    again = dg.nn.Sequential.load(tmp_path / name)
    assert again[0].weight.tolist() == m[0].weight.tolist()

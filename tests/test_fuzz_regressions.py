"""Regression tests for what the fuzz targets (fuzz/) and the hostile-input probes found in the
model-file loader: every malformed file must raise ModelFileError (a ValueError naming the
problem), never another exception. Each case is the smallest file showing one bug; before the
fixes they raised RecursionError, OverflowError, TypeError or a bare ValueError.
"""

from __future__ import annotations

import json

import pytest

import densegrad as dg
from densegrad import serialization as S

META_MLP = {"format": "densegrad.mlp", "format_version": "1"}
META_SD = {"format": "densegrad.state_dict", "format_version": "1"}
ONE_LINEAR = {"type": "Linear", "in_features": 1, "out_features": 1, "bias": False}
WEIGHT = {"0.weight": {"dtype": "F32", "shape": [1, 1], "data_offsets": [0, 4]}}


def _file(tmp_path, header, body=b""):
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    p = tmp_path / "m.safetensors"
    p.write_bytes(len(h).to_bytes(8, "little") + h + body)
    return p


def _mlp(arch_layers, extra_meta=None, tensors=WEIGHT, body=b"\0" * 4, raw_arch=None):
    meta = dict(META_MLP, architecture=raw_arch if raw_arch is not None else json.dumps({"dtype": "float32", "layers": arch_layers}))
    meta.update(extra_meta or {})
    return dict({"__metadata__": meta}, **tensors), body


CASES = {
    # json.loads: RecursionError on deep nesting, in the header and in a metadata value
    "deeply nested header": (b"[" * 100_000 + b"]" * 100_000, b""),
    "deeply nested architecture": _mlp(None, raw_arch="[" * 100_000 + "]" * 100_000),
    "deeply nested normalization": _mlp([ONE_LINEAR], {"normalization": "{\"a\": " * 50_000}),
    # json.loads: ValueError (not JSONDecodeError) for an integer of more than 4300 digits
    "5000-digit integer in the header": (b'{"a": ' + b"1" * 5000 + b"}", b""),
    "5000-digit integer in the architecture": _mlp(None, raw_arch='{"dtype": "float32", "layers": ' + "9" * 5000 + "}"),
    # OverflowError: an integer literal too large for a float64
    "400-digit LeakyReLU slope": _mlp(None, raw_arch='{"dtype": "float32", "layers": [' + json.dumps(ONE_LINEAR)
                                      + ', {"type": "LeakyReLU", "negative_slope": ' + "9" * 400 + "}]}"),
    "400-digit normalization value": _mlp([ONE_LINEAR], {"normalization": '{"x_mean": [' + "9" * 400
                                                         + '], "x_std": [1], "y_mean": [0], "y_std": [1]}'}),
    # TypeError: unhashable JSON values used as dict keys
    "list as a layer type": _mlp([ONE_LINEAR, {"type": ["ReLU"]}]),
    "object as a layer type": _mlp([ONE_LINEAR, {"type": {"a": 1}}]),
    "list as a tensor dtype": (dict({"__metadata__": META_SD}, a={"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}), b"\0" * 4),
    # NumPy's ValueError 'array is too big' for a zero-byte tensor of shape [0, 2**62]
    "tensor of shape [0, 2^62]": (dict({"__metadata__": META_SD}, a={"dtype": "F32", "shape": [0, 2**62], "data_offsets": [0, 0]}), b""),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_file_raises_model_file_error(tmp_path, case):
    header, body = CASES[case]
    path = _file(tmp_path, header, body)
    for reader in (S.read_metadata, S.load, S.load_model, dg.nn.Sequential.load):
        try:
            reader(path)
        except S.ModelFileError:
            continue
        except Exception as e:  # the bug: anything but ModelFileError
            pytest.fail(f"{reader.__name__}: {type(e).__name__}: {str(e)[:200]}")
        # read_metadata reads only the header: a bad architecture is load's and load_model's to refuse
        assert reader is S.read_metadata, f"{reader.__name__} accepted a malformed file"


def test_tensor_names_with_non_ascii_digits_and_long_numbers_load(tmp_path):
    """State-dict names are sorted numerically by their digit parts; '²'.isdigit() is true but
    int('²') fails, and int() refuses more than 4300 digits. Such names now sort as text."""
    names = ["²", "1", "1" * 5000, "10", "2"]
    header = {"__metadata__": META_SD}
    for i, n in enumerate(names):
        header[n] = {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
    sd = S.load(_file(tmp_path, header, b"\0" * 4 * len(names)))
    assert list(sd)[:3] == ["1", "2", "10"] and set(sd) == set(names)

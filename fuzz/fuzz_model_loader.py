"""atheris fuzz target: the model-file loader (densegrad.serialization: load, load_model,
read_metadata, and running a model that loaded). Any exception other than ModelFileError is a
bug, and so is a crash (run under ASan by fuzz/run.sh). Seeds: valid files written by
fuzz/make_corpus.py; mutations work best with the dictionary fuzz/model.dict.

An input is either a raw file, or -- when it starts with b"J" -- a header and a body,
b"J" + header JSON + b"\0" + tensor bytes, from which the harness writes the file with the
correct 8-byte length prefix. Most mutations of a raw file break that prefix and stop at the
first check; the second form lets them reach the JSON, the metadata and the tensors.

Byte-level mutations rarely build what breaks a JSON reader (a 400-digit integer, 5,000 levels
of nesting), so half of the mutations are structural (custom_mutator): parse the header, and
the JSON inside its metadata strings (architecture, normalization, columns), replace one value
anywhere with a hostile one, and write it back.

    python fuzz/fuzz_model_loader.py CORPUS_DIR -dict=fuzz/model.dict -max_total_time=300
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    import numpy as np

    from densegrad import serialization as S

_DIR = tempfile.mkdtemp(prefix="densegrad-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
PATH = os.path.join(_DIR, "model.safetensors")


def to_file(data: bytes) -> bytes:
    if data[:1] != b"J":
        return data
    header, _, body = data[1:].partition(b"\0")
    return len(header).to_bytes(8, "little") + header + body


HOSTILE = [
    10**400, -(10**400), 2**63, 2**64, -1, 0, 1, 1e308, -0.0, 0.5, True, None, "", "²", "1" * 5000, "F16", "I64",
    [], {}, [0, 2**62], [2**31, 2**31], [1, -1], "[" * 5000, "{\"a\": " * 3000, [[[[[[[[[[[]]]]]]]]]]],
    {"type": "Linear", "in_features": 10**400, "out_features": 1, "bias": True}, {"type": "LeakyReLU", "negative_slope": 10**400},
    {"type": "LeakyReLU"}, {"type": "Tanh"},
]
EMBEDDED = ("architecture", "normalization", "columns")  # metadata values that are JSON themselves


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, path + (i,))


def _replace(node, path, value):
    if not path:
        return value
    node[path[0]] = _replace(node[path[0]], path[1:], value)
    return node


def _structural(data: bytes, rnd: random.Random) -> bytes | None:
    """Replace one value of the header (or of a JSON metadata value) by a hostile one."""
    if data[:1] != b"J":
        return None
    header, _, body = data[1:].partition(b"\0")
    try:
        doc = json.loads(header)
    except (ValueError, RecursionError):
        return None
    meta = doc.get("__metadata__") if isinstance(doc, dict) else None
    inner = [k for k in EMBEDDED if isinstance(meta, dict) and isinstance(meta.get(k), str)]
    if inner and rnd.random() < 0.6:
        key = rnd.choice(inner)
        try:
            sub = json.loads(meta[key])
        except (ValueError, RecursionError):
            return None
        path = rnd.choice(list(_paths(sub)))
        value = rnd.choice(HOSTILE)
        try:
            meta[key] = value if isinstance(value, str) and value[:1] in "[{" and not path else json.dumps(_replace(sub, path, value))
        except (TypeError, KeyError, IndexError):
            return None
    else:
        path = rnd.choice(list(_paths(doc)))
        value = rnd.choice(HOSTILE)
        if isinstance(value, str) and value[:1] in "[{":  # raw, unbalanced text: splice it in
            text = json.dumps(doc)
            cut = rnd.randrange(len(text) + 1)
            return b"J" + (text[:cut] + value + text[cut:]).encode() + b"\0" + body
        doc = _replace(doc, path, value)
    return b"J" + json.dumps(doc).encode() + b"\0" + body


def CustomMutator(data: bytes, max_size: int, seed: int) -> bytes:
    rnd = random.Random(seed)
    if rnd.random() < 0.5:
        out = _structural(data, rnd)
        if out is not None and len(out) <= max(max_size, 64_000):
            return out
    return atheris.Mutate(data, max_size)


def TestOneInput(data: bytes) -> None:
    with open(PATH, "wb") as f:
        f.write(to_file(data))
    try:
        S.read_metadata(PATH)
    except S.ModelFileError:
        pass
    try:
        S.load(PATH)
    except S.ModelFileError:
        pass
    try:
        mf = S.load_model(PATH)
    except S.ModelFileError:
        return
    # a file that loads is a working model: it predicts, and its outputs have the right shape
    model = mf.model
    first = model[0]
    x = np.linspace(-1, 1, 3 * first.in_features).reshape(3, first.in_features)
    y = S.predict(model, x)
    assert y.shape[0] == 3, y.shape


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput, custom_mutator=CustomMutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

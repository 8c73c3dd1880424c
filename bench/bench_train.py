"""Training-step benchmark: one full step (forward, MSE loss, backward, SGD update; Adam with
`--optimizer adam`) of an MLP (Linear + ReLU layers, a plain Linear last) for each case,
measured side by side:

  dg fused     densegrad.train.Trainer: the whole step in one C++ call
  dg autograd  densegrad tensors: zero_grad(); loss.backward(); opt.step()
  torch        PyTorch eager, the same model and loop, 1 thread and its default threads
  numpy        the same maths written with NumPy (OpenBLAS, one thread)
"""

from __future__ import annotations

import math
import statistics

import numpy as np

import densegrad as dg

from common import paired_ratios, peak_probe, table, time_interleaved

CASES = [
    ("seed", (1, 2, 2, 1), 1),
    ("tiny", (8, 32, 32, 1), 1),
    ("tiny", (8, 32, 32, 1), 16),
    ("small", (64, 128, 128, 1), 32),
    ("medium", (784, 256, 256, 10), 128),
    ("large", (1024, 1024, 1024, 1024), 256),
]
CASE_NAMES = list(dict.fromkeys(c[0] for c in CASES))
LR = 1e-3


def unknown_cases(only) -> list[str]:
    """The names in only (None: all cases) that are no training case."""
    return [n for n in only or () if n not in CASE_NAMES]


def step_flops(sizes, batch) -> float:
    """Multiply-adds x 2 of a step: forward and dW for every layer, dX for all but the first
    (the input needs no gradient)."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    return sum(2.0 * batch * i * o * (2 + (l > 0)) for l, (i, o) in enumerate(pairs))


def _dg_model(sizes, dtype):
    mods = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        mods += [dg.nn.Linear(i, o, dtype=dtype), dg.nn.ReLU()]
    return dg.nn.Sequential(*mods[:-1])


def _numpy_step(params, x, y, update=None):
    """Forward, MSE, backward and SGD (or `update(l, w, dw, b, db)`) in NumPy, the same maths as
    the other implementations; returns the loss, which every other side computes too."""
    acts = [x]
    for l, (w, b) in enumerate(params):
        z = acts[-1] @ w.T + b
        acts.append(np.maximum(z, 0) if l < len(params) - 1 else z)
    diff = acts[-1] - y
    loss = np.mean(diff * diff)
    d = diff * (2.0 / y.size)
    for l in range(len(params) - 1, -1, -1):
        w, b = params[l]
        if l < len(params) - 1:
            d = d * (acts[l + 1] > 0)
        dw = d.T @ acts[l]
        db = d.sum(axis=0)
        if l > 0:
            d = d @ w
        if update is not None:
            update(l, w, dw, b, db)
        else:
            w -= LR * dw
            b -= LR * db
    return loss


class _NumpyAdam:
    """torch.optim.Adam's update (default betas and eps) in NumPy, for _numpy_step."""

    def __init__(self, params):
        self.state = [[(np.zeros_like(a), np.zeros_like(a)) for a in wb] for wb in params]
        self.t = [0] * len(params)

    def __call__(self, l, w, dw, b, db):
        self.t[l] += 1
        t, b1, b2, eps = self.t[l], 0.9, 0.999, 1e-8
        for p, g, (m, v) in zip((w, b), (dw, db), self.state[l]):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            # math.sqrt: a NumPy float64 scalar would promote float32 arrays to float64.
            p -= (LR / (1 - b1**t)) * (m / (np.sqrt(v) / math.sqrt(1 - b2**t) + eps))


def run(dtype: str = "float32", repeats: int = 5, quick: bool = False, torch=None, only=None,
        optimizer: str = "sgd") -> dict:
    threads = dg.get_num_threads()
    torch_threads = torch.get_num_threads() if torch is not None else 0
    probe, probe_flops = peak_probe(dtype)
    peaks = []
    rng = np.random.default_rng(0)
    rows, results, spreads = [], [], []
    if unknown := unknown_cases(only):
        raise ValueError(f"unknown training case {', '.join(unknown)}: the cases are {', '.join(CASE_NAMES)}")
    # --quick runs the three smallest cases unless --cases names others
    cases = (CASES[:3] if quick else CASES) if only is None else [c for c in CASES if c[0] in only]
    for name, sizes, batch in cases:
        x = rng.standard_normal((batch, sizes[0])).astype(dtype)
        y = rng.standard_normal((batch, sizes[-1])).astype(dtype)
        dg.manual_seed(0)
        fused_model = _dg_model(sizes, dtype)
        dg_opt = dg.optim.SGD if optimizer == "sgd" else dg.optim.Adam
        trainer = dg.train.Trainer(fused_model, dg_opt(fused_model.parameters(), lr=LR))
        auto_model = _dg_model(sizes, dtype)
        auto_model.load_state_dict(fused_model.state_dict())
        opt = dg_opt(auto_model.parameters(), lr=LR)
        loss_fn = dg.nn.MSELoss()
        xt, yt = dg.from_numpy(x), dg.from_numpy(y)
        params = [(w.detach().numpy().copy(), b.detach().numpy().copy())
                  for w, b in zip(list(fused_model.parameters())[::2], list(fused_model.parameters())[1::2])]

        def autograd_step():
            opt.zero_grad()
            loss_fn(auto_model(xt), yt).backward()
            opt.step()

        one = lambda: dg.set_num_threads(1)  # noqa: E731
        fns = {
            "dg fused": (one, lambda: trainer.step(x, y)),
        }
        if threads > 1:
            fns[f"dg fused {threads}t"] = (lambda: dg.set_num_threads(threads), lambda: trainer.step(x, y))
        fns["dg autograd"] = (one, autograd_step)
        if torch is not None:
            tmodel = torch.nn.Sequential(*[m for i, o in zip(sizes[:-1], sizes[1:])
                                           for m in (torch.nn.Linear(i, o), torch.nn.ReLU())][:-1])
            tmodel = tmodel.to(getattr(torch, dtype))
            tmodel.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy()) for k, v in fused_model.state_dict().items()})
            topt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(tmodel.parameters(), lr=LR)
            tloss = torch.nn.MSELoss()
            tx, ty = torch.from_numpy(x), torch.from_numpy(y)

            def torch_step():
                topt.zero_grad()
                tloss(tmodel(tx), ty).backward()
                topt.step()

            fns["torch"] = (lambda: torch.set_num_threads(1), torch_step)
            if torch_threads > 1:
                fns[f"torch {torch_threads}t"] = (lambda: torch.set_num_threads(torch_threads), torch_step)
        np_update = None if optimizer == "sgd" else _NumpyAdam(params)
        fns["numpy"] = lambda: _numpy_step(params, x, y, np_update)
        fns["peak"] = probe  # the FMA loop, timed in the same rounds
        per_round = {}
        t = time_interleaved(fns, repeats, min_time=0.01 if quick else 0.1, rounds=per_round)
        del fns["peak"]
        peak = probe_flops / t.pop("peak")[0] / 1e9
        peaks.append(peak)
        dg.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(torch_threads)
        flops = step_flops(sizes, batch)
        us = {k: v[0] * 1e6 for k, v in t.items()}
        gf = flops / (us["dg fused"] * 1e-6) / 1e9
        label = f"{name} {'-'.join(map(str, sizes))} b{batch}"
        ref = us.get("torch")
        row = [label] + [f"{us[k]:,.1f}" for k in fns]
        # Two decimals below 10x: a target such as 1.4x must not be met by rounding 1.36x.
        vs = lambda r: f"{r:.2f}x" if r < 10 else f"{r:.1f}x"  # noqa: E731
        row += [vs(ref / us["dg fused"]) if ref else "-", vs(ref / us["dg autograd"]) if ref else "-",
                f"{us['numpy'] / us['dg fused']:.2f}x", f"{us['numpy'] / us['dg autograd']:.2f}x", f"{gf:.1f}",
                f"{100 * gf / peak:.0f}%"]
        rows.append(row)
        paired = paired_ratios(per_round, "torch", "dg fused") if ref else None
        if paired:
            spreads.append(f"{label}: {vs(paired[1])}-{vs(paired[2])} (median {vs(paired[0])})")
        results.append({"case": label, "sizes": sizes, "batch": batch, "flops": flops, "us_per_step": us,
                        "min_us": {k: v[1] * 1e6 for k, v in t.items()}, "max_us": {k: v[2] * 1e6 for k, v in t.items()},
                        "fused_vs_torch_rounds": None if paired is None else dict(zip(("median", "min", "max"), paired)),
                        "steps_per_s": {k: 1e6 / v for k, v in us.items()}, "fused_gflops": gf, "fused_pct_peak": 100 * gf / peak, "peak_gflops": peak})
    headers = ["case"] + [f"{k} us" for k in fns] + ["fused vs torch", "autograd vs torch", "fused vs numpy",
                                                     "autograd vs numpy", "fused GF/s", "% peak"]
    text = table(headers, rows, title=f"Training step (forward + MSE + backward + {optimizer_name(optimizer)}), {dtype}; "
                                      f"medians of {repeats} rounds; 'vs' = speed-up (higher is better); "
                                      f"% peak: of an FMA loop timed in the same rounds as each case "
                                      f"(median over cases {statistics.median(peaks):.1f} GFLOP/s per core)")
    if spreads:
        # The table's ratios divide two medians; these pair the two timings of each round.
        text += ("\nfused vs torch round by round (lowest-highest of the rounds' own ratios; each round "
                 "times both):\n" + "\n".join("  " + line for line in spreads))
    return {"dtype": dtype, "optimizer": optimizer, "peak_gflops": statistics.median(peaks), "cases": results,
            "text": text}


def optimizer_name(optimizer: str) -> str:
    return {"sgd": "SGD", "adam": "Adam"}[optimizer]

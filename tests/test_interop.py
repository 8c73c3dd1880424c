"""densegrad.interop: from_torch / to_torch for Sequential MLPs. A model trained in one library
and moved to the other predicts the same values; names, dtypes and activations carry over."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import densegrad as dg
from densegrad.interop import from_torch, to_torch

TOL = {np.float32: 1e-6, np.float64: 1e-13}  # the same maths in another summation order


def _x(dtype, n=50):
    return np.random.default_rng(7).normal(size=(n, 4)).astype(dtype)


def _dg_predict(model, x):
    with dg.no_grad():
        return model(dg.from_numpy(x)).numpy()


def _torch_predict(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trained_in_torch_predicts_the_same_in_densegrad(dtype):
    torch.manual_seed(0)
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    nn = torch.nn
    tm = nn.Sequential(nn.Linear(4, 16), nn.LeakyReLU(0.05), nn.Linear(16, 8, bias=False), nn.Sigmoid(),
                       nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2), nn.Identity(), nn.ReLU()).to(tdt)
    x = _x(dtype)
    y = torch.from_numpy(np.c_[np.sin(x[:, :1]), x[:, 1:2] ** 2])
    opt = torch.optim.Adam(tm.parameters(), lr=1e-2)
    for _ in range(30):
        opt.zero_grad()
        torch.nn.functional.mse_loss(tm(torch.from_numpy(x)), y).backward()
        opt.step()
    m = from_torch(tm)
    assert list(m.state_dict()) == list(tm.state_dict())
    assert [type(mod).__name__ for mod in m] == [type(mod).__name__ for mod in tm]
    assert m[1].negative_slope == 0.05 and m[2].bias is None and m[0].weight.dtype == dtype
    np.testing.assert_allclose(_dg_predict(m, x), _torch_predict(tm, x), rtol=TOL[dtype], atol=TOL[dtype])
    # the parameters are copies: changing the torch model leaves densegrad's alone
    before = m[0].weight.detach().numpy().copy()
    with torch.no_grad():
        tm[0].weight.add_(1.0)
    np.testing.assert_array_equal(m[0].weight.detach().numpy(), before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trained_in_densegrad_predicts_the_same_in_torch(dtype):
    dg.manual_seed(1)
    m = dg.nn.Sequential(dg.nn.Linear(4, 12, dtype=dtype), dg.nn.ReLU(), dg.nn.Linear(12, 1, dtype=dtype))
    x = _x(dtype)
    y = np.sin(x.sum(axis=1, keepdims=True))
    h = dg.train.fit(m, x, y, epochs=20, batch_size=10, seed=0, optimizer=dg.optim.Adam(m.parameters(), lr=1e-2))
    assert h.loss[-1] < h.loss[0]
    tm = to_torch(m)
    assert isinstance(tm, torch.nn.Sequential) and list(tm.state_dict()) == list(m.state_dict())
    assert tm[0].weight.dtype == (torch.float32 if dtype == np.float32 else torch.float64)
    np.testing.assert_allclose(_torch_predict(tm, x), _dg_predict(m, x), rtol=TOL[dtype], atol=TOL[dtype])
    # and back again: bit for bit the same parameters
    back = from_torch(tm)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k].numpy(), v.numpy())


def test_a_saved_model_loads_into_the_to_torch_model(tmp_path):
    dg.manual_seed(2)
    m = dg.nn.Sequential(dg.nn.Linear(4, 3), dg.nn.Tanh(), dg.nn.Linear(3, 1))
    dg.save(m, tmp_path / "m.safetensors")
    from safetensors.torch import load_file

    dg.manual_seed(3)
    tm = to_torch(dg.nn.Sequential(dg.nn.Linear(4, 3), dg.nn.Tanh(), dg.nn.Linear(3, 1)))
    tm.load_state_dict(load_file(str(tmp_path / "m.safetensors")))
    x = _x(np.float32)
    np.testing.assert_allclose(_torch_predict(tm, x), _dg_predict(m, x), rtol=1e-6, atol=1e-6)


def test_unsupported_modules_are_refused():
    with pytest.raises(TypeError, match=r"module '1' is torch.nn.GELU"):
        from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.GELU()))
    with pytest.raises(TypeError, match="float32 or float64 parameters, got torch.float16"):
        from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2).half()))
    with pytest.raises(TypeError, match="torch.nn.Sequential"):
        from_torch(torch.nn.Linear(2, 2))

    class Custom(dg.nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="module '1' is Custom"):
        to_torch(dg.nn.Sequential(dg.nn.Linear(2, 2), Custom()))
    with pytest.raises(TypeError, match="densegrad.nn.Sequential"):
        to_torch(dg.nn.Linear(2, 2))


def test_tensor_copies_a_torch_tensor_like_an_ndarray():
    """dg.tensor(torch_tensor): detached (torch's numpy() refuses a tensor that requires grad),
    copied, float32/float64 kept as for an ndarray (it became float32 whatever its dtype)."""
    t = torch.linspace(-1, 1, 6, dtype=torch.float64, requires_grad=True).reshape(2, 3)
    d = dg.tensor(t)
    assert d.dtype == np.float64 and not d.requires_grad
    assert d.tolist() == t.tolist()
    d.numpy()[0, 0] = 5.0  # a copy
    assert t[0, 0].item() == -1.0
    assert dg.tensor(t.T.float()).dtype == np.float32 and dg.tensor(t.T.float()).tolist() == t.T.float().tolist()
    assert dg.tensor(torch.arange(3), dtype=dg.float32).tolist() == [0.0, 1.0, 2.0]

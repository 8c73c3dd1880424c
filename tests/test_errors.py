"""Errors at the boundaries, and odd-but-valid inputs that must give the right answer.

1. One table of (description, call, exception type, message fragment), run by one parametrized
   test: the Python layer (PyTorch's wording; TypeError for a wrong type or dtype, ValueError
   for a wrong value or shape, RuntimeError for misuse of the tape or a module's state), then
   densegrad._core called directly, bypassing every Python check (the C++ bindings must refuse
   on their own: TypeError for non-arrays and wrong dtypes, ValueError for the rest).
2. Inputs the kernels cannot take as they are -- transposed, Fortran-order, sliced, negative
   strides, zero strides, read-only -- going through the public API, compared with the NumPy
   reference; an empty batch; NaN and Inf, whose pattern must match the reference's.
"""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from conftest import assert_close

import densegrad as dg
import densegrad.nn.functional as F
from densegrad import _core, nn

Act = _core.Activation
Red = _core.Reduction


def T(*shape, dtype=np.float32):
    """A tensor of ones (the values do not matter to the checks here)."""
    return dg.tensor(np.ones(shape, dtype=dtype))


def A(*shape, dtype=np.float32):
    """A C-contiguous, writeable NumPy array of ones."""
    return np.ones(shape, dtype=dtype)


def _torch():
    """torch, imported where a case needs it (a test dependency)."""
    import torch

    return torch


def _trainer():
    """A Trainer of a 3 -> 2 linear model."""
    model = nn.Sequential(nn.Linear(3, 2))
    return dg.train.Trainer(model, dg.optim.SGD(model.parameters(), lr=0.1))


def read_only(a):
    a.setflags(write=False)
    return a


def P(*shape):
    """A fresh list holding one parameter."""
    return [nn.Parameter(T(*shape))]


def _load(sd):
    return nn.Linear(3, 2).load_state_dict(sd)


def _backward_twice():
    x = T(2).requires_grad_()
    y = (x * x).sum()
    y.backward()
    y.backward()


_y, _z = _core.dense_forward(A(4, 3), A(2, 3), None, Act.leaky_relu, -0.5, True)
_SHARED = A(3)  # one array passed as two operands
_BUF = A(4)  # two overlapping views of one buffer: [0:3] and [1:4]


# ==================================================================================================
# the table
# ==================================================================================================

PYTHON_CASES = [
    # ---- matrix products
    ("matmul shapes", lambda: T(4, 3) @ T(5, 2), ValueError, "mat1 and mat2 shapes cannot be multiplied (4x3 and 5x2)"),
    ("matmul 1-D @ 2-D shapes", lambda: T(3) @ T(4, 2), ValueError, "(1x3 and 4x2)"),
    ("matmul 2-D @ 1-D shapes", lambda: T(2, 4) @ T(3), ValueError, "(2x4 and 3x1)"),
    ("matmul 1-D @ 1-D lengths", lambda: T(3) @ T(4), ValueError, "expected tensor [3] and src [4]"),
    ("matmul 3-D operand", lambda: T(2, 3, 4) @ T(4, 2), ValueError, "1-D and 2-D operands, got 3-D and 2-D"),
    ("matmul 3-D right operand", lambda: T(2, 4) @ T(2, 4, 2), ValueError, "got 2-D and 3-D"),
    ("matmul 0-d operand", lambda: T() @ T(3), ValueError, "at least 1D, but they are 0D and 1D"),
    ("matmul by a number", lambda: T(3) @ 2.0, ValueError, "at least 1D"),
    ("matmul float32 @ float64", lambda: T(2, 3) @ T(3, 2, dtype=np.float64), TypeError, "float32 and float64"),
    ("dg.matmul float64 @ float32", lambda: dg.matmul(T(3, dtype=np.float64), T(3)), TypeError, "float64 and float32"),
    ("matmul by a string", lambda: T(3) @ "a", TypeError, "unsupported operand"),
    # ---- linear
    ("linear in_features", lambda: F.linear(T(4, 3), T(2, 5)), ValueError, "(4x3 and 5x2)"),
    ("linear in_features 3-D input", lambda: F.linear(T(2, 2, 3), T(2, 5)), ValueError, "(4x3 and 5x2)"),
    ("Linear module in_features", lambda: nn.Linear(3, 2)(T(4, 5)), ValueError, "(4x5 and 3x2)"),
    ("linear bias shape", lambda: F.linear(T(4, 3), T(2, 3), T(3)), ValueError, "bias must have shape (2,)"),
    ("linear 2-D bias", lambda: F.linear(T(4, 3), T(2, 3), T(1, 2)), ValueError, "got (1, 2)"),
    ("linear 1-D weight", lambda: F.linear(T(4, 3), T(3)), ValueError, "weight must be 2-D"),
    ("linear 0-d input", lambda: F.linear(T(), T(2, 3)), ValueError, "at least one dimension"),
    ("linear float32 x, float64 w", lambda: F.linear(T(4, 3), T(2, 3, dtype=np.float64)), TypeError, "float32 and float64"),
    ("linear float64 bias", lambda: F.linear(T(4, 3), T(2, 3), T(2, dtype=np.float64)), TypeError, "float64"),
    ("linear ndarray input", lambda: F.linear(A(4, 3), T(2, 3)), TypeError, "input must be a densegrad Tensor, got numpy.ndarray"),
    # ---- torch tensors: the message names torch.Tensor (not "expected a Tensor, got Tensor")
    ("linear torch input", lambda: F.linear(_torch().ones(4, 3), T(2, 3)), TypeError, "got torch.Tensor"),
    ("tensor + torch tensor", lambda: T(3) + _torch().ones(3), TypeError, "densegrad and torch tensors do not mix"),
    ("torch tensor * tensor", lambda: _torch().ones(3) * T(3), TypeError, "densegrad and torch tensors do not mix"),
    ("tensor @ torch tensor", lambda: T(2, 3) @ _torch().ones(3, 2), TypeError, "convert the torch.Tensor first"),
    ("Trainer step torch x", lambda: _trainer().step(_torch().ones(4, 3), A(4, 2)), TypeError, "x must be a Tensor or ndarray, got torch.Tensor"),
    ("tensor of a torch int tensor", lambda: dg.tensor(_torch().arange(3)), TypeError, "expected float32 or float64, got int64"),
    ("tensor of a torch bfloat16 tensor", lambda: dg.tensor(_torch().ones(2, dtype=_torch().bfloat16)), TypeError, "got torch.bfloat16"),
    ("Sequential string index", lambda: nn.Sequential(nn.Linear(2, 1))["0"], TypeError, "indices must be integers, got str"),
    ("relu of an ndarray", lambda: F.relu(A(3)), TypeError, "got numpy.ndarray"),
    # ---- tensor construction: only float32/float64 arrays
    ("tensor int64 array", lambda: dg.tensor(np.arange(3)), TypeError, "got int64"),
    ("tensor float16 array", lambda: dg.tensor(A(3, dtype=np.float16)), TypeError, "got float16"),
    ("tensor complex array", lambda: dg.tensor(A(3, dtype=np.complex128)), TypeError, "got complex128"),
    ("tensor object array", lambda: dg.tensor(np.array([1.0, None])), TypeError, "got object"),
    ("tensor bool array", lambda: dg.tensor(np.array([True, False])), TypeError, "got bool"),
    ("tensor uint8 array", lambda: dg.tensor(A(3, dtype=np.uint8)), TypeError, "got uint8"),
    ("from_numpy int64", lambda: dg.from_numpy(np.arange(3)), TypeError, "got int64"),
    ("from_numpy float16", lambda: dg.from_numpy(A(3, dtype=np.float16)), TypeError, "got float16"),
    ("from_numpy complex", lambda: dg.from_numpy(A(3, dtype=np.complex64)), TypeError, "got complex64"),
    ("from_numpy object", lambda: dg.from_numpy(np.array([1.0, "a"], dtype=object)), TypeError, "got object"),
    ("from_numpy bool", lambda: dg.from_numpy(np.zeros(3, dtype=bool)), TypeError, "got bool"),
    ("from_numpy big-endian", lambda: dg.from_numpy(A(3, dtype=">f4")), TypeError, ">f4"),
    ("from_numpy of a list", lambda: dg.from_numpy([1.0, 2.0]), TypeError, "expected np.ndarray (got list)"),
    ("tensor of complex numbers", lambda: dg.tensor([1j, 2.0]), TypeError, "complex128"),
    ("tensor of strings", lambda: dg.tensor(["a", "b"]), TypeError, "expected real numbers"),
    ("tensor with dtype int64", lambda: dg.tensor([1.0], dtype=np.int64), TypeError, "got int64"),
    ("tensor with dtype float16", lambda: dg.tensor([1.0], dtype="float16"), TypeError, "got float16"),
    ("zeros with dtype int32", lambda: dg.zeros(2, dtype=np.int32), TypeError, "got int32"),
    ("to(int64)", lambda: T(3).to(np.int64), TypeError, "got int64"),
    ("ragged list", lambda: dg.tensor([[1.0, 2.0], [3.0]]), ValueError, "could not make a tensor from list"),
    ("ragged nested list", lambda: dg.tensor([[[1.0]], [[1.0, 2.0]]]), ValueError, "could not make a tensor"),
    ("zeros negative size", lambda: dg.zeros(-1, 2), ValueError, "negative dimension"),
    # ---- loss
    ("mse_loss shapes", lambda: F.mse_loss(T(3), T(3, 1)), ValueError, "input shape (3,) and target shape (3, 1) differ"),
    ("mse_loss transposed shapes", lambda: F.mse_loss(T(2, 3), T(3, 2)), ValueError, "differ"),
    ("mse_loss reduction", lambda: F.mse_loss(T(3), T(3), reduction="avg"), ValueError, "'avg' is not a valid value for reduction"),
    ("mse_loss reduction None", lambda: F.mse_loss(T(3), T(3), reduction=None), ValueError, "None is not a valid value"),
    ("MSELoss reduction", lambda: nn.MSELoss("elementwise_mean"), ValueError, "not a valid value for reduction"),
    ("mse_loss ndarray input", lambda: F.mse_loss(A(3), T(3)), TypeError, "input must be a densegrad Tensor"),
    # ---- Linear sizes
    ("Linear negative in_features", lambda: nn.Linear(-1, 2), ValueError, "in_features must be non-negative, got -1"),
    ("Linear negative out_features", lambda: nn.Linear(2, -3), ValueError, "out_features must be non-negative, got -3"),
    ("Linear float in_features", lambda: nn.Linear(2.0, 2), TypeError, "in_features must be an int, got float"),
    ("Linear float out_features", lambda: nn.Linear(2, 3.5), TypeError, "out_features must be an int, got float"),
    ("Linear bool in_features", lambda: nn.Linear(True, 2), TypeError, "got bool"),
    ("Linear int dtype", lambda: nn.Linear(2, 2, dtype=np.int32), TypeError, "got int32"),
    # ---- optimizers
    ("SGD negative lr", lambda: dg.optim.SGD(P(3), lr=-0.1), ValueError, "Invalid learning rate: -0.1"),
    ("SGD NaN lr", lambda: dg.optim.SGD(P(3), lr=float("nan")), ValueError, "Invalid learning rate: nan"),
    ("SGD negative momentum", lambda: dg.optim.SGD(P(3), lr=0.1, momentum=-0.5), ValueError, "Invalid momentum value: -0.5"),
    ("SGD negative weight_decay", lambda: dg.optim.SGD(P(3), lr=0.1, weight_decay=-1e-4), ValueError, "Invalid weight_decay value"),
    ("SGD nesterov without momentum", lambda: dg.optim.SGD(P(3), lr=0.1, nesterov=True), ValueError, "Nesterov momentum requires a momentum"),
    ("SGD nesterov with dampening", lambda: dg.optim.SGD(P(3), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "zero dampening"),
    ("SGD empty param list", lambda: dg.optim.SGD([], lr=0.1), ValueError, "optimizer got an empty parameter list"),
    ("SGD empty generator", lambda: dg.optim.SGD(nn.ReLU().parameters(), lr=0.1), ValueError, "empty parameter list"),
    ("SGD non-leaf param", lambda: dg.optim.SGD([P(3)[0] * 2.0], lr=0.1), ValueError, "can't optimize a non-leaf Tensor"),
    ("SGD a bare Tensor", lambda: dg.optim.SGD(P(3)[0], lr=0.1), TypeError, "should be an iterable of Tensors"),
    ("SGD an ndarray param", lambda: dg.optim.SGD([A(3)], lr=0.1), TypeError, "optimizer can only optimize Tensors"),
    ("SGD param twice", lambda: dg.optim.SGD(P(3) * 2, lr=0.1), ValueError, "more than one parameter group"),
    ("SGD non-contiguous param", lambda: dg.optim.SGD([dg.from_numpy(A(3, 4).T).requires_grad_()], lr=0.1), ValueError, "C-contiguous and writeable"),
    ("Adam negative lr", lambda: dg.optim.Adam(P(3), lr=-1e-3), ValueError, "Invalid learning rate: -0.001"),
    ("Adam beta1 = 1", lambda: dg.optim.Adam(P(3), betas=(1.0, 0.999)), ValueError, "Invalid beta parameter at index 0: 1.0"),
    ("Adam negative beta1", lambda: dg.optim.Adam(P(3), betas=(-0.1, 0.999)), ValueError, "index 0"),
    ("Adam beta2 > 1", lambda: dg.optim.Adam(P(3), betas=(0.9, 1.5)), ValueError, "Invalid beta parameter at index 1: 1.5"),
    ("Adam negative eps", lambda: dg.optim.Adam(P(3), eps=-1e-8), ValueError, "Invalid epsilon value"),
    ("Adam negative weight_decay", lambda: dg.optim.Adam(P(3), weight_decay=-0.1), ValueError, "Invalid weight_decay value"),
    ("Adam empty param list", lambda: dg.optim.Adam([]), ValueError, "empty parameter list"),
    ("Adam non-leaf param", lambda: dg.optim.Adam([P(3)[0] + 1.0]), ValueError, "non-leaf"),
    # ---- state dicts
    ("load_state_dict missing key", lambda: _load({"weight": A(2, 3)}), RuntimeError, 'Missing key(s) in state_dict: "bias".'),
    ("load_state_dict unexpected key", lambda: _load({"weight": A(2, 3), "bias": A(2), "extra": A(1)}), RuntimeError, 'Unexpected key(s) in state_dict: "extra".'),
    ("load_state_dict size mismatch", lambda: _load({"weight": A(3, 2), "bias": A(2)}), RuntimeError, "size mismatch for weight: copying a param with shape (3, 2)"),
    ("load_state_dict string values", lambda: _load({"weight": np.full((2, 3), "a"), "bias": A(2)}), RuntimeError, 'parameter named "weight"'),
    # ---- conversions and the tape
    ("item of 3 elements", lambda: T(3).item(), ValueError, "a Tensor with 3 elements cannot be converted to Scalar"),
    ("item of an empty tensor", lambda: T(0).item(), ValueError, "with 0 elements"),
    ("float of 3 elements", lambda: float(T(3)), ValueError, "cannot be converted to Scalar"),
    ("bool of 3 elements", lambda: bool(T(3)), RuntimeError, "is ambiguous"),
    ("len of a 0-d tensor", lambda: len(T()), TypeError, "0-d"),
    ("numpy() requiring grad", lambda: T(3).requires_grad_().numpy(), RuntimeError, "Can't call numpy() on Tensor that requires grad"),
    ("np.asarray requiring grad", lambda: np.asarray(T(3).requires_grad_()), RuntimeError, "detach().numpy()"),
    ("numpy() of a non-leaf", lambda: (T(3).requires_grad_() * 2.0).numpy(), RuntimeError, "requires grad"),
    ("backward of a non-scalar", lambda: (T(3).requires_grad_() * 2.0).backward(), RuntimeError, "only for scalar outputs"),
    ("backward, wrong gradient shape", lambda: (T(3).requires_grad_() * 2.0).backward(gradient=A(4)), ValueError, "Mismatch in shape"),
    ("backward, string gradient", lambda: (T(2).requires_grad_() * 2.0).backward(gradient=np.array(["a", "b"])), TypeError, "expected a float tensor"),
    ("backward through a freed graph", _backward_twice, RuntimeError, "Specify retain_graph=True"),
    ("requires_grad_(False) on a non-leaf", lambda: (T(3).requires_grad_() * 2.0).requires_grad_(False), RuntimeError, "leaf variables"),
    ("grad of the wrong shape", lambda: setattr(T(3), "grad", T(4)), ValueError, "assigned grad has shape (4,)"),
    ("grad of the wrong dtype", lambda: setattr(T(3), "grad", T(3, dtype=np.float64)), TypeError, "assigned grad has dtype float64"),
    ("tensor ** tensor", lambda: T(3) ** T(3), TypeError, "tensor ** number only"),
    ("add of unbroadcastable shapes", lambda: T(3) + T(4), ValueError, "could not be broadcast"),
    ("reshape to a wrong size", lambda: T(3).reshape(2, 2), ValueError, "shape (2, 2) is invalid for input of size 3"),
    ("sum over a missing dim", lambda: T(3, 4).sum(2), IndexError, "Dimension out of range"),
    ("mean over a missing negative dim", lambda: T(3, 4).mean(-3), IndexError, "but got -3"),
    ("t() of a 3-D tensor", lambda: T(2, 3, 4).t(), ValueError, "<= 2 dimensions"),
]

CORE_CASES = [
    # ---- gemm
    ("gemm of lists", lambda: _core.gemm([[1.0]], [[1.0]]), TypeError, "a must be a numpy.ndarray, got list"),
    ("gemm b a list", lambda: _core.gemm(A(1, 1), [[1.0]]), TypeError, "b must be a numpy.ndarray, got list"),
    ("gemm numpy scalar", lambda: _core.gemm(np.float32(1.0), A(1, 1)), TypeError, "got float32"),
    ("gemm None", lambda: _core.gemm(None, A(2, 2)), TypeError, "got NoneType"),
    ("gemm int64", lambda: _core.gemm(np.ones((2, 2), np.int64), np.ones((2, 2), np.int64)), TypeError, "got int64"),
    ("gemm b int32", lambda: _core.gemm(A(2, 2), np.ones((2, 2), np.int32)), TypeError, "got int32"),
    ("gemm float16", lambda: _core.gemm(A(2, 2, dtype=np.float16), A(2, 2, dtype=np.float16)), TypeError, "got float16"),
    ("gemm big-endian", lambda: _core.gemm(A(2, 2, dtype=">f8"), A(2, 2, dtype=">f8")), TypeError, ">f8"),
    ("gemm float32 @ float64", lambda: _core.gemm(A(2, 2), A(2, 2, dtype=np.float64)), TypeError, "expected float32 like the other operands, got float64"),
    ("gemm strided", lambda: _core.gemm(A(4, 4)[:, ::2], A(2, 2)), ValueError, "a must be C-contiguous"),
    ("gemm Fortran-order", lambda: _core.gemm(A(2, 2), np.asfortranarray(A(2, 3))), ValueError, "b must be C-contiguous"),
    ("gemm 1-D", lambda: _core.gemm(A(3), A(3, 2)), ValueError, "a must be 2-D, got shape (3,)"),
    ("gemm 3-D", lambda: _core.gemm(A(2, 2), A(1, 2, 2)), ValueError, "b must be 2-D, got shape (1, 2, 2)"),
    ("gemm shapes", lambda: _core.gemm(A(4, 3), A(5, 2)), ValueError, "(4x3 and 5x2)"),
    ("gemm shapes with trans_a", lambda: _core.gemm(A(4, 3), A(5, 2), trans_a=True), ValueError, "(3x4 and 5x2)"),
    ("gemm shapes with trans_b", lambda: _core.gemm(A(4, 3), A(2, 5), trans_b=True), ValueError, "(4x3 and 5x2)"),
    # ---- dense
    ("dense_forward lists", lambda: _core.dense_forward([[1.0]], [[1.0]]), TypeError, "x must be a numpy.ndarray"),
    ("dense_forward bias a list", lambda: _core.dense_forward(A(1, 1), A(1, 1), [1.0]), TypeError, "b must be a numpy.ndarray"),
    ("dense_forward int", lambda: _core.dense_forward(np.ones((2, 3), np.int64), np.ones((2, 3), np.int64)), TypeError, "got int64"),
    ("dense_forward float64 w", lambda: _core.dense_forward(A(4, 3), A(2, 3, dtype=np.float64)), TypeError, "w: expected float32"),
    ("dense_forward float64 b", lambda: _core.dense_forward(A(4, 3), A(2, 3), A(2, dtype=np.float64)), TypeError, "b: expected float32"),
    ("dense_forward shapes", lambda: _core.dense_forward(A(4, 3), A(2, 5)), ValueError, "(4x3 and 5x2)"),
    ("dense_forward bias shape", lambda: _core.dense_forward(A(4, 3), A(2, 3), A(3)), ValueError, "b must have shape (2,)"),
    ("dense_forward 2-D bias", lambda: _core.dense_forward(A(4, 3), A(2, 3), A(1, 2)), ValueError, "b must be 1-D"),
    ("dense_forward 1-D x", lambda: _core.dense_forward(A(3), A(2, 3)), ValueError, "x must be 2-D"),
    ("dense_forward 3-D x", lambda: _core.dense_forward(A(1, 4, 3), A(2, 3)), ValueError, "x must be 2-D"),
    ("dense_forward strided x", lambda: _core.dense_forward(A(4, 6)[:, ::2], A(2, 3)), ValueError, "x must be C-contiguous"),
    ("dense_forward transposed w", lambda: _core.dense_forward(A(4, 3), A(3, 2).T), ValueError, "w must be C-contiguous"),
    ("dense_forward strided b", lambda: _core.dense_forward(A(4, 3), A(2, 3), A(4)[::2]), ValueError, "b must be C-contiguous"),
    ("dense_backward no z", lambda: _core.dense_backward(A(4, 2), A(4, 3), A(2, 3), _y, None, Act.leaky_relu, -0.5), ValueError, "needs the pre-activation z"),
    ("dense_backward dy shape", lambda: _core.dense_backward(A(4, 3), A(4, 3), A(2, 3), _y, _z, Act.leaky_relu, -0.5), ValueError, "dy must have shape (4, 2), got (4, 3)"),
    ("dense_backward y shape", lambda: _core.dense_backward(A(4, 2), A(4, 3), A(2, 3), A(2, 4), _z, Act.tanh), ValueError, "dy and y must have the same shape"),
    ("dense_backward z shape", lambda: _core.dense_backward(A(4, 2), A(4, 3), A(2, 3), _y, A(2, 4), Act.leaky_relu, -0.5), ValueError, "dy and z must have the same shape"),
    ("dense_backward w and x", lambda: _core.dense_backward(A(4, 2), A(4, 3), A(2, 5), _y, _z, Act.leaky_relu, -0.5), ValueError, "does not match x"),
    ("dense_backward mixed dtypes", lambda: _core.dense_backward(A(4, 2, dtype=np.float64), A(4, 3), A(2, 3), _y, _z, Act.tanh), TypeError, "expected float64"),
    ("dense_backward strided dy", lambda: _core.dense_backward(A(4, 4)[:, ::2], A(4, 3), A(2, 3), _y, _z, Act.tanh), ValueError, "dy must be C-contiguous"),
    ("dense_backward lists", lambda: _core.dense_backward([[1.0]], A(1, 1), A(1, 1), A(1, 1)), TypeError, "dy must be a numpy.ndarray"),
    # ---- activations
    ("activation_forward list", lambda: _core.activation_forward([1.0], Act.relu), TypeError, "z must be a numpy.ndarray, got list"),
    ("activation_forward numpy scalar", lambda: _core.activation_forward(np.float64(1.0), Act.relu), TypeError, "got float64"),
    ("activation_forward int", lambda: _core.activation_forward(np.arange(3), Act.relu), TypeError, "got int64"),
    ("activation_forward strided", lambda: _core.activation_forward(A(4)[::2], Act.tanh), ValueError, "z must be C-contiguous"),
    ("activation_forward by name", lambda: _core.activation_forward(A(3), "relu"), TypeError, "incompatible function arguments"),
    ("activation_backward shapes", lambda: _core.activation_backward(A(3), A(4), None, Act.relu), ValueError, "dy and y must have the same shape, got (3,) and (4,)"),
    ("activation_backward no z", lambda: _core.activation_backward(A(3), A(3), None, Act.leaky_relu, 0.0), ValueError, "needs the pre-activation z"),
    ("activation_backward z shape", lambda: _core.activation_backward(A(3), A(3), A(4), Act.leaky_relu, -0.5), ValueError, "dy and z must have the same shape"),
    ("activation_backward dtypes", lambda: _core.activation_backward(A(3), A(3, dtype=np.float64), None, Act.relu), TypeError, "y: expected float32"),
    # ---- MSE
    ("mse_forward lists", lambda: _core.mse_forward([1.0], [1.0]), TypeError, "input must be a numpy.ndarray, got list"),
    ("mse_forward int", lambda: _core.mse_forward(np.arange(3), np.arange(3)), TypeError, "got int64"),
    ("mse_forward shapes", lambda: _core.mse_forward(A(3), A(4)), ValueError, "input and target must have the same shape, got (3,) and (4,)"),
    ("mse_forward broadcastable shapes", lambda: _core.mse_forward(A(3, 1), A(3)), ValueError, "got (3, 1) and (3,)"),
    ("mse_forward dtypes", lambda: _core.mse_forward(A(3), A(3, dtype=np.float64)), TypeError, "target: expected float32"),
    ("mse_forward strided", lambda: _core.mse_forward(A(6)[::2], A(3)), ValueError, "input must be C-contiguous"),
    ("mse_forward reduction by name", lambda: _core.mse_forward(A(3), A(3), "mean"), TypeError, "incompatible function arguments"),
    ("mse_backward dout size", lambda: _core.mse_backward(A(2), A(3), A(3), Red.mean), ValueError, "must have one element, got shape (2,)"),
    ("mse_backward dout shape", lambda: _core.mse_backward(A(2), A(3), A(3), Red.none), ValueError, "input and dout must have the same shape"),
    ("mse_backward dout dtype", lambda: _core.mse_backward(A(dtype=np.float64), A(3), A(3), Red.sum), TypeError, "dout: expected float32"),
    # ---- SGD
    ("sgd_step lists", lambda: _core.sgd_step([1.0], [1.0], lr=0.1), TypeError, "param must be a numpy.ndarray, got list"),
    ("sgd_step int", lambda: _core.sgd_step(np.ones(3, np.int64), np.ones(3, np.int64), lr=0.1), TypeError, "got int64"),
    ("sgd_step grad dtype", lambda: _core.sgd_step(A(3), A(3, dtype=np.float64), lr=0.1), TypeError, "grad: expected float32"),
    ("sgd_step strided param", lambda: _core.sgd_step(A(6)[::2], A(3), lr=0.1), ValueError, "param must be C-contiguous"),
    ("sgd_step read-only param", lambda: _core.sgd_step(read_only(A(3)), A(3), lr=0.1), ValueError, "param is read-only but is updated in place"),
    ("sgd_step read-only buffer", lambda: _core.sgd_step(A(3), A(3), read_only(A(3)), lr=0.1, momentum=0.9), ValueError, "momentum_buffer is read-only"),
    ("sgd_step param is grad", lambda: _core.sgd_step(_SHARED, _SHARED, lr=0.1), ValueError, "param and grad overlap in memory"),
    ("sgd_step overlapping views", lambda: _core.sgd_step(_BUF[:3], _BUF[1:], lr=0.1), ValueError, "overlap in memory"),
    ("sgd_step buffer is param", lambda: _core.sgd_step(_SHARED, A(3), _SHARED, lr=0.1, momentum=0.9), ValueError, "param and momentum_buffer overlap"),
    ("sgd_step buffer is grad", lambda: _core.sgd_step(A(3), _SHARED, _SHARED, lr=0.1, momentum=0.9), ValueError, "grad and momentum_buffer overlap"),
    ("sgd_step shapes", lambda: _core.sgd_step(A(3), A(4), lr=0.1), ValueError, "param and grad must have the same shape"),
    ("sgd_step buffer shape", lambda: _core.sgd_step(A(3), A(3), A(4), lr=0.1, momentum=0.9), ValueError, "param and momentum_buffer must have the same shape"),
    ("sgd_step negative lr", lambda: _core.sgd_step(A(3), A(3), lr=-0.1), ValueError, "invalid learning rate"),
    ("sgd_step NaN lr", lambda: _core.sgd_step(A(3), A(3), lr=float("nan")), ValueError, "invalid learning rate nan"),
    # the value as it reads back (std::to_string once wrote "-0.000000")
    ("sgd_step tiny negative lr", lambda: _core.sgd_step(A(3), A(3), lr=-1e-9), ValueError, "invalid learning rate -1e-09"),
    ("sgd_step negative momentum", lambda: _core.sgd_step(A(3), A(3), A(3), lr=0.1, momentum=-0.5), ValueError, "invalid momentum"),
    ("sgd_step negative weight_decay", lambda: _core.sgd_step(A(3), A(3), lr=0.1, weight_decay=-1.0), ValueError, "invalid weight_decay"),
    ("sgd_step nesterov without momentum", lambda: _core.sgd_step(A(3), A(3), lr=0.1, nesterov=True), ValueError, "nesterov momentum requires"),
    ("sgd_step momentum without buffer", lambda: _core.sgd_step(A(3), A(3), lr=0.1, momentum=0.9), ValueError, "needs a momentum_buffer"),
    ("sgd_step without lr", lambda: _core.sgd_step(A(3), A(3)), TypeError, "incompatible function arguments"),
    # ---- Adam
    ("adam_step step 0", lambda: _core.adam_step(A(3), A(3), A(3), A(3), step=0), ValueError, "step counts from 1, got 0"),
    ("adam_step negative step", lambda: _core.adam_step(A(3), A(3), A(3), A(3), step=-2), ValueError, "got -2"),
    ("adam_step negative lr", lambda: _core.adam_step(A(3), A(3), A(3), A(3), step=1, lr=-1e-3), ValueError, "invalid learning rate"),
    ("adam_step beta1 = 1", lambda: _core.adam_step(A(3), A(3), A(3), A(3), step=1, beta1=1.0), ValueError, "invalid beta parameter at index 0"),
    ("adam_step negative beta2", lambda: _core.adam_step(A(3), A(3), A(3), A(3), step=1, beta2=-0.1), ValueError, "invalid beta parameter at index 1"),
    ("adam_step negative eps", lambda: _core.adam_step(A(3), A(3), A(3), A(3), step=1, eps=-1.0), ValueError, "invalid epsilon"),
    ("adam_step amsgrad without buffer", lambda: _core.adam_step(A(3), A(3), A(3), A(3), step=1, amsgrad=True), ValueError, "amsgrad needs a max_exp_avg_sq"),
    ("adam_step exp_avg is exp_avg_sq", lambda: _core.adam_step(A(3), A(3), _SHARED, _SHARED, step=1), ValueError, "exp_avg and exp_avg_sq overlap"),
    ("adam_step param is grad", lambda: _core.adam_step(_SHARED, _SHARED, A(3), A(3), step=1), ValueError, "param and grad overlap"),
    ("adam_step max buffer is param", lambda: _core.adam_step(_SHARED, A(3), A(3), A(3), _SHARED, step=1, amsgrad=True), ValueError, "overlap in memory"),
    ("adam_step read-only exp_avg", lambda: _core.adam_step(A(3), A(3), read_only(A(3)), A(3), step=1), ValueError, "exp_avg is read-only"),
    ("adam_step read-only param", lambda: _core.adam_step(read_only(A(3)), A(3), A(3), A(3), step=1), ValueError, "param is read-only"),
    ("adam_step int", lambda: _core.adam_step(*(np.ones(3, np.int64),) * 4, step=1), TypeError, "got int64"),
    ("adam_step lists", lambda: _core.adam_step([1.0], [1.0], [1.0], [1.0], step=1), TypeError, "must be a numpy.ndarray"),
    ("adam_step shapes", lambda: _core.adam_step(A(3), A(3), A(4), A(3), step=1), ValueError, "param and exp_avg must have the same shape"),
    ("adam_step strided grad", lambda: _core.adam_step(A(3), A(6)[::2], A(3), A(3), step=1), ValueError, "grad must be C-contiguous"),
    ("adam_step dtypes", lambda: _core.adam_step(A(3), A(3), A(3, dtype=np.float64), A(3), step=1), TypeError, "exp_avg: expected float32"),
]

CASES = PYTHON_CASES + [("_core." + d, f, e, m) for d, f, e, m in CORE_CASES]


@pytest.mark.parametrize("desc,call,exc,fragment", CASES, ids=[c[0] for c in CASES])
def test_error(desc, call, exc, fragment):
    with pytest.raises(Exception) as info:
        call()
    # the exact type: a ValueError where a TypeError is promised is a bug, not a near miss
    assert type(info.value) is exc, f"{desc}: raised {type(info.value).__name__}: {info.value}"
    assert fragment in str(info.value), f"{desc}: message {str(info.value)!r} lacks {fragment!r}"


def test_table_descriptions_are_unique():
    descs = [c[0] for c in CASES]
    assert len(descs) == len(set(descs))


# ---- the valid neighbours of the errors above --------------------------------------------------


def test_python_ints_become_float32_and_bools_need_a_dtype():
    t = dg.tensor([1, 2, 3])
    assert t.dtype == dg.float32 and t.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(TypeError, match="bool"):  # a mask made float would index rows 1 and 0
        dg.tensor([[True, False]])
    assert dg.tensor([[True, False]], dtype=dg.float32).tolist() == [[1.0, 0.0]]
    assert dg.tensor(7).dtype == dg.float32 and dg.tensor(7).shape == ()


def test_non_float_arrays_convert_with_an_explicit_dtype():
    t = dg.tensor(np.arange(3), dtype=dg.float64)
    assert t.dtype == dg.float64 and t.tolist() == [0.0, 1.0, 2.0]
    assert dg.tensor(np.array([1.5], np.float16), dtype=dg.float32).tolist() == [1.5]
    be = dg.tensor(np.array([1.0, 2.0], ">f8"))  # a copy in native order, keeping float64
    assert be.dtype == dg.float64 and be.tolist() == [1.0, 2.0]


def test_load_state_dict_strict_false_reports_keys():
    m = nn.Linear(3, 2)
    keys = m.load_state_dict({"weight": np.full((2, 3), 0.5), "extra": A(1)}, strict=False)
    assert keys.missing_keys == ["bias"] and keys.unexpected_keys == ["extra"]
    assert np.all(m.weight.detach().numpy() == 0.5)


def test_rejected_load_state_dict_changes_nothing():
    m = nn.Linear(3, 2)
    before = m.weight.detach().numpy().copy()
    with pytest.raises(RuntimeError):
        m.load_state_dict({"weight": np.zeros((2, 3)), "bias": np.zeros(3)})  # weight fits, bias does not
    assert np.array_equal(m.weight.detach().numpy(), before)


@pytest.mark.parametrize(
    "call",
    [
        lambda p, g, b: _core.sgd_step(p, g, lr=-0.1),
        lambda p, g, b: _core.sgd_step(p, g, b[:2], lr=0.1, momentum=0.9),
        lambda p, g, b: _core.sgd_step(p, p, lr=0.1),
        lambda p, g, b: _core.adam_step(p, g, b, b, step=1),
        lambda p, g, b: _core.adam_step(p, g, b, b.copy(), step=0),
        lambda p, g, b: _core.adam_step(p, g, b, read_only(b.copy()), step=1),
    ],
    ids=["sgd lr", "sgd buffer shape", "sgd overlap", "adam overlap", "adam step 0", "adam read-only"],
)
def test_rejected_core_updates_touch_nothing(call):
    """The bindings check before they write: a refused in-place update leaves every array as it was."""
    p, g, b = np.array([1.0, 2.0, 3.0]), np.array([0.5, -0.5, 1.0]), np.array([0.25, 0.25, 0.25])
    before = [p.copy(), g.copy(), b.copy()]
    with pytest.raises(ValueError):
        call(p, g, b)
    for a, e in zip((p, g, b), before):
        assert np.array_equal(a, e)


def test_read_only_inputs_that_are_only_read_are_accepted():
    grad = read_only(np.array([1.0, 2.0]))
    p = np.zeros(2)
    _core.sgd_step(p, grad, lr=0.5)
    assert p.tolist() == [-0.5, -1.0]
    a = read_only(np.eye(2))
    assert _core.gemm(a, a).tolist() == [[1.0, 0.0], [0.0, 1.0]]


# ==================================================================================================
# odd layouts through the public API give the right answer
# ==================================================================================================


def _layouts(rng, rows, cols, dtype):
    """Arrays of shape (rows, cols) whose memory the kernels cannot take as it is."""
    big = rng.standard_normal((2 * rows + 1, 3 * cols + 2)).astype(dtype)
    ro = rng.standard_normal((rows, cols)).astype(dtype)
    ro.setflags(write=False)
    return {
        "transposed": rng.standard_normal((cols, rows)).astype(dtype).T,
        "fortran": np.asfortranarray(rng.standard_normal((rows, cols)).astype(dtype)),
        "sliced": big[1 : 2 * rows : 2, 2 : 2 + 3 * cols : 3],
        "negative strides": big[2 * rows : 0 : -2, 3 * cols + 1 : 0 : -3][:rows, :cols],
        "zero stride": np.broadcast_to(rng.standard_normal(cols).astype(dtype), (rows, cols)),
        "read-only": ro,
    }


LAYOUTS = ["transposed", "fortran", "sliced", "negative strides", "zero stride", "read-only"]


@pytest.mark.parametrize("make", [dg.from_numpy, dg.tensor], ids=["from_numpy", "tensor"])
@pytest.mark.parametrize("layout", LAYOUTS)
class TestOddLayouts:
    """Each layout as the input, and (where it is a parameter) as the weight."""

    def _pair(self, rng, dtype, layout, rows, cols):
        arr = _layouts(rng, rows, cols, dtype)[layout]
        assert arr.shape == (rows, cols)
        assert not (arr.flags.c_contiguous and arr.flags.writeable), "the layout must be odd"
        return arr

    def test_matmul(self, rng, dtype, layout, make):
        a = self._pair(rng, dtype, layout, 5, 7)
        b = self._pair(rng, dtype, layout, 7, 3)
        out = make(a) @ make(b)
        assert out.dtype == dtype
        assert_close(out, ref.matmul(a, b), dtype, what=f"{layout} @ {layout}")
        v = rng.standard_normal(7).astype(dtype)[::-1]  # a reversed 1-D operand
        assert_close(make(a) @ dg.from_numpy(v), ref.matmul(a, v[:, None])[:, 0], dtype, what="matrix @ reversed vector")

    def test_linear_forward_and_backward(self, rng, dtype, layout, make):
        x = self._pair(rng, dtype, layout, 6, 4)
        w = self._pair(rng, dtype, layout, 3, 4)
        b = rng.uniform(-1, 1, 6).astype(dtype)[::2]  # a strided bias
        xt, wt, bt = make(x).requires_grad_(), make(w).requires_grad_(), dg.from_numpy(b).requires_grad_()
        y = F.linear(xt, wt, bt)
        assert_close(y.detach(), ref.dense_forward(x, w, b, "identity")[0], dtype, what=f"linear {layout}")
        dy = rng.standard_normal((6, 3)).astype(dtype)
        y.backward(gradient=dy)
        dx, dw, db = ref.dense_backward(dy, x, w, b, "identity")
        assert_close(xt.grad, dx, dtype, what="dx")
        assert_close(wt.grad, dw, dtype, what="dw")
        assert_close(bt.grad, db, dtype, what="db")
        assert xt.grad.dtype == dtype and wt.grad.dtype == dtype

    def test_relu_and_activations(self, rng, dtype, layout, make):
        z = self._pair(rng, dtype, layout, 4, 5)
        t = make(z)
        assert_close(F.relu(t), ref.act("relu", z), dtype, what=f"relu {layout}")
        assert_close(F.leaky_relu(t, -0.5), ref.act("leaky_relu", z, -0.5), dtype, what="leaky_relu")
        assert_close(F.sigmoid(t), ref.act("sigmoid", z), dtype, what="sigmoid")
        assert_close(F.tanh(t), ref.act("tanh", z), dtype, what="tanh")
        tg = make(z).requires_grad_()
        dy = rng.standard_normal(z.shape).astype(dtype)
        F.leaky_relu(tg, 0.3).backward(gradient=dy)
        assert_close(tg.grad, dy * ref.act_grad("leaky_relu", z, 0.3), dtype, what="leaky_relu backward")

    def test_mse_loss(self, rng, dtype, layout, make):
        x = self._pair(rng, dtype, layout, 4, 3)
        y = self._pair(rng, dtype, layout, 4, 3)
        for reduction in ("mean", "sum", "none"):
            xt = make(x).requires_grad_()
            loss = F.mse_loss(xt, make(y), reduction=reduction)
            assert_close(loss.detach(), ref.mse(x, y, reduction), dtype, what=f"mse {reduction} {layout}")
            dout = np.ones(loss.shape, dtype)
            loss.backward(gradient=dout)
            assert_close(xt.grad, ref.mse_grad(x, y, reduction, dout), dtype, what=f"mse grad {reduction}")

    @pytest.mark.parametrize("fuse", [True, False], ids=["fused", "unfused"])
    def test_sequential(self, rng, dtype, layout, make, fuse):
        x = self._pair(rng, dtype, layout, 5, 4)
        model = nn.Sequential(nn.Linear(4, 6, dtype=dtype), nn.Tanh(), nn.Linear(6, 2, dtype=dtype), nn.LeakyReLU(-0.5))
        model.fuse = fuse
        xt = make(x).requires_grad_()
        out = model(xt)
        w1, b1, w2, b2 = (p.detach().numpy() for p in model.parameters())
        h, _ = ref.dense_forward(x, w1, b1, "tanh")
        expect, _ = ref.dense_forward(h, w2, b2, "leaky_relu", -0.5)
        assert_close(out.detach(), expect, dtype, what=f"Sequential {layout}")
        dy = rng.standard_normal(out.shape).astype(dtype)
        out.backward(gradient=dy)
        dh, dw2, _ = ref.dense_backward(dy, h, w2, b2, "leaky_relu", -0.5)
        dx, dw1, _ = ref.dense_backward(dh, x, w1, b1, "tanh")
        assert_close(xt.grad, dx, dtype, what="Sequential dx")
        assert_close(model[0].weight.grad, dw1, dtype, what="Sequential dw1")


def test_from_numpy_shares_memory_and_tensor_copies():
    a = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    shared, copied = dg.from_numpy(a), dg.tensor(a)
    a[0, 0] = 100.0
    assert shared.tolist()[0][0] == 100.0 and copied.tolist()[0][0] == 0.0
    assert copied.numpy().flags.c_contiguous


def test_in_place_update_of_a_read_only_array_is_refused():
    a = read_only(np.ones(3))
    t = dg.from_numpy(a)
    with pytest.raises(ValueError, match="read-only"):
        t += 1.0
    assert a.tolist() == [1.0, 1.0, 1.0]


# ==================================================================================================
# empty batches
# ==================================================================================================


@pytest.mark.parametrize("lead", [(0,), (0, 4), (3, 0)], ids=["0 rows", "0x4 rows", "3x0 rows"])
def test_linear_with_an_empty_batch(dtype, lead):
    layer = nn.Linear(3, 2, dtype=dtype)
    x = dg.zeros(*lead, 3, dtype=dtype, requires_grad=True)
    y = layer(x)
    assert y.shape == lead + (2,) and y.dtype == dtype
    y.backward(gradient=np.zeros(y.shape, dtype))
    assert x.grad.shape == x.shape
    assert layer.weight.grad.shape == (2, 3) and np.all(layer.weight.grad.numpy() == 0)
    assert layer.bias.grad.shape == (2,) and np.all(layer.bias.grad.numpy() == 0)


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "unfused"])
def test_sequential_with_an_empty_batch(dtype, fuse):
    model = nn.Sequential(nn.Linear(3, 4, dtype=dtype), nn.LeakyReLU(-0.5), nn.Linear(4, 2, dtype=dtype), nn.Sigmoid())
    model.fuse = fuse
    x = dg.zeros(0, 3, dtype=dtype, requires_grad=True)
    out = model(x)
    assert out.shape == (0, 2)
    loss = F.mse_loss(out, dg.zeros(0, 2, dtype=dtype), reduction="sum")
    assert loss.item() == 0.0
    loss.backward()
    assert x.grad.shape == (0, 3)
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert np.all(p.grad.numpy() == 0), f"{name} grad of an empty batch must be zero"
    mean_loss = F.mse_loss(model(x), dg.zeros(0, 2, dtype=dtype))
    assert np.isnan(mean_loss.item())  # the mean of nothing, as in PyTorch


def test_an_optimizer_step_on_an_empty_batch_changes_nothing():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    before = [p.detach().numpy().copy() for p in model.parameters()]
    opt = dg.optim.Adam(model.parameters(), lr=0.1)
    F.mse_loss(model(dg.zeros(0, 3)), dg.zeros(0, 1), reduction="sum").backward()
    opt.step()
    for p, b in zip(model.parameters(), before):
        assert np.array_equal(p.detach().numpy(), b)


def test_linear_with_zero_in_features(dtype):
    """x @ w.T is an empty sum: the output is the bias, broadcast over the batch."""
    layer = nn.Linear(0, 2, dtype=dtype)
    layer.load_state_dict({"weight": np.zeros((2, 0)), "bias": np.array([0.5, -1.5])})
    x = dg.zeros(4, 0, dtype=dtype, requires_grad=True)
    y = layer(x)
    assert y.tolist() == [[0.5, -1.5]] * 4
    y.sum().backward()
    assert layer.weight.grad.shape == (2, 0) and x.grad.shape == (4, 0)
    assert layer.bias.grad.tolist() == [4.0, 4.0]
    assert layer(dg.zeros(2, 3, 0, dtype=dtype)).shape == (2, 3, 2)


# ==================================================================================================
# NaN and Inf propagate as in the NumPy reference, without a crash
# ==================================================================================================


def _with_specials(rng, shape, dtype):
    """Signed normal values with NaN, +Inf and -Inf on the diagonal: one per row, so each row's
    result shows what one special value does (row 3 onwards stays finite)."""
    a = rng.standard_normal(shape)
    a[0, 0], a[1, 1], a[2, 2] = np.nan, np.inf, -np.inf
    return a.astype(dtype)


@pytest.mark.parametrize("act,slope", [("relu", 0.0), ("leaky_relu", 0.01), ("leaky_relu", -0.5), ("sigmoid", 0.0), ("tanh", 0.0)])
def test_nan_and_inf_through_activations(rng, dtype, act, slope):
    z = _with_specials(rng, (3, 4), dtype)
    fn = {"relu": F.relu, "leaky_relu": lambda t: F.leaky_relu(t, slope), "sigmoid": F.sigmoid, "tanh": F.tanh}[act]
    assert_close(fn(dg.from_numpy(z)), ref.act(act, z, slope), dtype, what=f"{act} with NaN/Inf")


@pytest.mark.parametrize("act", ["identity", "tanh", "sigmoid", "leaky_relu"])
def test_nan_and_inf_through_linear_forward_and_backward(rng, dtype, act):
    x = _with_specials(rng, (4, 3), dtype)
    w = rng.standard_normal((2, 3)).astype(dtype)
    b = rng.uniform(-1, 1, 2).astype(dtype)
    xt, wt, bt = dg.from_numpy(x).requires_grad_(), dg.from_numpy(w).requires_grad_(), dg.from_numpy(b).requires_grad_()
    y = F._dense(xt, wt, bt, act, 0.01)
    dy = rng.standard_normal((4, 2)).astype(dtype)
    y.backward(gradient=dy)
    with np.errstate(all="ignore"):  # inf - inf and 0 * inf in the reference are the point here
        y_ref, _ = ref.dense_forward(x, w, b, act)
        dx, dw, db = ref.dense_backward(dy, x, w, b, act)
    assert np.isnan(y_ref[0]).all() and np.isfinite(y_ref[3]).all()
    if act in ("identity", "leaky_relu"):  # tanh and sigmoid saturate Inf to a finite value
        assert np.isinf(y_ref[1:3]).all()
    assert_close(y.detach(), y_ref, dtype, what=f"dense {act} y")
    assert_close(xt.grad, dx, dtype, what="dx")
    assert_close(wt.grad, dw, dtype, what="dw")
    assert_close(bt.grad, db, dtype, what="db")


def test_nan_and_inf_through_matmul(rng, dtype):
    a = _with_specials(rng, (3, 4), dtype)
    b = rng.standard_normal((4, 5)).astype(dtype)
    with np.errstate(all="ignore"):
        expect = ref.matmul(a, b)
    assert_close(dg.from_numpy(a) @ dg.from_numpy(b), expect, dtype, what="matmul with NaN/Inf")
    assert_close(dg.from_numpy(b.T) @ dg.from_numpy(a.T), expect.T, dtype, what="transposed matmul with NaN/Inf")


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_nan_and_inf_through_mse_loss(rng, dtype, reduction):
    x = _with_specials(rng, (3, 4), dtype)
    y = rng.standard_normal((3, 4)).astype(dtype)
    xt = dg.from_numpy(x).requires_grad_()
    loss = F.mse_loss(xt, dg.from_numpy(y), reduction)
    with np.errstate(all="ignore"):
        expect = ref.mse(x, y, reduction)
        dout = np.ones(expect.shape)
        dexpect = ref.mse_grad(x, y, reduction, dout)
    assert_close(loss.detach(), expect, dtype, what=f"mse {reduction} with NaN/Inf")
    loss.backward(gradient=dout.astype(dtype))
    assert_close(xt.grad, dexpect, dtype, what=f"mse grad {reduction} with NaN/Inf")


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "unfused"])
def test_inf_input_saturates_through_tanh_in_sequential(rng, dtype, fuse):
    model = nn.Sequential(nn.Linear(3, 4, dtype=dtype), nn.Tanh(), nn.Linear(4, 2, dtype=dtype))
    model.fuse = fuse
    x = rng.standard_normal((3, 3)).astype(dtype)
    x[1, 0] = np.inf
    out = model(dg.from_numpy(x)).detach().numpy()
    w1, b1, w2, b2 = (p.detach().numpy() for p in model.parameters())
    with np.errstate(all="ignore"):
        h, _ = ref.dense_forward(x, w1, b1, "tanh")
        expect, _ = ref.dense_forward(h, w2, b2, "identity")
    assert np.isfinite(expect).all()  # tanh(+-Inf) = +-1: the Inf does not reach the output
    assert_close(out, expect, dtype, what="Sequential with an Inf input")

"""Tape behaviour, each PyTorch convention on its own: accumulation across backward calls,
fan-out, broadcast gradients, dtype promotion, seeds and their errors, freed graphs and
retain_graph, in-place modification checks, grad modes (also per thread), leaves and non-leaves,
node names, deep graphs, empty reductions, and zero_grad of modules and optimizers.

Values here are small and exact (sums of integers and halves) so most checks are equalities;
where a float result is compared, assert_close and the dtype's TOL entry are used.
"""

from __future__ import annotations

import operator
import threading

import numpy as np
import pytest
from conftest import assert_close

import densegrad as dg
import densegrad.nn.functional as F
from densegrad import nn


def leaf(values, dtype=np.float64):
    return dg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---- accumulation, fan-out, broadcasting ------------------------------------------------------


def test_two_backward_calls_accumulate_into_grad(rng):
    x = leaf(rng.standard_normal((3, 4)))
    w = leaf(rng.standard_normal((3, 4)))
    (x * w).sum().backward()
    first_x, first_w = x.grad.numpy().copy(), w.grad.numpy().copy()
    assert_close(first_x, w.detach().numpy(), what="d(x*w)/dx")
    (x * w).sum().backward()  # a second, separate graph: grads add, as in PyTorch
    assert_close(x.grad, 2 * first_x, what="x.grad after two backward calls")
    assert_close(w.grad, 2 * first_w, what="w.grad after two backward calls")
    (3.0 * x).sum().backward()  # a different graph touching only x
    assert_close(x.grad, 2 * first_x + 3.0, what="x.grad after a third graph")
    assert_close(w.grad, 2 * first_w, what="w.grad untouched by a graph without w")


def test_accumulation_does_not_write_into_a_previous_gradient_seen_elsewhere():
    """The first .grad is a fresh array: later accumulation must not alias the seed or a
    broadcast view handed out by an op's backward."""
    x = leaf([1.0, 2.0, 3.0])
    seed = np.array([1.0, 1.0, 1.0])
    x.backward(gradient=seed)  # backward on a leaf: its grad is the seed itself
    x.backward(gradient=seed)
    assert seed.tolist() == [1.0, 1.0, 1.0]
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
    y = leaf([1.0, 2.0])
    y.sum().backward()  # Sum's backward returns a read-only broadcast view
    y.sum().backward()
    assert y.grad.tolist() == [2.0, 2.0]


def test_fan_out_of_a_leaf():
    x = leaf([1.0, -2.0, 3.0])
    (x * x + x).sum().backward()  # x used three times: d/dx = 2x + 1
    assert x.grad.tolist() == [3.0, -3.0, 7.0]


def test_fan_out_of_a_non_leaf():
    x = leaf([1.0, -2.0, 3.0])
    h = x * 2.0
    out = (h * h).sum() + h.sum() + h[0] * 10.0  # h feeds three consumers; h[0] a fourth path
    out.backward()
    # d/dx = (2h + 1 + 10*[1,0,0]) * 2 with h = 2x
    assert x.grad.tolist() == [(2 * 2 + 1 + 10) * 2, (2 * -4 + 1) * 2, (2 * 6 + 1) * 2]


def test_diamond_graph_visits_each_node_once():
    x = leaf([2.0])
    a = x * 3.0
    b = a + 1.0
    c = a * 2.0
    (b * c).sum().backward()  # (3x + 1)(6x) = 18x^2 + 6x -> 36x + 6
    assert x.grad.tolist() == [78.0]


@pytest.mark.parametrize(
    "sa,sb",
    [((3, 1), (1, 4)), ((4,), (2, 3, 4)), ((2, 3, 4), (3, 1)), ((3, 4), ()), ((), (3, 4)), ((1, 1), (3,))],
)
def test_broadcast_gradient_is_summed_to_each_operand_shape(sa, sb):
    a, b = leaf(np.ones(sa)), leaf(np.ones(sb))
    out = a * 2.0 + b * 3.0
    out.sum().backward()
    n = out.numel()
    assert a.grad.shape == tuple(sa) and b.grad.shape == tuple(sb)
    # each element of an operand reaches n / its own size output elements
    assert np.all(a.grad.numpy() == 2.0 * n / a.numel())
    assert np.all(b.grad.numpy() == 3.0 * n / b.numel())


def test_broadcast_gradient_of_mul_sums_the_other_operand():
    a = leaf([[1.0], [2.0]])  # (2, 1)
    b = leaf([10.0, 20.0, 30.0])  # (3,)
    (a * b).sum().backward()
    assert a.grad.tolist() == [[60.0], [60.0]]
    assert b.grad.tolist() == [3.0, 3.0, 3.0]


# ---- dtype promotion ----------------------------------------------------------------------------


def test_0d_float64_does_not_promote_a_dimensioned_float32():
    a = leaf([1.0, 2.0, 3.0], np.float32)
    s = leaf(2.0, np.float64)
    total = a + s
    assert total.dtype == dg.float32 and total.tolist() == [3.0, 4.0, 5.0]
    assert (s + a).dtype == dg.float32  # either order
    out = total * s
    assert out.dtype == dg.float32
    out.sum().backward()
    # d/da (a + s) s = s; d/ds = sum(a + 2s)
    assert a.grad.dtype == dg.float32 and a.grad.tolist() == [2.0, 2.0, 2.0]
    assert s.grad.dtype == dg.float64 and s.grad.shape == () and s.grad.item() == 18.0


def test_dimensioned_float64_promotes_float32_and_grads_keep_each_leaf_dtype():
    a = leaf([1.0, 2.0, 3.0], np.float32)
    b = leaf([0.5, 0.25, 2.0], np.float64)
    out = a + b * a
    assert out.dtype == dg.float64
    out.sum().backward()
    assert a.grad.dtype == dg.float32 and b.grad.dtype == dg.float64
    assert a.grad.tolist() == [1.5, 1.25, 3.0]
    assert b.grad.tolist() == [1.0, 2.0, 3.0]


def test_python_number_and_0d_pair_keep_the_tensor_dtype():
    a = leaf(1.5, np.float32)
    assert (a * 2.0).dtype == dg.float32
    assert (a + leaf(1.0, np.float64)).dtype == dg.float64  # two 0-d tensors: float64 wins
    assert (leaf([1.0], np.float32) - np.array(2.0)).dtype == dg.float32  # 0-d ndarray constant


def test_cast_gradient_returns_in_the_source_dtype():
    a = leaf([1.0, 2.0], np.float32)
    (a.to(dg.float64) * 3.0).sum().backward()
    assert a.grad.dtype == dg.float32 and a.grad.tolist() == [3.0, 3.0]


# ---- seeds ------------------------------------------------------------------------------------


def test_backward_on_a_non_scalar_needs_a_gradient():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (x * 2.0).backward()
    assert x.grad is None


def test_backward_on_a_one_element_non_0d_tensor_is_implicit():
    x = leaf([[3.0]])
    (x * x).backward()
    assert x.grad.tolist() == [[6.0]]


def test_backward_with_a_gradient_of_the_wrong_shape():
    x = leaf([1.0, 2.0, 3.0])
    y = x * 2.0
    with pytest.raises(ValueError, match=r"Mismatch in shape: gradient has a shape of \(2,\) and output has a shape of \(3,\)"):
        y.backward(gradient=np.ones(2))
    with pytest.raises(ValueError, match="Mismatch in shape"):
        y.backward(gradient=dg.ones(3, 1, dtype=dg.float64))
    assert x.grad is None
    y.backward(gradient=dg.tensor([1.0, 0.5, -1.0]))  # a float32 seed is cast to the output dtype
    assert x.grad.tolist() == [2.0, 1.0, -2.0]


def test_backward_on_a_tensor_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        dg.tensor([1.0]).sum().backward()


# ---- freed graphs and retain_graph ----------------------------------------------------------------


def test_second_backward_through_a_freed_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()  # Mul saves both operands
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    assert x.grad.tolist() == [2.0, 4.0]  # the failed call added nothing


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    assert x.grad.tolist() == [4.0, 8.0]
    y.backward()  # the last one may free
    assert x.grad.tolist() == [6.0, 12.0]
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_graph_without_saved_arrays_can_run_backward_twice():
    """As in PyTorch: only nodes that saved arrays refuse a second backward."""
    x = leaf([1.0, 2.0])
    y = (x + 1.0).sum()
    y.backward()
    y.backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_freed_graph_shared_by_two_outputs():
    x = leaf([1.0, 2.0])
    h = x * x
    a, b = h.sum(), (h * 2.0).sum()
    a.backward()  # frees h's node
    with pytest.raises(RuntimeError, match="second time"):
        b.backward()


# ---- in-place modification of saved arrays -------------------------------------------------------


# name: (fn, shape of x, shape of w). Every op here saves both operands for backward (or a view
# of them, as matmul's (k,) -> (1, k) and linear's (*, in) -> (batch, in)).
SAVED_INPUT_CASES = {
    "mul": (lambda x, w: x * w, (3,), (3,)),
    "div": (lambda x, w: x / w, (3,), (3,)),
    "pow then mul": (lambda x, w: (x**2.0) * w, (3,), (3,)),
    "matmul 2d@2d": (lambda x, w: x @ w, (2, 3), (3, 4)),
    "matmul 1d@2d": (lambda x, w: x @ w, (3,), (3, 4)),
    "matmul 2d@1d": (lambda x, w: x @ w, (2, 3), (3,)),
    "matmul 1d@1d": (lambda x, w: x @ w, (3,), (3,)),
    "linear": (lambda x, w: F.linear(x, w), (2, 3), (4, 3)),
    "linear 1-D input": (lambda x, w: F.linear(x, w), (3,), (4, 3)),
    "linear 3-D input": (lambda x, w: F.linear(x, w), (2, 2, 3), (4, 3)),
    "dense leaky_relu(-0.5)": (lambda x, w: F._dense(x, w, None, "leaky_relu", -0.5), (2, 3), (4, 3)),
    "leaky_relu(-0.5) then mul": (lambda x, w: F.leaky_relu(x, -0.5) * w, (3,), (3,)),
    "mse_loss": (lambda x, w: F.mse_loss(x, w), (3,), (3,)),
}


@pytest.mark.parametrize("modified", ["x", "w"])
@pytest.mark.parametrize("case", list(SAVED_INPUT_CASES))
def test_modifying_a_saved_input_before_backward_raises(rng, case, modified):
    fn, sx, sw = SAVED_INPUT_CASES[case]
    x, w = leaf(rng.uniform(1.0, 2.0, sx)), leaf(rng.uniform(1.0, 2.0, sw))
    out = fn(x, w)
    with dg.no_grad():  # allowed here; the tape notices at backward
        (x if modified == "x" else w).__isub__(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


@pytest.mark.parametrize(
    "op",
    [lambda h: h.sigmoid(), lambda h: h.tanh(), lambda h: h.relu(), lambda h: 2.0**h],
    ids=["sigmoid", "tanh", "relu", "rpow"],
)
def test_modifying_a_saved_output_before_backward_raises(op):
    """These ops save their output for backward (sigmoid' = y(1 - y), ...): changing the output in
    place would silently change the gradient, so backward must refuse, as PyTorch does."""
    x = leaf([0.5, -1.0, 2.0])
    y = op(x * 1.0)
    with dg.no_grad():
        y *= 2.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_modifying_an_input_that_was_not_saved_is_allowed():
    x = leaf([1.0, 2.0])
    y = (x + 1.0).sum()  # Add saves nothing
    with dg.no_grad():
        x -= 1.0
    y.backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_modifying_a_non_leaf_saved_input_raises():
    x = leaf([1.0, 2.0])
    h = x * 3.0
    y = (h * h).sum()
    with dg.no_grad():
        h += 1.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


ALIASES = {
    # Tensors that share memory with h through densegrad share its version counter (PyTorch too).
    "detach": lambda h: h.detach(),
    "detach().reshape": lambda h: h.detach().reshape(3, 1),
    "detach().T": lambda h: h.detach().reshape(1, 3).T,
    "reshape under no_grad": lambda h: h.reshape(-1),
    "view under no_grad": lambda h: h.view(3, 1),
    "T under no_grad": lambda h: h.reshape(1, 3).T,
    "Parameter(detach)": lambda h: dg.nn.Parameter(h.detach(), requires_grad=False),
}


@pytest.mark.parametrize("alias", list(ALIASES))
def test_changing_a_saved_tensor_through_an_alias_raises(alias):
    """h * h saves h; changing h's memory in place through another tensor would make backward
    silently use the new values (grad 2 * new h instead of 2 * h)."""
    x = leaf([1.0, 2.0, 3.0])
    h = x * 1.0
    y = (h * h).sum()
    with dg.no_grad():
        a = ALIASES[alias](h)
        assert np.shares_memory(a.detach().numpy(), h.detach().numpy())
        a += 1.0
    assert h._version == a._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_changing_a_saved_parameter_through_the_state_dict_raises(rng):
    model = dg.nn.Sequential(dg.nn.Linear(3, 2), dg.nn.ReLU(), dg.nn.Linear(2, 1))
    loss = model(dg.from_numpy(rng.standard_normal((4, 3)).astype(np.float32))).sum()
    with dg.no_grad():
        model.state_dict()["2.weight"] *= 2.0  # the dense backward reads this weight for dX
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_a_copy_does_not_share_the_version_counter():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    h = x * 1.0
    y = (h * h).sum()
    with dg.no_grad():  # the last one: a transpose is not contiguous, flattening it copies
        for copy in (h.clone(), h[[0]], dg.tensor(h.detach()), h.T.reshape(4)):  # (h[[0]]: advanced indexing)
            assert not np.shares_memory(copy.detach().numpy(), h.detach().numpy())
            copy += 1.0
    assert h._version == 0
    y.backward()
    assert x.grad.tolist() == [[2.0, 4.0], [6.0, 8.0]]


def test_basic_indexing_outside_the_graph_is_a_view_that_backward_checks():
    """As in PyTorch: under no_grad, h[0:1] and h[1] are views of h (they were copies, so an
    in-place change of them was lost); changing one bumps h's version counter, and a backward
    that saved h refuses."""
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    h = x * 1.0
    y = (h * h).sum()
    with dg.no_grad():
        row = h[1]
        assert np.shares_memory(row.numpy(), h.detach().numpy())
        row += 1.0
    assert h.tolist() == [[1.0, 2.0], [4.0, 5.0]] and h._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_data_is_not_tracked_as_in_pytorch():
    """.data is the documented escape hatch: same memory, own version counter (PyTorch's rule),
    so a change through it is not seen by backward -- use detach() to have it checked."""
    x = leaf([1.0, 2.0])
    h = x * 1.0
    y = (h * h).sum()
    with dg.no_grad():
        h.data.__iadd__(1.0)
    assert h._version == 0 and h.detach().tolist() == [2.0, 3.0]
    y.backward()
    assert x.grad.tolist() == [4.0, 6.0]  # 2 * the changed h


# ---- grad modes -------------------------------------------------------------------------------


def test_no_grad_context_manager():
    x = leaf([1.0])
    with dg.no_grad():
        assert not dg.is_grad_enabled()
        y = x * 2.0
        with dg.enable_grad():
            assert dg.is_grad_enabled()
            z = x * 2.0
        assert not dg.is_grad_enabled()
    assert dg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(KeyError):
        with dg.no_grad():
            raise KeyError("boom")
    assert dg.is_grad_enabled()


def test_no_grad_and_enable_grad_as_decorators():
    x = leaf([1.0])

    @dg.no_grad()
    def f(t):
        return t * 2.0, dg.is_grad_enabled()

    @dg.enable_grad()
    def g(t):
        return t * 2.0, dg.is_grad_enabled()

    y, mode = f(x)
    assert not mode and not y.requires_grad
    assert dg.is_grad_enabled()
    with dg.no_grad():
        z, mode = g(x)
        assert not dg.is_grad_enabled()
    assert mode and z.requires_grad
    assert f.__name__ == "f"  # functools.wraps


def test_grad_mode_decorators_without_parentheses_and_on_generators():
    """As in PyTorch: ``@no_grad`` works bare, and a decorated generator's body runs in the mode
    at every resumption, while the code between its yields keeps its own mode (a generator once
    ran outside the mode: only the call that creates it was wrapped)."""
    x = leaf([1.0])

    @dg.no_grad
    def f(t):
        return t * 2.0

    assert not f(x).requires_grad and f.__name__ == "f"

    @dg.no_grad()
    def gen(t, n):
        got = yield t * 2.0, dg.is_grad_enabled()
        for _ in range(n):
            got = yield t * got, dg.is_grad_enabled()
        return "done"

    g = gen(x, 2)
    y, mode = next(g)
    assert not mode and not y.requires_grad
    assert dg.is_grad_enabled() and (x * 2.0).requires_grad  # between the yields: the caller's mode
    y, mode = g.send(3.0)
    assert not mode and not y.requires_grad and y.item() == 3.0
    g.send(1.0)
    with pytest.raises(StopIteration) as stop:
        next(g)
    assert stop.value.value == "done"

    @dg.enable_grad
    def eg():
        yield dg.is_grad_enabled()

    with dg.no_grad():
        assert list(eg()) == [True]
        assert not dg.is_grad_enabled()

    @dg.set_grad_enabled(False)
    def sg():
        try:
            yield dg.is_grad_enabled()
        except KeyError:
            yield ("caught", dg.is_grad_enabled())

    s = sg()
    assert next(s) is False
    assert s.throw(KeyError("k")) == ("caught", False)
    s.close()
    assert dg.is_grad_enabled()
    with pytest.raises(TypeError, match="takes no arguments"):
        dg.no_grad(3)


def test_set_grad_enabled_as_function_context_manager_and_decorator():
    x = leaf([1.0])
    try:
        dg.set_grad_enabled(False)  # a plain call switches the mode
        assert not dg.is_grad_enabled()
        assert not (x * 2.0).requires_grad
    finally:
        dg.set_grad_enabled(True)
    assert dg.is_grad_enabled()
    with dg.set_grad_enabled(False):
        assert not (x * 2.0).requires_grad
        with dg.set_grad_enabled(True):
            assert (x * 2.0).requires_grad
        assert not dg.is_grad_enabled()
    assert dg.is_grad_enabled()

    @dg.set_grad_enabled(False)
    def f():
        return dg.is_grad_enabled()

    assert dg.is_grad_enabled()  # decorating does not switch the mode by itself
    assert f() is False
    assert dg.is_grad_enabled()


def test_grad_mode_is_per_thread():
    seen = {}
    inside = threading.Event()
    release = threading.Event()

    def worker():
        seen["enabled"] = dg.is_grad_enabled()
        seen["records"] = (leaf([1.0]) * 2.0).requires_grad
        with dg.no_grad():
            inside.set()
            release.wait(10)

    with dg.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        assert inside.wait(10)
        assert not dg.is_grad_enabled()
    assert dg.is_grad_enabled()  # the worker's no_grad is still open, and not ours
    assert (leaf([1.0]) * 2.0).requires_grad
    release.set()
    t.join(10)
    assert seen == {"enabled": True, "records": True}


# ---- leaves, non-leaves, detach, data ----------------------------------------------------------


def test_requires_grad_flag_on_non_leaf():
    x = leaf([1.0])
    y = x * 2.0
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad_(False)
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad = False
    assert y.requires_grad
    y.requires_grad_(True)  # a no-op on a non-leaf, allowed as in PyTorch
    x.requires_grad_(False)
    assert not x.requires_grad and not (x * 2.0).requires_grad


IN_PLACE = {
    "+=": lambda t: operator.iadd(t, 2.0),
    "-=": lambda t: operator.isub(t, 2.0),
    "*=": lambda t: operator.imul(t, 2.0),
    "/=": lambda t: operator.itruediv(t, 2.0),
    "zero_": lambda t: t.zero_(),
}


@pytest.mark.parametrize("op", list(IN_PLACE))
def test_in_place_op_on_a_leaf_that_requires_grad(op):
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        IN_PLACE[op](x)
    assert x.detach().tolist() == [1.0, 2.0] and x._version == 0
    with dg.no_grad():
        assert IN_PLACE[op](x) is x
    assert x.detach().tolist() != [1.0, 2.0] and x._version == 1


def test_in_place_op_on_a_non_leaf_outside_no_grad_raises():
    x = leaf([1.0, 2.0])
    y = x * 2.0
    with pytest.raises(RuntimeError, match="in-place operations are not recorded"):
        y += 1.0
    c = dg.tensor([1.0, 2.0], dtype=dg.float64)
    with pytest.raises(RuntimeError, match="not recorded"):
        c += x  # the other operand requires grad


def test_detach_shares_memory_and_has_no_grad_fn():
    x = leaf([1.0, 2.0])
    y = x * 2.0
    d = y.detach()
    assert d.grad_fn is None and d.is_leaf and not d.requires_grad
    assert np.shares_memory(d.numpy(), y.detach().numpy())
    d.numpy()[0] = 7.0
    assert y.detach().tolist() == [7.0, 4.0]
    assert x.detach().grad_fn is None


def test_retain_grad_on_a_non_leaf():
    x = leaf([1.0, 2.0])
    h = x * 3.0
    h.retain_grad()
    k = x * 4.0  # not retained
    (h * h + k).sum().backward()
    assert not h.is_leaf and h.grad is not None
    assert h.grad.tolist() == [6.0, 12.0]  # 2h
    assert k.grad is None
    assert x.grad.tolist() == [22.0, 40.0]  # 2h * 3 + 4


def test_retain_grad_accumulates_like_a_leaf():
    x = leaf([1.0])
    h = x * 3.0
    h.retain_grad()
    y = (h * h).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert h.grad.tolist() == [12.0]


def test_retain_grad_without_requires_grad_raises():
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        dg.tensor([1.0]).retain_grad()


def test_data_and_grad_data():
    x = leaf([1.0, 2.0])
    d = x.data
    assert not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.numpy(), x.detach().numpy())
    (x * x).sum().backward()
    gd = x.grad.data
    assert gd.tolist() == [2.0, 4.0]
    assert np.shares_memory(gd.numpy(), x.grad.numpy())
    d.numpy()[1] = 5.0  # .data bypasses the tape and writes the leaf's values
    assert x.detach().tolist() == [1.0, 5.0]
    x.data = np.array([3.0, 4.0])  # replacing .data keeps the leaf
    assert x.is_leaf and x.requires_grad and x.detach().tolist() == [3.0, 4.0]


def test_leaf_status_and_grad_fn_names():
    x = leaf([[1.0, -2.0]])
    w = leaf([[0.5, 0.25]])
    assert x.is_leaf and x.grad_fn is None
    assert dg.tensor([1.0]).is_leaf
    names = {
        "ReluBackward0": F.relu(x),
        "LeakyReluBackward0": F.leaky_relu(x),
        "SigmoidBackward0": x.sigmoid(),
        "TanhBackward0": x.tanh(),
        "MseLossBackward0": F.mse_loss(x, w),
        "SubBackward0": x - w,
        "AddBackward0": x + 1.0,
        "MulBackward0": x * w,
        "DivBackward0": x / 2.0,
        "NegBackward0": -x,
        "PowBackward0": x**2,
        "MatMulBackward0": x @ w.T,
        "SumBackward0": x.sum(),
        "MeanBackward0": x.mean(),
    }
    for name, t in names.items():
        assert not t.is_leaf, name
        assert t.grad_fn.name() == name
        assert f"grad_fn=<{name}>" in repr(t)
    # edges point at the inputs: x directly (a leaf accumulates), a constant as None
    assert (x - 1.0).grad_fn.next_functions[0] is x
    assert (x - 1.0).grad_fn.next_functions[1] is None
    h = x * 2.0
    assert (h + 1.0).grad_fn.next_functions[0] is h.grad_fn


def test_graph_is_not_recorded_when_no_input_requires_grad():
    a = dg.tensor([1.0, 2.0])
    y = (a * 2.0).relu().sum()
    assert y.is_leaf and y.grad_fn is None and not y.requires_grad


# ---- deep graphs and empty reductions --------------------------------------------------------------


def test_deep_chain_backpropagates_without_recursion_error():
    x = leaf([1.0, -1.0])
    y = x
    for _ in range(5000):
        y = y * 1.0001 + 0.0  # 10000 nodes
    y.sum().backward()
    assert_close(x.grad, np.full(2, 1.0001**5000), what="d/dx of a 5000-step chain")


def test_mean_of_an_empty_tensor_is_nan_and_its_gradient_is_empty():
    x = dg.zeros(0, 3, requires_grad=True)
    m = x.mean()
    assert m.shape == () and np.isnan(m.item())
    m.backward()
    assert x.grad.shape == (0, 3) and x.grad.dtype == dg.float32
    x.grad = None
    m0 = x.mean(0)  # a mean over the empty axis of each column
    assert m0.shape == (3,) and np.all(np.isnan(m0.detach().numpy()))
    m0.backward(gradient=np.ones(3))
    assert x.grad.shape == (0, 3)
    m1 = x.mean(1)  # reducing the non-empty axis of no rows: empty, not NaN
    assert m1.shape == (0,)
    s = x.sum()
    assert s.item() == 0.0


# ---- zero_grad --------------------------------------------------------------------------------


def _model_with_grads(rng):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = dg.tensor(rng.standard_normal((5, 3)).astype(np.float32))
    F.mse_loss(model(x), dg.zeros(5, 2)).backward()
    params = list(model.parameters())
    assert len(params) == 4 and all(p.grad is not None for p in params)
    assert any(np.any(p.grad.numpy() != 0) for p in params)
    return model, params


def test_module_zero_grad_sets_to_none_by_default(rng):
    model, params = _model_with_grads(rng)
    model.zero_grad()
    assert all(p.grad is None for p in params)
    model.zero_grad()  # on None grads: nothing to do
    assert all(p.grad is None for p in params)


def test_module_zero_grad_set_to_none_false_zeros_in_place(rng):
    model, params = _model_with_grads(rng)
    before = [(p.grad, p.grad.numpy()) for p in params]
    model.zero_grad(set_to_none=False)
    for p, (g, arr) in zip(params, before):
        assert p.grad is g and p.grad.numpy() is arr  # same tensor, same memory
        assert np.all(arr == 0)


@pytest.mark.parametrize("make_opt", [lambda ps: dg.optim.SGD(ps, lr=0.1), lambda ps: dg.optim.Adam(ps)], ids=["SGD", "Adam"])
def test_optimizer_zero_grad(rng, make_opt):
    model, params = _model_with_grads(rng)
    opt = make_opt(model.parameters())
    before = [p.grad for p in params]
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is g and np.all(g.numpy() == 0) for p, g in zip(params, before))
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_zero_grad_then_backward_starts_from_zero(rng):
    model, params = _model_with_grads(rng)
    x = dg.tensor(rng.standard_normal((5, 3)).astype(np.float32))
    model.zero_grad(set_to_none=False)
    F.mse_loss(model(x), dg.zeros(5, 2)).backward()
    after_zeroing = [p.grad.numpy().copy() for p in params]
    model.zero_grad()
    F.mse_loss(model(x), dg.zeros(5, 2)).backward()
    for p, g in zip(params, after_zeroing):
        assert_close(g, p.grad, what="grad after zero_grad(set_to_none=False) vs after set_to_none")


def test_a_view_made_with_grad_on_shares_the_counter():
    x = leaf([1.0, 2.0, 3.0])
    h = x * 1.0
    y = (h * h).sum()
    v = h.reshape(3, 1)  # recorded: v has a grad_fn and aliases h
    assert v.grad_fn is not None and np.shares_memory(v.detach().numpy(), h.detach().numpy())
    with dg.no_grad():
        v += 1.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_a_parameter_that_copies_does_not_share_the_counter():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    h = x * 1.0
    y = (h * h).sum()
    p = dg.nn.Parameter(h.detach().T, requires_grad=False)  # not C-contiguous: copied
    assert not np.shares_memory(p.detach().numpy(), h.detach().numpy())
    with dg.no_grad():
        p += 1.0
    y.backward()
    assert h._version == 0 and x.grad.tolist() == [[2.0, 4.0], [6.0, 8.0]]


def test_new_memory_gets_its_own_counter():
    """Assigning .data, or converting a module's dtype, gives the tensor new memory: its former
    aliases (which still hold the old memory) must not be flagged as modified."""
    x = leaf([1.0, 2.0, 3.0])
    h = x * 1.0
    y = (h * h).sum()
    d = h.detach()
    d.data = dg.zeros(3, dtype=dg.float64)
    assert d._version == 1 and h._version == 0
    m = dg.nn.Module()
    m.p = dg.nn.Parameter(h.detach(), requires_grad=False)
    m.float()
    assert m.p.dtype == dg.float32 and h._version == 0
    y.backward()
    assert x.grad.tolist() == [2.0, 4.0, 6.0]
    h2 = x * 1.0
    y2 = (h2 * h2).sum()
    h2.data = dg.zeros(3, dtype=dg.float64)  # the tensor itself: its own version moves on
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y2.backward()


def test_a_custom_view_function_that_saves_its_input():
    """Function.view shares the input's counter before the node records versions, so a view
    op that saves tensors works on an input already changed in place before the op."""

    class Flatten(dg.autograd.Function):
        view = True

        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            ctx.shape = a.shape
            return a.reshape(-1)

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g.reshape(ctx.shape) * 2.0

    x = leaf([[1.0, 2.0]])
    h = x + 0.0  # Add saves nothing: changing h in place is allowed for its own backward
    with dg.no_grad():
        h += 1.0  # h is at version 1 before the op
    f = Flatten.apply(h)
    assert f._version == h._version == 1
    f.sum().backward()
    assert x.grad.tolist() == [[2.0, 2.0]]
    h3 = x + 0.0
    f3 = Flatten.apply(h3)
    with dg.no_grad():
        h3 += 1.0  # after the op: backward must refuse
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        f3.sum().backward()


class _PickledBeforeSharedCounters:
    """Pickles as a Tensor did when it had an int `_version` slot."""

    def __reduce__(self):
        state = {"_data": np.array([1.0, 2.0]), "_requires_grad": False, "_grad": None, "_grad_fn": None, "_version": 3}
        return object.__new__, (dg.Tensor,), (None, state)


def test_pickles_old_and_new():
    import pickle

    old = pickle.loads(pickle.dumps(_PickledBeforeSharedCounters()))
    assert isinstance(old, dg.Tensor) and old.tolist() == [1.0, 2.0] and old._version == 3
    old += 1.0
    assert old._version == 4
    h = dg.tensor([1.0, 2.0])
    pair = pickle.loads(pickle.dumps((h, h.detach())))
    pair[1].__iadd__(1.0)
    assert pair[0]._version == pair[1]._version == 1  # one pickle keeps the sharing


@pytest.mark.parametrize("protocol", range(6))
def test_pickle_every_protocol_keeps_leaves_and_drops_graphs(protocol):
    import pickle

    x = leaf([1.0, 2.0])
    y = x * x
    y.retain_grad()
    y.sum().backward()
    back_x, back_y = pickle.loads(pickle.dumps((x, y), protocol=protocol))
    assert back_x.tolist() == [1.0, 2.0] and back_x.requires_grad and back_x.is_leaf
    assert back_x.grad.tolist() == [2.0, 4.0]
    # a non-leaf comes back as a leaf that requires grad, without its graph, as in PyTorch
    assert back_y.tolist() == [1.0, 4.0] and back_y.is_leaf and back_y.requires_grad
    (back_y * 3.0).sum().backward()
    assert back_y.grad.tolist() == [4.0, 4.0]  # 1 retained from before + 3
    assert back_x.grad.tolist() == [2.0, 4.0]  # untouched: the graph was not pickled


def test_deepcopy_refuses_non_leaves_and_copies_leaves_as_pytorch():
    import copy

    x = leaf([1.0, 2.0])
    y = x * x
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        copy.deepcopy(y)
    (d := copy.deepcopy(y.detach())).__iadd__(1.0)
    assert d.tolist() == [2.0, 5.0] and y.tolist() == [1.0, 4.0]
    h = dg.tensor([1.0, 2.0])
    a, b = copy.deepcopy((h, h.detach()))
    b.__iadd__(1.0)  # the copies share memory and version counter as the originals do
    assert a.tolist() == [2.0, 3.0] and a._version == b._version == 1 and h.tolist() == [1.0, 2.0]
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        copy.deepcopy(torch.tensor([1.0], requires_grad=True) * 2)

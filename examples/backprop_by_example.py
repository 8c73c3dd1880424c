"""Backpropagation by example, with densegrad.

The four tiny ReLU/MSE networks of the "backpropagation by example" notebook, written exactly as
that notebook writes them for PyTorch (``import densegrad as dg`` in place of ``import torch``):
one neuron; a 1-1-1 chain; 1-2-1; 1-2-2-1. Every printed tensor matches the notebook's PyTorch
output digit for digit. After each backward pass, every gradient is also worked out by hand with
the chain rule -- the product is printed with its numbers -- and compared with autograd.

Run it with ``python -m densegrad example`` or ``python examples/backprop_by_example.py``.
Options: ``--check-torch`` runs each network again in PyTorch (when installed) and compares the
prediction, the loss and every gradient; ``--graphs DIR`` writes each network's autograd graph
to DIR as Graphviz DOT, and as SVG when Graphviz's ``dot`` program is installed.
"""

import argparse
import os
import shutil
import sys

import densegrad as dg


def activation_function(input):
    relu = dg.nn.ReLU()
    return relu(input)


def loss_function(prediction, actual):
    mse_loss = dg.nn.MSELoss()
    return mse_loss(prediction, actual)


# ---- checking autograd against the chain rule, by hand ------------------------------------------
#
# Each network is  a_0 = inputs,  a_l = relu(a_{l-1} @ W_l + b_l),  loss = mean((a_L - actual)^2),
# with W_l of shape (inputs, outputs) as in the notebook. Going backwards, the chain rule gives
#   delta_L = 2 (a_L - actual) / n * relu'(a_L)            (the MSE derivative times relu')
#   delta_l[i] = sum_j delta_{l+1}[j] * W_{l+1}[i, j] * relu'(a_l[i])
#   dL/dW_l[i, j] = delta_l[j] * a_{l-1}[i]      dL/db_l[j] = delta_l[j]
# The hand calculation below uses plain Python floats, not densegrad.


def _f(v):
    return f"{v:.4g}"


def _relu_grad(a):
    return 1.0 if a > 0 else 0.0


def check_by_hand(inputs, actual, layers):
    """Print every gradient of `layers` ([(W, b), ...] after backward) as a chain-rule product
    next to autograd's value; return True when all agree."""
    acts = [[float(v) for v in inputs.tolist()]]
    for W, b in layers:  # forward again, by hand
        w, bias, prev = W.detach().tolist(), b.detach().tolist(), acts[-1]
        acts.append([max(0.0, sum(prev[i] * w[i][j] for i in range(len(prev))) + bias[j]) for j in range(len(bias))])
    target = [float(v) for v in actual.tolist()]
    out = acts[-1]
    n = len(out)
    ok = True
    delta = []
    for j in range(n):
        d = 2 * (out[j] - target[j]) / n * _relu_grad(out[j])
        scale = "" if n == 1 else f" / {n}"
        print(f"  output delta[{j}] = 2({_f(out[j])} - {_f(target[j])}){scale} * {_f(_relu_grad(out[j]))} = {_f(d)}")
        delta.append(d)
    for l in range(len(layers), 0, -1):
        W, b = layers[l - 1]
        prev = acts[l - 1]
        name = "output layer" if l == len(layers) else f"hidden layer {l}"
        gw, gb = W.grad.tolist(), b.grad.tolist()
        for i in range(len(prev)):
            for j in range(len(delta)):
                hand = delta[j] * prev[i]
                ok &= _report(f"{name} dL/dW[{i},{j}] = delta[{j}] * a[{i}] = {_f(delta[j])} * {_f(prev[i])}", hand, gw[i][j])
        for j in range(len(delta)):
            ok &= _report(f"{name} dL/db[{j}] = delta[{j}] * 1 = {_f(delta[j])} * 1", delta[j], gb[j])
        if l > 1:  # push delta one layer back through W_l and relu'
            w = W.detach().tolist()
            new = []
            for i in range(len(prev)):
                terms = " + ".join(f"{_f(delta[j])} * {_f(w[i][j])}" for j in range(len(delta)))
                d = sum(delta[j] * w[i][j] for j in range(len(delta))) * _relu_grad(prev[i])
                print(f"  hidden layer {l - 1} delta[{i}] = ({terms}) * {_f(_relu_grad(prev[i]))} = {_f(d)}")
                new.append(d)
            delta = new
    return ok


def _report(text, hand, auto):
    # float32 autograd against float64 by hand: relative, since gradients here are as small as 1e-3
    # (an absolute 1e-5 let a gradient 0.8% off pass)
    agree = abs(hand - auto) <= 1e-5 * abs(hand) + 1e-9
    print(f"  {text} = {hand:.4f}   autograd {auto:.4f}  {'✓' if agree else '✗ MISMATCH'}")
    return agree


# ---- optional extras: PyTorch as a second opinion, and pictures of the graph ---------------------


def check_with_torch(inputs, actual, layers, prediction, loss):
    """Run the same network in PyTorch from the same numbers; print and compare the prediction,
    the loss and every gradient with densegrad's. Returns True when all agree."""
    import torch

    def tt(x, grad=False):
        return torch.tensor(x.detach().numpy(), requires_grad=grad)

    a = tt(inputs)
    params = [(tt(W, True), tt(b, True)) for W, b in layers]
    for W, b in params:
        a = torch.relu(a @ W + b)
    tloss = torch.nn.functional.mse_loss(a, tt(actual))
    tloss.backward()
    pairs = [("prediction", prediction.detach(), a.detach()), ("loss", loss.detach(), tloss.detach())]
    for l, ((W, b), (tW, tb)) in enumerate(zip(layers, params), start=1):
        pairs += [(f"layer {l} dL/dW", W.grad, tW.grad), (f"layer {l} dL/db", b.grad, tb.grad)]
    ok = True
    for what, mine, theirs in pairs:
        m, t = mine.numpy(), theirs.numpy()
        agree = m.shape == t.shape and bool(((abs(m - t)) <= 1e-6 * (1 + abs(t))).all())
        ok &= agree
        diff = float(abs(m - t).max()) if m.shape == t.shape else float("nan")
        print(f"  {what} = {_short(m)}   torch {_short(t)}   max |diff| {diff:.2g}  {'✓' if agree else '✗ MISMATCH'}")
    return ok


def _short(a):
    return str([round(float(v), 6) for v in a.reshape(-1)]) if a.ndim else f"{float(a):.6g}"


def write_graph(graph_dir, index, loss, params):
    """Write the autograd graph of `loss` to graph_dir/network<index>.dot (and .svg with Graphviz)."""
    os.makedirs(graph_dir, exist_ok=True)
    stem = os.path.join(graph_dir, f"network{index}")
    written = [dg.viz.render(loss, stem + ".dot", params=params, name="loss")]
    if shutil.which("dot"):
        written.append(dg.viz.render(loss, stem + ".svg", params=params, name="loss"))
    print("Autograd graph written to " + " and ".join(written))


def main(check_torch=False, graph_dir=None):
    all_ok = True
    if check_torch:
        try:
            import torch
        except ImportError:
            print("--check-torch needs PyTorch, which is not installed (pip install torch)", file=sys.stderr)
            return 2
        print(f"Comparing with PyTorch {torch.__version__}.")
        print()

    def extras(index, inputs, actual, layers, prediction, loss, names):
        nonlocal all_ok
        if check_torch:
            print("PyTorch (same network, same numbers):")
            all_ok &= check_with_torch(inputs, actual, layers, prediction, loss)
        if graph_dir is not None:
            params = {}
            for (W, b), (wn, bn) in zip(layers, names):
                params[wn], params[bn] = W, b
            write_graph(graph_dir, index, loss, params)

    print("== 1. One input neuron, one output neuron ==")
    inputs = dg.tensor([0.5])
    actual = dg.tensor([0.95])

    output_layer_weights = dg.tensor([0.3]).requires_grad_()
    output_layer_bias = dg.tensor([0.4]).requires_grad_()

    output_layer_out = activation_function(inputs @ output_layer_weights + output_layer_bias)
    print("Prediction: ", output_layer_out)

    loss = loss_function(output_layer_out, actual)
    loss.backward()
    print("Loss: ", loss)

    print("By hand (chain rule):")
    all_ok &= _report("dL/dw = 2(0.55 - 0.95) * 1 * 0.5", 2 * (0.55 - 0.95) * 1 * 0.5, output_layer_weights.grad.item())
    all_ok &= _report("dL/db = 2(0.55 - 0.95) * 1 * 1", 2 * (0.55 - 0.95) * 1 * 1, output_layer_bias.grad.item())

    print("Output layer weight gradient: ", output_layer_weights.grad)
    print("Output layer bias gradient: ", output_layer_bias.grad)
    extras(1, inputs, actual, [(output_layer_weights, output_layer_bias)], output_layer_out, loss,
           [("output_layer_weights", "output_layer_bias")])

    learning_rate = 0.5

    updated_output_layer_bias = output_layer_bias - learning_rate * output_layer_bias.grad.data
    updated_output_layer_weights = output_layer_weights - learning_rate * output_layer_weights.grad.data
    print("Updated weight: ", updated_output_layer_weights)
    print("Updated bias: ", updated_output_layer_bias)

    updated_output_layer_out = activation_function(inputs @ updated_output_layer_weights + updated_output_layer_bias)
    print("Updated prediction: ", updated_output_layer_out)

    loss = loss_function(updated_output_layer_out, actual)
    print("Updated loss: ", loss)

    print()
    print("== 2. A hidden layer: one neuron each (1-1-1) ==")
    inputs = dg.tensor([0.5])
    actual = dg.tensor([0.95])

    layer1_weights = dg.tensor([0.3]).requires_grad_()
    layer1_bias = dg.tensor([0.4]).requires_grad_()

    output_layer_weights = dg.tensor([0.2]).requires_grad_()
    output_layer_bias = dg.tensor([0.1]).requires_grad_()

    layer1_out = activation_function(inputs @ layer1_weights + layer1_bias)
    print("Hidden layer: ", layer1_out)

    output_layer_out = activation_function(layer1_out @ output_layer_weights + output_layer_bias)
    print("Prediction: ", output_layer_out)

    loss = loss_function(output_layer_out, actual)
    loss.backward()
    print("Loss ", loss)

    print("By hand (chain rule):")
    all_ok &= _report("output dL/dw = 2(0.21 - 0.95) * 1 * 0.55", 2 * (0.21 - 0.95) * 1 * 0.55, output_layer_weights.grad.item())
    all_ok &= _report("output dL/db = 2(0.21 - 0.95) * 1 * 1", 2 * (0.21 - 0.95) * 1 * 1, output_layer_bias.grad.item())
    # dL/dout * relu'(output) * w_out * relu'(hidden) * input: every factor of the chain
    all_ok &= _report("hidden dL/dw = 2(0.21 - 0.95) * 1 * 0.2 * 1 * 0.5", 2 * (0.21 - 0.95) * 1 * 0.2 * 1 * 0.5, layer1_weights.grad.item())
    all_ok &= _report("hidden dL/db = 2(0.21 - 0.95) * 1 * 0.2 * 1 * 1", 2 * (0.21 - 0.95) * 1 * 0.2 * 1 * 1, layer1_bias.grad.item())

    print("Gradient for output layer weights: ", output_layer_weights.grad)
    print("Gradient for output layer bias: ", output_layer_bias.grad)
    print("Gradient for hidden layer weights: ", layer1_weights.grad)
    print("Gradient for hidden layer bias: ", layer1_bias.grad)
    extras(2, inputs, actual, [(layer1_weights, layer1_bias), (output_layer_weights, output_layer_bias)], output_layer_out, loss,
           [("layer1_weights", "layer1_bias"), ("output_layer_weights", "output_layer_bias")])

    print()
    print("== 3. Two neurons in the hidden layer (1-2-1) ==")
    inputs = dg.tensor([0.5])
    actual = dg.tensor([0.95])

    layer1_weights = dg.tensor([[0.3, 0.2]]).requires_grad_()
    layer1_bias = dg.tensor([0.4, 0.1]).requires_grad_()

    output_layer_weights = dg.tensor([[0.1], [0.7]]).requires_grad_()
    output_layer_bias = dg.tensor([0.3]).requires_grad_()

    layer1_out = activation_function(inputs @ layer1_weights + layer1_bias)
    print("Hidden layer weights: ", layer1_out)  # the notebook's label: the hidden layer's output

    output_layer_out = activation_function(layer1_out @ output_layer_weights + output_layer_bias)
    print("Prediction: ", output_layer_out)

    loss = loss_function(output_layer_out, actual)
    loss.backward()
    print("Loss: ", loss)

    print("By hand (chain rule):")
    all_ok &= check_by_hand(inputs, actual, [(layer1_weights, layer1_bias), (output_layer_weights, output_layer_bias)])

    print("Gradient for output layer weights: ", output_layer_weights.grad)
    print("Gradient for output layer bias: ", output_layer_bias.grad)
    print("Gradient for hidden layer weights: ", layer1_weights.grad)
    print("Gradient for hidden layer bias: ", layer1_bias.grad)
    extras(3, inputs, actual, [(layer1_weights, layer1_bias), (output_layer_weights, output_layer_bias)], output_layer_out, loss,
           [("layer1_weights", "layer1_bias"), ("output_layer_weights", "output_layer_bias")])

    print()
    print("== 4. Two hidden layers of two neurons (1-2-2-1) ==")
    inputs = dg.tensor([0.5])
    actual = dg.tensor([0.95])

    layer1_weights = dg.tensor([[0.3, 0.2]]).requires_grad_()
    layer1_bias = dg.tensor([0.4, 0.1]).requires_grad_()

    layer2_weights = dg.tensor([[0.1, 0.8], [0.6, 0.7]]).requires_grad_()
    layer2_bias = dg.tensor([0.3, 0.2]).requires_grad_()

    output_layer_weights = dg.tensor([[0.4], [0.6]]).requires_grad_()
    output_layer_bias = dg.tensor([0.3]).requires_grad_()

    layer1_out = activation_function(inputs @ layer1_weights + layer1_bias)
    # (The notebook's labels, kept so that the output matches it line for line: these two lines
    # print the layers' outputs, not their weights.)
    print("Layer 1 weights: ", layer1_out)

    layer2_out = activation_function(layer1_out @ layer2_weights + layer2_bias)
    print("Layer 2 weights: ", layer2_out)

    output_layer_out = activation_function(layer2_out @ output_layer_weights + output_layer_bias)
    print("Prediction: ", output_layer_out)

    loss = loss_function(output_layer_out, actual)
    loss.backward()
    print("Loss: ", loss)

    print("By hand (chain rule):")
    all_ok &= check_by_hand(
        inputs,
        actual,
        [(layer1_weights, layer1_bias), (layer2_weights, layer2_bias), (output_layer_weights, output_layer_bias)],
    )

    print("Gradient for output layer weights: ", output_layer_weights.grad)
    print("Gradient for output layer bias: ", output_layer_bias.grad)
    print("Gradient for hidden layer 2 weights: ", layer2_weights.grad)
    print("Gradient for hidden layer 2 bias: ", layer2_bias.grad)
    print("Gradient for hidden layer 1 weights: ", layer1_weights.grad)
    print("Gradient for hidden layer 1 bias: ", layer1_bias.grad)
    extras(4, inputs, actual,
           [(layer1_weights, layer1_bias), (layer2_weights, layer2_bias), (output_layer_weights, output_layer_bias)],
           output_layer_out, loss,
           [("layer1_weights", "layer1_bias"), ("layer2_weights", "layer2_bias"), ("output_layer_weights", "output_layer_bias")])

    print()
    agree = "All hand-computed gradients agree with autograd" + (" and with PyTorch." if check_torch else ".")
    print(agree if all_ok else "SOME GRADIENTS DISAGREE (see ✗ above).")
    return 0 if all_ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Backpropagation by example, checked by hand (and by PyTorch).")
    ap.add_argument("--check-torch", action="store_true", help="also run each network in PyTorch and compare")
    ap.add_argument("--graphs", metavar="DIR", help="write each network's autograd graph to DIR (DOT, and SVG with Graphviz)")
    cli = ap.parse_args()
    raise SystemExit(main(check_torch=cli.check_torch, graph_dir=cli.graphs))

"""
densegrad's C++ kernels (private; use the densegrad package).
"""
from __future__ import annotations
import collections.abc
import numpy
import typing
__all__: list[str] = ['Activation', 'FusedMlp', 'Reduction', 'activation_backward', 'activation_forward', 'activation_needs_preactivation', 'adam_step', 'adam_step_many', 'dense_backward', 'dense_forward', 'fma_loop', 'gemm', 'gemm_kernel', 'get_num_threads', 'mlp_backward', 'mlp_forward', 'mse_backward', 'mse_forward', 'optim_parallel_min', 'parallel_min_work', 'parallel_regions', 'set_gemm_kernel', 'set_num_threads', 'set_optim_parallel_min', 'set_parallel_min_work', 'set_small_max_work', 'sgd_step', 'sgd_step_many', 'small_max_work']
class Activation:
    """
    Members:
    
      identity
    
      relu
    
      leaky_relu
    
      sigmoid
    
      tanh
    """
    __members__: typing.ClassVar[dict[str, Activation]]
    identity: typing.ClassVar[Activation]
    leaky_relu: typing.ClassVar[Activation]
    relu: typing.ClassVar[Activation]
    sigmoid: typing.ClassVar[Activation]
    tanh: typing.ClassVar[Activation]
    @typing.overload
    def __eq__(self, other: Activation) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: Activation) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class Reduction:
    """
    Members:
    
      none
    
      mean
    
      sum
    """
    __members__: typing.ClassVar[dict[str, Reduction]]
    mean: typing.ClassVar[Reduction]
    none: typing.ClassVar[Reduction]
    sum: typing.ClassVar[Reduction]
    @typing.overload
    def __eq__(self, other: Reduction) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: Reduction) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class FusedMlp:
    def __init__(self, layers: list, optimizer: str, reduction: Reduction) -> None:
        ...
    def forward(self, x: typing.Any) -> numpy.ndarray:
        ...
    def set_adam(self, lr: typing.SupportsFloat | typing.SupportsIndex, beta1: typing.SupportsFloat | typing.SupportsIndex, beta2: typing.SupportsFloat | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, amsgrad: bool, maximize: bool) -> None:
        ...
    def set_grad(self, layer: typing.SupportsInt | typing.SupportsIndex, bias: bool, grad: typing.Any) -> None:
        """
        Write layer's weight (bias=False) or bias gradient into a new array from the next step on.
        """
    def set_sgd(self, lr: typing.SupportsFloat | typing.SupportsIndex, momentum: typing.SupportsFloat | typing.SupportsIndex, dampening: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, nesterov: bool, maximize: bool) -> None:
        ...
    def step(self, x: typing.Any, target: typing.Any, step: typing.SupportsInt | typing.SupportsIndex, first_step: bool) -> float:
        """
        One fused training step; returns the loss.
        """
def activation_backward(dy: typing.Any, y: typing.Any, z: typing.Any = None, activation: Activation = Activation.identity, negative_slope: typing.SupportsFloat | typing.SupportsIndex = 0.01) -> numpy.ndarray:
    ...
def activation_forward(z: typing.Any, activation: Activation, negative_slope: typing.SupportsFloat | typing.SupportsIndex = 0.01) -> numpy.ndarray:
    ...
def activation_needs_preactivation(activation: Activation, negative_slope: typing.SupportsFloat | typing.SupportsIndex) -> bool:
    ...
def adam_step(param: typing.Any, grad: typing.Any, exp_avg: typing.Any, exp_avg_sq: typing.Any, max_exp_avg_sq: typing.Any, step: typing.SupportsInt | typing.SupportsIndex, lr: typing.SupportsFloat | typing.SupportsIndex = 0.001, beta1: typing.SupportsFloat | typing.SupportsIndex = 0.9, beta2: typing.SupportsFloat | typing.SupportsIndex = 0.999, eps: typing.SupportsFloat | typing.SupportsIndex = 1e-08, weight_decay: typing.SupportsFloat | typing.SupportsIndex = 0.0, amsgrad: bool = False, maximize: bool = False) -> None:
    """
    torch.optim.Adam's update of one parameter array, in place.
    """
def adam_step_many(params: list, grads: list, exp_avgs: list, exp_avg_sqs: list, max_exp_avg_sqs: typing.Any, steps: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], lr: typing.SupportsFloat | typing.SupportsIndex, beta1: typing.SupportsFloat | typing.SupportsIndex, beta2: typing.SupportsFloat | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, amsgrad: bool, maximize: bool) -> None:
    """
    adam_step for lists of parameters, gradients and state (max_exp_avg_sqs None without amsgrad), one step count per parameter, in one call. Every operand is checked before any is updated.
    """
def dense_backward(dy: typing.Any, x: typing.Any, w: typing.Any, y: typing.Any, z: typing.Any = None, activation: Activation = Activation.identity, negative_slope: typing.SupportsFloat | typing.SupportsIndex = 0.01, need_dx: bool = True, need_dw: bool = True, need_db: bool = True) -> tuple:
    """
    (dx, dw, db), each None unless asked for.
    """
def dense_forward(x: typing.Any, w: typing.Any, b: typing.Any = None, activation: Activation = Activation.identity, negative_slope: typing.SupportsFloat | typing.SupportsIndex = 0.01, keep_preactivation: bool = False) -> tuple:
    """
    (y, z) with y = act(x @ w.T + b); z is the pre-activation if kept, else None.
    """
def fma_loop(f32: bool, iters: typing.SupportsInt | typing.SupportsIndex) -> tuple[float, float]:
    """
    Run the FMA throughput loop; returns (value, flops). Time it to get the machine's peak.
    """
def gemm(a: typing.Any, b: typing.Any, trans_a: bool = False, trans_b: bool = False, reference: bool = False) -> numpy.ndarray:
    """
    C = op(a) @ op(b) for 2-D float32/float64 arrays; reference=True runs the naive oracle.
    """
def gemm_kernel() -> str:
    """
    The GEMM micro-kernel in use: 'avx512', 'avx2-fma' or 'generic'.
    """
def get_num_threads() -> int:
    ...
def mlp_backward(dy: typing.Any, x: typing.Any, layers: list, acts: list, pres: list, need_dx: bool) -> tuple:
    """
    Backward of mlp_forward: (dx or None, None, dw_1, db_1 or None, ..., dw_L, db_L or None).
    """
def mlp_forward(x: typing.Any, layers: list) -> tuple:
    """
    A stack of dense layers [(w, b, activation, slope)] applied to x: (outputs, pre-activations).
    """
def mse_backward(dout: typing.Any, input: typing.Any, target: typing.Any, reduction: Reduction = Reduction.mean) -> numpy.ndarray:
    ...
def mse_forward(input: typing.Any, target: typing.Any, reduction: Reduction = Reduction.mean) -> numpy.ndarray:
    ...
def optim_parallel_min() -> int:
    ...
def parallel_min_work() -> int:
    ...
def parallel_regions() -> int:
    """
    How many kernel calls have split their work over more than one thread since the start (for tests).
    """
def set_gemm_kernel(name: str) -> bool:
    """
    Select 'generic', 'avx2-fma', 'avx512' or 'auto'; False if that kernel cannot run on this CPU.
    """
def set_num_threads(n: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
def set_optim_parallel_min(n: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Set the parameter count from which optimizer updates use threads (-1: the measured defaults; for measuring the threshold).
    """
def set_parallel_min_work(work: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Set the m*n*k from which GEMMs use threads (for measuring the threshold).
    """
def set_small_max_work(work: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Set the m*n*k up to which GEMMs run unpacked (avx2-fma and avx512 kernels; products with n <= 16 on one thread, and the forward of 1-4 rows into more than 16 outputs, run unpacked too; 0: every product packed).
    """
def sgd_step(param: typing.Any, grad: typing.Any, momentum_buffer: typing.Any, lr: typing.SupportsFloat | typing.SupportsIndex, momentum: typing.SupportsFloat | typing.SupportsIndex = 0.0, dampening: typing.SupportsFloat | typing.SupportsIndex = 0.0, weight_decay: typing.SupportsFloat | typing.SupportsIndex = 0.0, nesterov: bool = False, maximize: bool = False, first_step: bool = False) -> None:
    """
    torch.optim.SGD's update of one parameter array, in place.
    """
def sgd_step_many(params: list, grads: list, momentum_buffers: typing.Any, first_steps: typing.Any, lr: typing.SupportsFloat | typing.SupportsIndex, momentum: typing.SupportsFloat | typing.SupportsIndex, dampening: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, nesterov: bool, maximize: bool) -> None:
    """
    sgd_step for lists of parameters, gradients and momentum buffers (None: no momentum) in one call; first_steps: one bool per parameter, or None (all False). Every operand is checked before any is updated.
    """
def small_max_work() -> int:
    ...

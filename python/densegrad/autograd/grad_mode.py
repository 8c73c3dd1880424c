"""Whether operations record the autograd graph: ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

The flag is per thread, as in PyTorch, so a ``no_grad`` block in one thread does not switch
recording off in another.
"""

from __future__ import annotations

import functools
from _thread import _local  # threading.local itself; the threading module costs ~2 ms to import

_state = _local()


def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad record the graph."""
    return getattr(_state, "enabled", True)


def _set_enabled(mode: bool) -> None:
    _state.enabled = bool(mode)


class _GradModeContext:
    _mode: bool

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        _set_enabled(self._prev)
        return False

    def __call__(self, fn):
        """Use as a decorator: the function runs inside this context."""
        return _decorate(fn, self.__class__)


def _decorate(fn, make_context):
    """fn run inside make_context(). A generator function's body runs inside it at every resumption
    (as in PyTorch): wrapping only the call would leave its body, which runs later, outside."""
    import inspect

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args, **kwargs):
            gen = fn(*args, **kwargs)
            try:
                with make_context():
                    value = next(gen)
                while True:
                    try:
                        sent = yield value
                    except GeneratorExit:
                        with make_context():
                            gen.close()
                        raise
                    except BaseException as e:
                        with make_context():
                            value = gen.throw(e)
                    else:
                        with make_context():
                            value = gen.send(sent)
            except StopIteration as stop:
                return stop.value

        return generator_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with make_context():
            return fn(*args, **kwargs)

    return wrapper


class _NoArgumentContext(_GradModeContext):
    """Takes no argument, and also decorates without parentheses (``@no_grad`` as ``@no_grad()``)."""

    def __new__(cls, fn=None):
        if fn is None:
            return super().__new__(cls)
        if not callable(fn):
            raise TypeError(f"{cls.__name__}() takes no arguments (or a function, as a decorator)")
        return _decorate(fn, cls)


class no_grad(_NoArgumentContext):
    """Context manager / decorator: operations inside record no graph (results need no grad)."""

    _mode = False


class enable_grad(_NoArgumentContext):
    """Context manager / decorator: switch recording back on inside a ``no_grad`` block."""

    _mode = True


class set_grad_enabled(_GradModeContext):
    """Set recording on or off; works as a function call, a context manager or a decorator."""

    def __init__(self, mode: bool):
        self._prev = is_grad_enabled()
        self._mode = bool(mode)
        _set_enabled(self._mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set_enabled(self._prev)
        return False

    def __call__(self, fn):
        _set_enabled(self._prev)
        mode = self._mode
        return _decorate(fn, lambda: set_grad_enabled(mode))

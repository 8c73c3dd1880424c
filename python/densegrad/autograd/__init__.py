"""Reverse-mode automatic differentiation: the Function/Node tape and grad-mode switches."""

from .function import Context, Function, Node
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled

__all__ = ["Context", "Function", "Node", "enable_grad", "is_grad_enabled", "no_grad", "set_grad_enabled"]

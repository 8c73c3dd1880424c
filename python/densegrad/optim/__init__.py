"""Optimizers (as ``torch.optim``): SGD and Adam, updating parameters in place in C++."""

from .adam import Adam
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Adam", "Optimizer", "SGD"]

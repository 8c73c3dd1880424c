"""Neural-network building blocks (as ``torch.nn``): Module, Linear, activations, Sequential, MSELoss."""

from . import functional, init
from .modules import Identity, LeakyReLU, Linear, Module, MSELoss, ReLU, Sequential, Sigmoid, Tanh
from .parameter import Parameter

__all__ = [
    "Identity", "LeakyReLU", "Linear", "MSELoss", "Module", "Parameter", "ReLU", "Sequential",
    "Sigmoid", "Tanh", "functional", "init",
]

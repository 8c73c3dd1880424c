from .activation import Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from .container import Sequential
from .linear import Linear
from .loss import MSELoss
from .module import Module

__all__ = ["Identity", "LeakyReLU", "Linear", "MSELoss", "Module", "ReLU", "Sequential", "Sigmoid", "Tanh"]

"""Weight initialization: the practice's defaults, by nonlinearity.

ReLU networks get He-normal (Kaiming) weights, which keep the activations' variance
constant through the layers (He et al. 2015); recurrent layers, whose gates use tanh and
sigmoid, get Glorot-normal (Xavier) weights (Glorot & Bengio 2010). Biases start at zero.
"""

from __future__ import annotations

from torch import nn

__all__ = ["init_weights"]

_FEEDFORWARD = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_RECURRENT = (nn.LSTM, nn.GRU, nn.RNN)


def init_weights(module: nn.Module) -> nn.Module:
    """Initialize every Linear/Conv and LSTM/GRU layer in ``module`` in place; returns it.

    >>> layer = init_weights(nn.Linear(4, 2))
    >>> int(layer.bias.count_nonzero())
    0
    """
    for m in module.modules():
        if isinstance(m, _FEEDFORWARD):
            # fan_in keeps the forward pass's variance at 1 (gain sqrt(2) for ReLU).
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, _RECURRENT):
            for name, param in m.named_parameters(recurse=False):
                if name.startswith("weight"):
                    # Glorot's original normal init (gain 1), derived for tanh units.
                    nn.init.xavier_normal_(param)
                elif name.startswith("bias"):
                    nn.init.zeros_(param)
    return module

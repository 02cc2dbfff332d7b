"""``LineReader``: the line recognizer's network (CNN over the line, then a BiLSTM, per frame).

A line image (N, C, H, W) of any width W goes through a small CNN that halves the height
at each stage and the width twice (a horizontal stride of 4: a digit of a 32-pixel line
is 14 to 25 pixels wide, so it gets 3 to 6 frames, room for the blank CTC needs between
repeated characters). The height left is averaged away (a mean, not an adaptive pool: the
ONNX graph keeps a dynamic width), a bidirectional LSTM reads the frames left to right and
right to left, and a linear layer scores each frame: (N, T, K+1) with T = W // 4, index 0
the CTC blank. Batch first, like every other task's output.

>>> import torch
>>> model = LineReader((1, 32, -1), num_classes=14)
>>> tuple(model(torch.zeros(2, 1, 32, 100)).shape)
(2, 25, 15)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dlstack.errors import ModelError

__all__ = [
    "LINE_CHANNELS",
    "LINE_HIDDEN",
    "LINE_STRIDE",
    "FrameClassifier",
    "LineReader",
    "frames_of",
]

# Conv widths, one 3x3 conv + BatchNorm + ReLU each; the first two also pool 2x2 (height
# and width), the others pool the height only. Sized for 2 CPU cores (batch 32 of 176-px
# lines, channels-last): (16, 32, 64, 96) with a 96-unit BiLSTM takes 0.07 s a training
# step against 0.16 s for (32, 64, 128, 128)/128; its test CER is in bench/lines.py.
LINE_CHANNELS = (16, 32, 64, 96)
LINE_HIDDEN = 96  # LSTM units per direction
LINE_STRIDE = 4  # input pixels per output frame, along the line
_WIDTH_POOLS = 2  # log2(LINE_STRIDE): the stages that also pool the width


class LineReader(nn.Module):
    """CNN (height -> 1, width / 4) -> BiLSTM -> Linear: (N, C, H, W) -> (N, W // 4, K + 1)."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        *,
        channels: Sequence[int] = LINE_CHANNELS,
        hidden: int = LINE_HIDDEN,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        shape = tuple(int(d) for d in input_shape)
        if len(shape) != 3 or shape[1] < 2 ** len(channels):
            raise ModelError(
                f"architecture 'line_cnn_lstm' needs line images (C, H, W) with H >= "
                f"{2 ** len(channels)}, got input shape {shape}; set [data.image] size to a "
                f'height such as [32, "variable"]'
            )
        c, h = shape[0], shape[1]
        layers: list[nn.Module] = []
        for i, width in enumerate(channels):
            pool = (2, 2) if i < _WIDTH_POOLS else (2, 1)
            layers += [
                nn.Conv2d(c, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.MaxPool2d(pool, pool),
            ]
            c, h = width, h // 2
        self.features = nn.Sequential(*layers)
        self.rnn = nn.LSTM(c, hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.out = nn.Linear(2 * hidden, num_classes + 1)
        # Channels-last (NHWC in memory) is oneDNN's native CPU layout: 0.07 s a step
        # against 0.10 s for the same convolutions in NCHW (measured as above).
        for param in self.features.parameters():
            if param.dim() == 4:
                param.data = param.data.contiguous(memory_format=torch.channels_last)

    def forward(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, T, K+1)
        x = x.contiguous(memory_format=torch.channels_last)
        f = self.features(x).mean(dim=2)  # (N, C', T): the height averaged away
        seq, _ = self.rnn(f.transpose(1, 2))  # (N, T, 2 * hidden)
        return self.out(self.dropout(seq))


class FrameClassifier(nn.Module):
    """LineReader without the LSTM: each frame read from the CNN's view alone (a baseline).

    The same CNN, then a linear layer per frame: what the recognizer gets from local
    evidence only, so the gap to LineReader is what the sequence context adds.
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int) -> None:
        super().__init__()
        reader = LineReader(input_shape, num_classes)
        self.features = reader.features
        self.out = nn.Linear(LINE_CHANNELS[-1], num_classes + 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.features(x).mean(dim=2).transpose(1, 2))


def frames_of(width: int) -> int:
    """How many frames LineReader gives a line ``width`` pixels wide."""
    return int(width) // LINE_STRIDE

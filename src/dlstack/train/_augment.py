"""Online augmentation: each training batch is shifted and re-stroked afresh every epoch.

The ``augment`` data step (dlstack.data._steps) adds *fixed* copies to a data version; this
draws new changes every epoch, so the model never sees the same variant twice and an epoch
costs no more than without it. The draws come from (seed, epoch) alone and are taken in
batch order on the main process, so a run resumed at epoch k augments exactly as an
uninterrupted run would (and DataLoader workers change nothing).

Works on standardized images (N, C, H, W): shifting moves pixels, and a 1-pixel dilation or
erosion (max/min over the 4-neighbourhood) commutes with standardization, which is
monotonic, so thick/thin strokes come out as they would on raw pixels.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ["BatchAugment"]


class BatchAugment:
    """Random shifts of up to ``max_shift`` pixels per axis; with ``thicken`` a quarter of
    the images get 1-pixel thicker strokes and a quarter thinner ones.

    >>> aug = BatchAugment(max_shift=1, thicken=False, seed=0)
    >>> aug.start_epoch(0)
    >>> x = torch.zeros(4, 1, 5, 5); x[:, :, 2, 2] = 1
    >>> moved = aug(x)
    >>> [int(m.sum()) for m in moved]  # every image keeps its one lit pixel
    [1, 1, 1, 1]
    """

    def __init__(self, *, max_shift: int, thicken: bool, seed: int) -> None:
        self.max_shift = max_shift
        self.thicken = thicken
        self.seed = seed
        self.epoch: int | None = None
        self._generator = torch.Generator()

    def start_epoch(self, epoch: int) -> None:
        """Restart the random stream for ``epoch`` (same seed, same epoch: same draws)."""
        state = np.random.SeedSequence([self.seed, epoch, 0xA06]).generate_state(1)[0]
        self._generator.manual_seed(int(state))
        self.epoch = epoch

    def __call__(self, x: Tensor) -> Tensor:  # (N, C, H, W) standardized images
        n = x.shape[0]
        shifts = torch.randint(
            -self.max_shift, self.max_shift + 1, (n, 2), generator=self._generator
        )
        stroke = torch.randint(0, 4, (n, 1, 1, 1), generator=self._generator)  # 0 thick, 1 thin
        # Drawn on the CPU (one stream, whatever the device), used where the batch is.
        shifts, stroke = shifts.to(x.device), stroke.to(x.device)
        out = _roll_each(x, shifts) if self.max_shift > 0 else x
        if self.thicken:
            # Both variants for the whole batch, then pick: ~0.1 ms, cheaper than indexing.
            thick = _neighbourhood(out, torch.maximum)
            thin = _neighbourhood(out, torch.minimum)
            out = torch.where(stroke == 0, thick, torch.where(stroke == 1, thin, out))
        return out


def _roll_each(x: Tensor, shifts: Tensor) -> Tensor:
    """``torch.roll`` of image i by ``shifts[i]`` (rows, columns), for all i in one gather."""
    n, _, h, w = x.shape
    device = x.device
    rows = (torch.arange(h, device=device)[None, :] - shifts[:, :1]) % h  # (N, H) source rows
    cols = (torch.arange(w, device=device)[None, :] - shifts[:, 1:]) % w  # (N, W)
    index = torch.arange(n, device=device)[:, None, None]
    # Advanced indices on N, H, W (channels last), then back to (N, C, H, W).
    return x.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _neighbourhood(x: Tensor, pick: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """Max (dilation) or min (erosion) of each pixel and its 4 neighbours."""
    out = x
    for dims, shift in (((2,), 1), ((2,), -1), ((3,), 1), ((3,), -1)):
        out = pick(out, torch.roll(x, shifts=shift, dims=dims))
    return out

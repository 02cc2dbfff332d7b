"""Numbers as people read them."""

from __future__ import annotations

__all__ = ["duration"]


def duration(seconds: float) -> str:
    """``0.046 s``, ``12.3 s``, ``4.5 min``, ``2.1 h``: readable at every scale."""
    if seconds < 10:
        return f"{seconds:.3g} s"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"

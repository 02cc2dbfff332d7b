"""The registered architectures' names, torch-free: config validates against them."""

from __future__ import annotations

__all__ = ["ARCHITECTURE_NAMES"]

# The zoo's order: by modality, smallest first (dlstack.models._zoo builds them); then
# "fusion", the model of several inputs (dlstack.models._fusion); "line_cnn_lstm", the line
# reader of variable-width images (dlstack.models._lines).
ARCHITECTURE_NAMES = ("mlp", "lenet", "resnet", "fusion", "line_cnn_lstm")

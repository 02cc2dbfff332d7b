"""Model inputs: decode, inspect and prepare images; pixels <-> standardized model input.

One module for every stage that touches an input: ingest inspects what it stores,
checkout decodes it, training and serving standardize it the same way, and the prediction
log turns model input back into pixels. numpy and PIL only (no torch).

>>> import numpy as np
>>> x = to_model_input(np.full((1, 2, 2), 255, np.uint8), mean=[0.5], std=[0.5])
>>> x.shape, float(x.max())
((1, 1, 2, 2), 1.0)
>>> to_pixels(x, [0.5], [0.5]).tolist()
[[[255, 255], [255, 255]]]
"""

from dlstack.inputs._image import (
    ACCEPTED_FORMATS,
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    LINE_WIDTH_MULTIPLE,
    MAX_LINE_WIDTH,
    VARIABLE_WIDTH,
    ImageInfo,
    ImageSource,
    PreparedImage,
    cut_widths,
    decode_image,
    decode_pixels,
    inspect_image,
    line_groups,
    line_width,
    pad_widths,
    prepare_image,
    preprocess_images,
)
from dlstack.inputs._normalize import channel_stats, to_model_input, to_pixels
from dlstack.inputs._rows import HF_PREFIX, MANIFEST_SUFFIXES, is_hf_source, read_rows
from dlstack.inputs._several import (
    FEATURES_INPUT,
    IMAGE_INPUT,
    INPUT_KINDS,
    concat_inputs,
    describe_shape,
    example_shape,
    input_rows,
    map_input,
    take_rows,
)
from dlstack.inputs._spec import (
    BACKGROUNDS,
    RESIZE_POLICIES,
    ImageSpec,
    infer_image_spec,
    prepare_with,
)
from dlstack.inputs._tabular import Column, TableEncoder, TableSpec, infer_columns, parse_value

__all__ = [
    "ACCEPTED_FORMATS",
    "BACKGROUNDS",
    "DEFAULT_MAX_PIXELS",
    "FEATURES_INPUT",
    "HF_PREFIX",
    "IMAGE_INPUT",
    "IMAGE_SUFFIXES",
    "INPUT_KINDS",
    "LINE_WIDTH_MULTIPLE",
    "MANIFEST_SUFFIXES",
    "MAX_LINE_WIDTH",
    "RESIZE_POLICIES",
    "VARIABLE_WIDTH",
    "Column",
    "ImageInfo",
    "ImageSource",
    "ImageSpec",
    "PreparedImage",
    "TableEncoder",
    "TableSpec",
    "channel_stats",
    "concat_inputs",
    "cut_widths",
    "decode_image",
    "decode_pixels",
    "describe_shape",
    "example_shape",
    "infer_columns",
    "infer_image_spec",
    "input_rows",
    "inspect_image",
    "is_hf_source",
    "line_groups",
    "line_width",
    "map_input",
    "pad_widths",
    "parse_value",
    "prepare_image",
    "prepare_with",
    "preprocess_images",
    "read_rows",
    "take_rows",
    "to_model_input",
    "to_pixels",
]

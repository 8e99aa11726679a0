"""Training of the segmentation networks: data, augmentation, loop, cross-validation.

The public entry point is :mod:`xspecseg.train`, which re-exports these names.
"""

from __future__ import annotations

from ..contract import InputRepresentation
from .augment import Augment, as_augment, clahe
from .data import (
    DEFAULT_BAND,
    DEFAULT_CSES_BAND,
    DEFAULT_NIGHT,
    ImageSet,
    SpectrogramDataset,
    cut_halforbits,
    cut_nights,
    from_cube,
    hard_negatives,
    load_data,
    mask_from_png,
    mask_to_png,
    pad_collate,
    parse_data,
    synth_cses,
    synth_iar,
)
from .loop import (
    OPTIMIZERS,
    SCHEDULERS,
    THRESHOLDS,
    evaluate_classical,
    evaluate_model,
    make_optimizer,
    make_scheduler,
    predict_images,
    train_model,
)
from .search import cross_validate, grid_search, kfold_indices

__all__ = [
    "DEFAULT_BAND",
    "DEFAULT_CSES_BAND",
    "DEFAULT_NIGHT",
    "OPTIMIZERS",
    "SCHEDULERS",
    "THRESHOLDS",
    "Augment",
    "ImageSet",
    "InputRepresentation",
    "SpectrogramDataset",
    "as_augment",
    "clahe",
    "cross_validate",
    "cut_halforbits",
    "cut_nights",
    "evaluate_classical",
    "evaluate_model",
    "from_cube",
    "grid_search",
    "hard_negatives",
    "kfold_indices",
    "load_data",
    "make_optimizer",
    "make_scheduler",
    "mask_from_png",
    "mask_to_png",
    "pad_collate",
    "parse_data",
    "predict_images",
    "synth_cses",
    "synth_iar",
    "train_model",
]

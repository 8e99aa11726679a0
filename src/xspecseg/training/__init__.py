"""Training of the segmentation networks: data, augmentation, loop, cross-validation.

The public entry point is :mod:`xspecseg.train`, which re-exports these names. Modules,
one job each: :mod:`~xspecseg.training.imageset` (the image container),
:mod:`~xspecseg.training.images` (cutting cubes into labelled images, through
:mod:`xspecseg.imageunits` as inference does), :mod:`~xspecseg.training.pngmasks`,
:mod:`~xspecseg.training.synthetic` (sets from the generators),
:mod:`~xspecseg.training.sources` (picklable data descriptions),
:mod:`~xspecseg.training.dataset` (the torch Dataset), :mod:`~xspecseg.training.augment`,
:mod:`~xspecseg.training.loop`, :mod:`~xspecseg.training.search`,
:mod:`~xspecseg.training.compare` (the runs of ``xspecseg compare`` and their curves) and
:mod:`~xspecseg.training.event_filter`; :mod:`~xspecseg.training.data` gathers the data
names for code written before the split.
"""

from __future__ import annotations

from .._optional import needs_extra

# every module here is built on torch: say which extra brings it before any of them fails
with needs_extra("models"):
    import torch  # noqa: F401

from ..contract import InputRepresentation
from .augment import Augment, as_augment, clahe
from .dataset import SpectrogramDataset, hard_negatives, pad_collate
from .images import (
    DEFAULT_BAND,
    DEFAULT_CSES_BAND,
    DEFAULT_NIGHT,
    cut_halforbits,
    cut_nights,
    from_cube,
)
from .imageset import ImageSet
from .loop import (
    OPTIMIZERS,
    SCHEDULERS,
    THRESHOLDS,
    TrainingRecipe,
    evaluate_classical,
    evaluate_model,
    make_optimizer,
    make_scheduler,
    predict_images,
    train_model,
)
from .pngmasks import mask_from_png, mask_to_png
from .search import cross_validate, grid_search, kfold_indices
from .sources import load_data, parse_data
from .synthetic import synth_cses, synth_iar

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
    "TrainingRecipe",
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

"""Training data, by job (this module gathers their names for code that imports it).

=========================================  ==============================================
:mod:`xspecseg.imageunits`                  how a record is cut into image units (shared
                                            with inference)
:mod:`xspecseg.training.imageset`           :class:`ImageSet`: images, masks, metadata
:mod:`xspecseg.training.images`             cutting cubes into labelled images
:mod:`xspecseg.training.pngmasks`           hand-drawn PNG masks
:mod:`xspecseg.training.synthetic`          training sets from the synthetic generators
:mod:`xspecseg.training.sources`            picklable data descriptions
:mod:`xspecseg.training.dataset`            the torch Dataset, crops and batches
=========================================  ==============================================

Examples
--------
>>> import numpy as np
>>> imgs = ImageSet([np.full((8, 6), 10.0, np.float32)], [np.zeros((8, 6), bool)])
>>> x, y = SpectrogramDataset(imgs)[0]
>>> tuple(x.shape)
(1, 8, 6)
"""

from __future__ import annotations

from .dataset import SpectrogramDataset, hard_negatives, pad_collate
from .images import (
    DEFAULT_BAND,
    DEFAULT_CSES_BAND,
    DEFAULT_NIGHT,
    cut_halforbits,
    cut_nights,
    from_cube,
    label_images,
)
from .imageset import ImageSet
from .pngmasks import mask_from_png, mask_to_png, masks_from_folder
from .sources import load_data, parse_data
from .synthetic import Domain, synth_cses, synth_iar

__all__ = [
    "DEFAULT_BAND",
    "DEFAULT_CSES_BAND",
    "DEFAULT_NIGHT",
    "Domain",
    "ImageSet",
    "SpectrogramDataset",
    "cut_halforbits",
    "cut_nights",
    "from_cube",
    "hard_negatives",
    "label_images",
    "load_data",
    "mask_from_png",
    "mask_to_png",
    "masks_from_folder",
    "pad_collate",
    "parse_data",
    "synth_cses",
    "synth_iar",
]

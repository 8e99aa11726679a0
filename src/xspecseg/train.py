"""Training, evaluation, cross-validation and grid search of the segmentation networks.

The public entry point; the implementation lives in :mod:`xspecseg.training`
(``data``: images cut from cubes, labels and the torch Dataset; ``augment``: the ODM_Unet
paper's augmentations; ``loop``: :func:`train_model`; ``search``: :func:`cross_validate`
and :func:`grid_search` on Dask).

Examples
--------
>>> from xspecseg.train import synth_iar, train_model               # doctest: +SKIP
>>> train = synth_iar(nights=8, seed=0, cache_dir="cache/")           # doctest: +SKIP
>>> val = synth_iar(nights=4, seed=1, cache_dir="cache/")             # doctest: +SKIP
>>> net, hist = train_model("unet", train, val, epochs=10, output="model/",
...                         model_kwargs={"base_channels": 8})       # doctest: +SKIP
>>> float(hist.val_iou[-1])                                           # doctest: +SKIP
"""

from __future__ import annotations

from .training import *  # noqa: F403
from .training import __all__  # noqa: F401

"""Training, evaluation, cross-validation and grid search of the segmentation networks.

The public entry point; the implementation lives in :mod:`xspecseg.training`
(``data``: images cut from cubes, labels and the torch Dataset; ``augment``: the ODM_Unet
paper's augmentations; ``loop``: :func:`train_model` and its :class:`TrainingRecipe`;
``search``: :func:`cross_validate` and :func:`grid_search` on Dask).

Examples
--------
A first run: a small network, one synthetic night, one epoch (a model worth using needs
many more nights and epochs):

>>> from pathlib import Path
>>> from xspecseg.train import TrainingRecipe, synth_iar, train_model
>>> train = synth_iar(nights=1, seed=0, cache_dir="cache/")
>>> val = synth_iar(nights=1, seed=1, cache_dir="cache/")
>>> recipe = TrainingRecipe(epochs=1, model_kwargs={"base_channels": 4, "depth": 2})
>>> net, hist = train_model(train, recipe, val=val, output="model/", progress=False)
>>> hist.sizes["epoch"], sorted(p.name for p in Path("model").iterdir())
(1, ['config.json', 'model.safetensors'])
"""

from __future__ import annotations

from .training import *  # noqa: F403
from .training import __all__  # noqa: F401

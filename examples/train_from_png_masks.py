"""Train a U-net from hand-drawn PNG masks (the IAR paper's Training Set B).

Draw, in any image editor, one PNG per night over the night's spectrogram: black where
there is an IAR, white elsewhere, time left to right, frequency bottom to top (any size:
it is resampled onto the cube's grid). Name it after the night (``2013-01-20.png``) and put
them in one folder. This script stands in for the drawing by writing the synthetic truth
of a few nights as such PNGs, then trains from them exactly as you would:

    xspecseg train --data cube:cube.zarr --masks masks/ --epochs 10 -o my-model
"""

from pathlib import Path

import xspecseg as xs
from xspecseg.training import TrainingRecipe, from_cube, mask_to_png, train_model

root = Path("png-masks-example")
root.mkdir(exist_ok=True)
cube_path = root / "cube.zarr"
if not cube_path.exists():
    wave = xs.synth.ground_station(start="2013-01-20", days=4, seed=11, components=("H",))
    xs.write_cube(xs.build_cube(wave), cube_path, progress=False)

# stand-in for hand drawing: the truth of each night as a black-on-white PNG
truth_set = from_cube(cube_path, labels="truth")
masks = root / "masks"
masks.mkdir(exist_ok=True)
for meta, mask in zip(truth_set.meta, truth_set.masks, strict=True):
    mask_to_png(mask, masks / f"{meta['id']}.png", scale=2)

drawn = from_cube(cube_path, masks=masks)  # images paired with the PNGs found
print(f"{len(drawn.images)} nights with hand-drawn masks")
# the settings of ``xspecseg train --epochs 2 --lr 1e-3`` (augmented as the CLI does)
recipe = TrainingRecipe(epochs=2, batch_size=2, lr=1e-3, model_kwargs={"base_channels": 8},
                        augment="odm_unet")  # fmt: skip
model, history = train_model(drawn, recipe, output=root / "model", progress=False)
print(history[["train_loss"]].to_dataframe())
print(f"model -> {(root / 'model').resolve()}  (xs.models.load on that path)")

"""Hand-drawn PNG masks (the IAR paper's Training Set B), read onto the image grid.

The PNG shows the spectrogram as a person sees it: time runs left to right, frequency
bottom to top, and black pixels are signal. A folder of masks names each after the image
it labels (``<image id>.png``, ``<night>.png`` or, for CSES, ``<orbit><0|1>.png``).

Examples
--------
>>> import numpy as np, tempfile, os
>>> m = np.zeros((12, 6), bool); m[3:9, 2] = True
>>> d = tempfile.mkdtemp(); _ = mask_to_png(m, os.path.join(d, "2013-01-03_H.png"))
>>> keep, masks = masks_from_folder(d, [np.ones((12, 6))], [{"id": "2013-01-03_H"}])
>>> keep, bool((masks[0] == m).all())
([0], True)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._optional import needs_extra

__all__ = ["mask_from_png", "mask_to_png", "masks_from_folder"]


def mask_from_png(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """Read a hand-drawn PNG mask onto a ``(time, frequency)`` image grid.

    The PNG shows the spectrogram as a person sees it: time runs left to right, frequency
    bottom to top, and **black pixels are signal** (luminance below one half). The PNG's
    extent is the image's extent, whatever its pixel size; each grid pixel takes the PNG
    pixel under its centre (nearest neighbour), so labels never blur.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> m = np.zeros((40, 20), bool); m[10:30, 5:8] = True
    >>> p = os.path.join(tempfile.mkdtemp(), "m.png"); _ = mask_to_png(m, p, scale=3)
    >>> bool((mask_from_png(p, (40, 20)) == m).all())
    True
    """
    with needs_extra("models"):
        from PIL import Image

    with Image.open(path) as im:
        lum = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    height, width = lum.shape  # PNG rows = frequency (top = high), columns = time
    nt, nf = int(shape[0]), int(shape[1])
    col = np.minimum(((np.arange(nt) + 0.5) * width / nt).astype(int), width - 1)
    # grid frequency index j is at height (j + 0.5) / nf from the bottom
    row = np.minimum(((nf - np.arange(nf) - 0.5) * height / nf).astype(int), height - 1)
    return lum[np.ix_(row, col)].T < 0.5


def mask_to_png(mask: np.ndarray, path: str | os.PathLike, *, scale: int = 1) -> Path:
    """Write a ``(time, frequency)`` mask as a PNG in :func:`mask_from_png`'s convention.

    Useful as a template to draw on: black = signal, time left to right, frequency up.
    """
    with needs_extra("models"):
        from PIL import Image

    m = np.asarray(mask, dtype=bool).T[::-1]  # rows: frequency, top = highest
    img = np.where(m, 0, 255).astype(np.uint8)
    if scale > 1:
        img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img, mode="L").save(path)
    return path


def _png_for(mask_dir: Path, meta: dict[str, Any]) -> Path | None:
    for name in (meta.get("id"), meta.get("night"), meta.get("orbit")):
        if name is None:
            continue
        p = mask_dir / f"{name}.png"
        if p.exists():
            return p
    return None


def masks_from_folder(
    folder: str | os.PathLike, images: Sequence[np.ndarray], meta: Sequence[dict[str, Any]]
) -> tuple[list[int], list[np.ndarray]]:
    """The images a folder of PNG masks labels (their indices) and their masks.

    Parameters
    ----------
    folder : path
        Folder of PNG masks named after the images they label (see the module notes).
    images : sequence of 2-D arrays
        The images (their shapes are the masks' grids).
    meta : sequence of dict
        Per image: ``id`` and ``night`` or ``orbit``, the names a PNG may have.

    Returns
    -------
    (list of int, list of numpy.ndarray)
        Indices of the images that have a PNG, and their bool masks.
    """
    d = Path(folder)
    if not d.is_dir():
        raise FileNotFoundError(f"mask folder {d} does not exist")
    keep, out = [], []
    for i, (x, m) in enumerate(zip(images, meta)):
        p = _png_for(d, m)
        if p is not None:
            keep.append(i)
            out.append(mask_from_png(p, x.shape))
    if not keep:
        raise ValueError(
            f"no PNG mask in {d} matches an image; expected names like "
            f"{meta[0].get('id') if meta else 'YYYY-MM-DD_H'}.png"
        )
    return keep, out

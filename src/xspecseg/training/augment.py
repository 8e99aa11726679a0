"""Data augmentation of the ODM_Unet paper, in torch/numpy (no albumentations/OpenCV).

The paper's table (Li et al. 2024, Table 1) with its probabilities, in the order applied:

==================  ====  ==========================================================
HorizontalFlip      0.4   reverse time (``flip_time``)
ShiftScaleRotate    0.4   affine warp, jointly on image (bilinear) and mask (nearest)
GaussNoise          0.2   additive Gaussian noise
CLAHE               0.5   tile-based histogram equalisation with a clip limit
BrightnessContrast  0.7   ``alpha * x + beta``
RandomGamma         0.7   ``u ** gamma`` on the image mapped to [0, 1]
Sharpen             0.7   blend with a 3x3 sharpening kernel
Blur                0.7   box blur, 3–7 pixels
MotionBlur          0.7   line kernel at a random angle, 3–7 pixels
==================  ====  ==========================================================

The paper gives only probabilities; the magnitudes are albumentations' defaults, which
it used. Intensity operations act on the *normalised* image (robust sigmas around the
training median, see :class:`~xspecseg.contract.InputRepresentation`); those defined on
[0, 1] images (CLAHE, gamma, brightness) map ``value_range`` (default ±4 sigmas) onto
[0, 1] and back, clipping beyond it. Frequency flips are off by default: a reversed
spectrum (background rising with frequency) is not a spectrum a station records.

Examples
--------
>>> import numpy as np, torch
>>> aug = Augment()
>>> x, y = torch.randn(1, 32, 24), (torch.rand(1, 32, 24) > 0.8).float()
>>> x2, y2 = aug(x, y, np.random.default_rng(0))
>>> x2.shape == x.shape, bool(((y2 == 0) | (y2 == 1)).all())
(True, True)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["Augment", "as_augment", "clahe"]


@dataclasses.dataclass(frozen=True)
class Augment:
    """Probabilities and magnitudes of each augmentation (0 disables one).

    Parameters
    ----------
    flip_time, flip_frequency : float
        Probability of reversing the time / frequency axis (image and mask).
    shift_scale_rotate : float
        Probability of the affine warp; ``shift_limit`` (fraction of the size),
        ``scale_limit`` (``1 ± limit``) and ``rotate_limit`` (degrees) bound it. The
        border is reflected, as albumentations' default.
    gauss_noise : float
        Probability of additive noise with a standard deviation drawn from ``noise_std``
        (normalised units).
    clahe : float
        Probability of CLAHE with ``clahe_clip`` and ``clahe_tiles`` (OpenCV's meaning).
    brightness_contrast : float
        Probability of ``x * (1 ± contrast_limit) + (± brightness_limit) * range``.
    gamma : float
        Probability of a gamma in ``gamma_limit``.
    sharpen : float
        Probability of sharpening with ``sharpen_alpha`` and ``sharpen_lightness``.
    blur, motion_blur : float
        Probabilities of a box / motion blur with odd sizes 3..``blur_limit``.
    value_range : (float, float)
        Normalised values mapped to [0, 1] for CLAHE, gamma and brightness.

    Examples
    --------
    >>> Augment(blur=0.0).blur
    0.0
    """

    flip_time: float = 0.4
    flip_frequency: float = 0.0
    shift_scale_rotate: float = 0.4
    shift_limit: float = 0.0625
    scale_limit: float = 0.1
    rotate_limit: float = 45.0
    gauss_noise: float = 0.2
    noise_std: tuple[float, float] = (0.05, 0.2)
    clahe: float = 0.5
    clahe_clip: float = 4.0
    clahe_tiles: tuple[int, int] = (8, 8)
    brightness_contrast: float = 0.7
    brightness_limit: float = 0.2
    contrast_limit: float = 0.2
    gamma: float = 0.7
    gamma_limit: tuple[float, float] = (0.8, 1.2)
    sharpen: float = 0.7
    sharpen_alpha: tuple[float, float] = (0.2, 0.5)
    sharpen_lightness: tuple[float, float] = (0.5, 1.0)
    blur: float = 0.7
    motion_blur: float = 0.7
    blur_limit: int = 7
    value_range: tuple[float, float] = (-4.0, 4.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment image ``x`` (C, H, W) and mask ``y`` (1, H, W) with draws from ``rng``.

        Every decision and magnitude is drawn from ``rng`` in a fixed order, whether or not
        the transform fires, so one draw never shifts the others.
        """
        u = rng.random(9)
        # fixed draw order: magnitudes below come from a child generator per transform
        seeds = rng.integers(0, 2**63 - 1, size=9)
        if u[0] < self.flip_time:
            x, y = x.flip(-2), y.flip(-2)
        if (
            self.flip_frequency > 0
            and np.random.default_rng(seeds[0]).random() < self.flip_frequency
        ):
            x, y = x.flip(-1), y.flip(-1)
        if u[1] < self.shift_scale_rotate:
            x, y = self._ssr(x, y, np.random.default_rng(seeds[1]))
        if u[2] < self.gauss_noise:
            r = np.random.default_rng(seeds[2])
            std = r.uniform(*self.noise_std)
            g = torch.Generator().manual_seed(int(r.integers(0, 2**63 - 1)))
            x = x + std * torch.randn(x.shape, generator=g, dtype=x.dtype)
        lo, hi = self.value_range
        if u[3] < self.clahe:
            x = clahe(x, clip_limit=self.clahe_clip, tiles=self.clahe_tiles, value_range=(lo, hi))
        if u[4] < self.brightness_contrast:
            r = np.random.default_rng(seeds[4])
            alpha = 1.0 + r.uniform(-self.contrast_limit, self.contrast_limit)
            beta = r.uniform(-self.brightness_limit, self.brightness_limit) * (hi - lo)
            x = x * alpha + beta
        if u[5] < self.gamma:
            g = float(np.random.default_rng(seeds[5]).uniform(*self.gamma_limit))
            v = ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
            x = lo + v.pow(g) * (hi - lo)
        if u[6] < self.sharpen:
            r = np.random.default_rng(seeds[6])
            a, light = r.uniform(*self.sharpen_alpha), r.uniform(*self.sharpen_lightness)
            k = np.full((3, 3), -1.0)
            k[1, 1] = 8.0 + light
            ident = np.zeros((3, 3))
            ident[1, 1] = 1.0
            x = _conv(x, (1 - a) * ident + a * k)
        if u[7] < self.blur:
            n = _odd_size(np.random.default_rng(seeds[7]), self.blur_limit)
            x = _conv(x, np.full((n, n), 1.0 / (n * n)))
        if u[8] < self.motion_blur:
            r = np.random.default_rng(seeds[8])
            x = _conv(x, _motion_kernel(_odd_size(r, self.blur_limit), r.uniform(0, math.pi)))
        return x.contiguous(), y.contiguous()

    def _ssr(
        self, x: torch.Tensor, y: torch.Tensor, r: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = x.shape[-2:]
        ang = math.radians(r.uniform(-self.rotate_limit, self.rotate_limit))
        s = 1.0 + r.uniform(-self.scale_limit, self.scale_limit)
        dx, dy = r.uniform(-self.shift_limit, self.shift_limit, size=2)
        # rotate and scale in pixel units (images are not square), then back to the
        # normalised [-1, 1] coordinates grid_sample uses; theta maps output -> input
        c, sn = math.cos(ang) / s, math.sin(ang) / s
        a = np.array([[c, -sn * h / w], [sn * w / h, c]])
        t = np.array([-2 * dx, -2 * dy])
        theta = torch.tensor(np.c_[a, t][None], dtype=x.dtype)
        grid = F.affine_grid(theta, (1, 1, h, w), align_corners=False)
        xo = F.grid_sample(
            x[None], grid, mode="bilinear", padding_mode="reflection", align_corners=False
        )[0]
        yo = F.grid_sample(
            y[None].to(x.dtype),
            grid,
            mode="nearest",
            padding_mode="reflection",
            align_corners=False,
        )[0]
        return xo, yo.to(y.dtype)


def _odd_size(r: np.random.Generator, limit: int) -> int:
    sizes = np.arange(3, max(int(limit), 3) + 1, 2)
    return int(r.choice(sizes))


def _motion_kernel(n: int, angle: float) -> np.ndarray:
    """A normalised ``n x n`` kernel of a line through the centre at ``angle`` radians."""
    t = np.linspace(-(n - 1) / 2, (n - 1) / 2, 4 * n)
    rr = np.clip(np.round((n - 1) / 2 + t * math.sin(angle)).astype(int), 0, n - 1)
    cc = np.clip(np.round((n - 1) / 2 + t * math.cos(angle)).astype(int), 0, n - 1)
    k = np.zeros((n, n))
    k[rr, cc] = 1.0
    return k / k.sum()


def _conv(x: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """Depthwise 2-D convolution with reflected borders (image size kept)."""
    kh, kw = kernel.shape
    ch = x.shape[0]
    w = torch.tensor(kernel, dtype=x.dtype).expand(ch, 1, kh, kw).contiguous()
    ph, pw = kh // 2, kw // 2
    mode = "reflect" if x.shape[-2] > ph and x.shape[-1] > pw else "replicate"
    xp = F.pad(x[None], (pw, pw, ph, ph), mode=mode)
    return F.conv2d(xp, w, groups=ch)[0]


def clahe(
    x: torch.Tensor | np.ndarray,
    *,
    clip_limit: float = 4.0,
    tiles: tuple[int, int] = (8, 8),
    value_range: tuple[float, float] = (-4.0, 4.0),
    bins: int = 256,
) -> Any:
    """Contrast-limited adaptive histogram equalisation (vectorised numpy).

    The image (per channel) is mapped from ``value_range`` to [0, 1] and quantised to
    ``bins`` levels; each of the ``tiles`` tiles gets a histogram clipped at
    ``clip_limit`` times its mean bin count (the excess spread evenly over all bins), whose
    cumulative sum is the tile's mapping; each pixel's value interpolates bilinearly
    between the mappings of the four nearest tile centres (OpenCV's scheme). The result
    is mapped back to ``value_range``.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.linspace(-1, 1, 64 * 64).reshape(1, 64, 64)
    >>> out = clahe(img)
    >>> out.shape, bool(out.min() >= -4 and out.max() <= 4)
    ((1, 64, 64), True)
    """
    is_t = isinstance(x, torch.Tensor)
    arr = x.detach().cpu().numpy() if is_t else np.asarray(x)
    squeeze = arr.ndim == 2
    a = arr[None] if squeeze else arr
    lo, hi = value_range
    ch, h, w = a.shape
    ty, tx = max(1, min(int(tiles[0]), h)), max(1, min(int(tiles[1]), w))
    u = np.clip((a.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)
    q = np.minimum((u * bins).astype(np.int64), bins - 1)
    # equal tiles, as OpenCV: pad the end of each axis by reflection to a whole number of
    # tiles (unequal tiles would clip their histograms differently)
    th, tw = -(-h // ty), -(-w // tx)
    qp = np.pad(q, ((0, 0), (0, th * ty - h), (0, tw * tx - w)), mode="symmetric")
    ti = np.arange(th * ty) // th
    tj = np.arange(tw * tx) // tw
    tile = (ti[:, None] * tx + tj[None, :])[None]
    cidx = np.arange(ch)[:, None, None]
    flat = ((cidx * ty * tx + tile) * bins + qp).ravel()
    hist = np.bincount(flat, minlength=ch * ty * tx * bins).reshape(ch, ty * tx, bins)
    hist = hist.astype(np.float64)
    npix = hist.sum(-1, keepdims=True)
    limit = np.maximum(clip_limit * npix / bins, 1.0)
    excess = np.maximum(hist - limit, 0.0).sum(-1, keepdims=True)
    hist = np.minimum(hist, limit) + excess / bins
    cdf = np.cumsum(hist, -1) / np.maximum(npix, 1.0)
    lut = cdf.reshape(ch, ty, tx, bins)

    def axis_weights(n: int, t: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        f = (np.arange(n) + 0.5) / size - 0.5  # position in tile-centre units
        i0 = np.clip(np.floor(f).astype(int), 0, t - 1)
        i1 = np.minimum(i0 + 1, t - 1)
        wgt = np.clip(f - i0, 0.0, 1.0)
        return i0, i1, wgt

    y0, y1, wy = axis_weights(h, ty, th)
    x0, x1, wx = axis_weights(w, tx, tw)
    c = cidx
    Y0, Y1 = y0[None, :, None], y1[None, :, None]
    X0, X1 = x0[None, None, :], x1[None, None, :]
    WY, WX = wy[None, :, None], wx[None, None, :]
    v = (1 - WY) * ((1 - WX) * lut[c, Y0, X0, q] + WX * lut[c, Y0, X1, q]) + WY * (
        (1 - WX) * lut[c, Y1, X0, q] + WX * lut[c, Y1, X1, q]
    )
    out = (lo + v * (hi - lo)).astype(arr.dtype if arr.dtype.kind == "f" else np.float32)
    if squeeze:
        out = out[0]
    return torch.from_numpy(out) if is_t else out


def as_augment(value: Any) -> Augment | None:
    """``None``/``False``/``"none"`` -> None; ``True``/``"odm_unet"``/``"paper"`` -> the
    paper's defaults; a dict -> ``Augment(**dict)``; an :class:`Augment` as is.

    Examples
    --------
    >>> as_augment("none") is None, isinstance(as_augment("odm_unet"), Augment)
    (True, True)
    """
    if value is None or value is False:
        return None
    if isinstance(value, Augment):
        return value
    if value is True:
        return Augment()
    if isinstance(value, str):
        key = value.lower()
        if key in ("none", "off", ""):
            return None
        if key in ("odm_unet", "paper", "default", "on"):
            return Augment()
        raise ValueError(f"unknown augmentation {value!r}: use 'odm_unet' or 'none'")
    if isinstance(value, dict):
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
        return Augment(**kw)
    if callable(value):
        return value
    raise TypeError(f"cannot make an augmentation from {type(value).__name__}")

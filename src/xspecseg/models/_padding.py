"""Padding to the size an architecture needs, and receptive-field bookkeeping.

Every model of the registry accepts any ``(H, W)``: it pads the image on the bottom and
right to a multiple of its total down-sampling factor (and to a minimum size where a
decoder needs one), runs the network and crops the logits back. Padding only at the
bottom/right keeps the pooling grid anchored at pixel (0, 0), so a chunk whose offset is a
multiple of the down-sampling factor sees the same grid as the whole image: the chunked
inference wrapper relies on that to reproduce whole-image results.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["padded_call", "padded_size", "probe_receptive_field"]


def padded_size(size: int, multiple: int, min_size: int = 1) -> int:
    """Smallest multiple of ``multiple`` that is at least ``max(size, min_size)``.

    Examples
    --------
    >>> padded_size(37, 16)
    48
    >>> padded_size(37, 32, min_size=128)
    128
    """
    target = max(size, min_size)
    return int(math.ceil(target / multiple) * multiple)


def _pad_axis(x: torch.Tensor, amount: int, axis: int) -> torch.Tensor:
    if amount == 0:
        return x
    # F.pad orders pads from the last dim: (left, right) of W, then of H
    pad = (0, amount, 0, 0) if axis == -1 else (0, 0, 0, amount)
    # reflect keeps the local statistics of spectrogram texture; it needs the pad to be
    # shorter than the image, so tiny images fall back to replicate
    mode = "reflect" if amount < x.shape[axis] else "replicate"
    return F.pad(x, pad, mode=mode)


def padded_call(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    multiple: int,
    min_size: int = 1,
) -> torch.Tensor:
    """Run ``fn`` on ``x`` padded (bottom/right) to ``multiple`` and crop the result back.

    Examples
    --------
    >>> import torch
    >>> padded_call(lambda t: t * 2, torch.ones(1, 1, 5, 7), 4).shape
    torch.Size([1, 1, 5, 7])
    """
    if x.ndim != 4:
        raise ValueError(
            f"expected a (batch, channel, height, width) tensor, got shape {tuple(x.shape)}"
        )
    h, w = x.shape[-2:]
    ph = padded_size(h, multiple, min_size) - h
    pw = padded_size(w, multiple, min_size) - w
    # pad one axis at a time: reflect may apply on one axis and replicate on the other
    y = fn(_pad_axis(_pad_axis(x, pw, -1), ph, -2))
    return y[..., :h, :w]


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, tuple | list):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def probe_receptive_field(
    net: nn.Module,
    in_channels: int,
    size: tuple[int, int],
    conv_types: tuple[type, ...] = (),
) -> tuple[int, bool]:
    """Upper bound of the receptive field of ``net`` and whether it pools globally.

    One forward pass on a zero image of ``size`` (which must already suit ``net``) records,
    through hooks, every convolution and pooling layer and every ``F.interpolate`` call
    together with the stride of its input relative to the image. The one-sided reach of
    the network is bounded by the sum of the reaches of all those layers (summing over
    parallel branches instead of taking their maximum is what makes it a bound):
    ``ceil((k_eff - 1) / 2) * s + (stride - 1) * s`` for a layer of effective kernel
    ``k_eff`` at input stride ``s`` (the second term covers the grid offset of strided
    layers), and ``s_in`` for an up-sampling. Adaptive pooling to a smaller size makes
    every output depend on the whole image (``global_context``): then the bound is the
    local part only.

    Returns
    -------
    receptive_field : int
        Odd width ``R``: output pixel ``(i, j)`` depends only on inputs within
        ``R // 2`` pixels of ``(i, j)`` along each axis (apart from global pooling).
    global_context : bool
        True when some layer pools over a whole feature map.

    Examples
    --------
    >>> from torch import nn
    >>> probe_receptive_field(nn.Conv2d(1, 1, 3, padding=1), 1, (8, 8))
    (3, False)
    """
    full = size
    reach = 0.0
    global_ctx = False

    def stride_of(t: torch.Tensor) -> float:
        return max(full[0] / t.shape[-2], full[1] / t.shape[-1])

    def layer_hook(mod: nn.Module, inp: tuple[Any, ...], out: Any) -> None:
        nonlocal reach
        t = inp[0]
        if not isinstance(t, torch.Tensor) or t.ndim != 4:
            return
        s = stride_of(t)
        k = max(_pair(getattr(mod, "kernel_size", 1)))
        d = max(_pair(getattr(mod, "dilation", 1)))
        st = max(_pair(getattr(mod, "stride", None) or k))
        k_eff = (k - 1) * d + 1
        if isinstance(mod, nn.ConvTranspose2d):
            # an output pixel sees ceil(k / stride) inputs around its coarse parent
            reach += math.ceil(k / st) * s
        else:
            reach += math.ceil((k_eff - 1) / 2) * s + (st - 1) * s

    # adaptive pooling modules call F.adaptive_*_pool2d, which the patch below records
    types = (nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d, nn.AvgPool2d, *conv_types)
    handles = [m.register_forward_hook(layer_hook) for m in net.modules() if isinstance(m, types)]

    orig_interp = F.interpolate
    orig_aavg = F.adaptive_avg_pool2d
    orig_amax = F.adaptive_max_pool2d

    def interp(inp: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        nonlocal reach
        out = orig_interp(inp, *args, **kwargs)
        if inp.ndim == 4 and out.shape[-2] >= inp.shape[-2]:
            # a bilinear/nearest output pixel reaches its neighbouring coarse pixel
            reach += stride_of(inp)
        return out

    def adaptive(orig: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(inp: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            nonlocal reach, global_ctx
            out = orig(inp, *args, **kwargs)
            o = out[0] if isinstance(out, tuple) else out
            if inp.ndim == 4 and o.shape[-2:] != inp.shape[-2:]:
                ratio_h, ratio_w = inp.shape[-2] / o.shape[-2], inp.shape[-1] / o.shape[-1]
                if ratio_h.is_integer() and ratio_w.is_integer() and o.shape[-1] > 1:
                    # exact pooling by an integer factor: a local average, not global
                    r = max(ratio_h, ratio_w)
                    reach += (r - 1) * stride_of(inp)
                else:
                    global_ctx = True
            return out

        return wrapped

    was_training = net.training
    net.eval()
    try:
        F.interpolate = interp
        F.adaptive_avg_pool2d = adaptive(orig_aavg)
        F.adaptive_max_pool2d = adaptive(orig_amax)
        p = next(net.parameters(), None)
        dev = p.device if p is not None else torch.device("cpu")
        with torch.no_grad():
            net(torch.zeros(1, in_channels, *size, device=dev))
    finally:
        F.interpolate = orig_interp
        F.adaptive_avg_pool2d = orig_aavg
        F.adaptive_max_pool2d = orig_amax
        for h in handles:
            h.remove()
        net.train(was_training)
    return 2 * math.ceil(reach) + 1, global_ctx

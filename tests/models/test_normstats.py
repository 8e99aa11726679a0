"""Batch normalisation by each image's own statistics (``norm_statistics="image"``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from xspecseg.models import get_model, load, save, use_image_statistics
from xspecseg.models.normstats import ImageStatsBatchNorm2d


def test_a_layer_normalises_each_image_by_its_own_statistics():
    bn = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        bn.bias.copy_(torch.tensor([0.0, -1.0, 3.0]))
        bn.running_mean.fill_(100.0)  # never used for maps larger than 1 x 1
    use_image_statistics(bn).eval()
    x = torch.randn(2, 3, 5, 7, generator=torch.Generator().manual_seed(0)) * 4 + 2
    with torch.no_grad():
        got = bn(x).numpy()
    a = x.numpy().astype(np.float64)
    mean = a.mean(axis=(2, 3), keepdims=True)
    var = a.var(axis=(2, 3), keepdims=True)  # biased, as batch normalisation uses
    want = (a - mean) / np.sqrt(var + bn.eps) * bn.weight.detach().numpy()[None, :, None, None]
    want += bn.bias.detach().numpy()[None, :, None, None]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # a pooled vector keeps the running statistics (mean 100, variance 1: the bias)
    with torch.no_grad():
        pooled = bn(torch.full((2, 3, 1, 1), 100.0)).numpy()[:, :, 0, 0]
    np.testing.assert_allclose(pooled, np.tile(bn.bias.detach().numpy(), (2, 1)), atol=1e-3)


def test_an_image_far_outside_the_running_range_stays_in_range():
    torch.manual_seed(0)
    net = get_model("unet", base_channels=4, depth=2, batch_norm=True).eval()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        running = net(x * 1e4).abs().max().item()
        use_image_statistics(net)
        image = net(x * 1e4).abs().max().item()
        same = net(x).abs().max().item()
    assert running > 1e3  # the running statistics pass the scale on
    assert image < 50 and abs(image - same) < 1e-2 * max(1.0, same)


def test_odm_unet_results_do_not_depend_on_the_batch():
    torch.manual_seed(0)
    net = get_model("odm_unet", variant="small", width_mult=0.5, kernel_num=2, sdi_channels=8)
    net = use_image_statistics(net).eval()
    assert any(isinstance(m, ImageStatsBatchNorm2d) for m in net.modules())
    # feature maps of a few pixels make the statistics sensitive to rounding: a size as
    # small as a real image's deepest map (half-orbit: 32 x 16)
    x = torch.randn(3, 1, 256, 128)
    with torch.no_grad():
        whole = net(x)
        alone = torch.cat([net(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(whole, alone, rtol=1e-4, atol=1e-4)


def test_the_checkpoint_says_which_statistics(tmp_path: Path):
    torch.manual_seed(0)
    net = use_image_statistics(get_model("unet", base_channels=4, depth=2, batch_norm=True))
    path = save(net, tmp_path / "m", config={"norm_statistics": "image"})
    loaded = load(path)
    assert any(isinstance(m, ImageStatsBatchNorm2d) for m in loaded.modules())
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net.eval()(x))
    plain = load(save(net, tmp_path / "p", config={}))
    assert not any(isinstance(m, ImageStatsBatchNorm2d) for m in plain.modules())
    cfg = json.loads((path / "config.json").read_text())
    cfg["norm_statistics"] = "per-pixel"
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="norm_statistics"):
        load(path)

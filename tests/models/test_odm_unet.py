"""ODM_Unet and its blocks, each against its definition computed by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from xspecseg.models import get_model
from xspecseg.models.odm_unet import (
    SCSE,
    SDI,
    ODConv2d,
    ODMUNet,
    set_fixed_attention,
    temperature_schedule,
)

from .base import ModelContract

SMALL = {
    "variant": "small",
    "width_mult": 0.5,
    "kernel_num": 2,
    "sdi_channels": 8,
    "decoder_channels": [32, 16, 16, 8, 8],
}


class TestODMUNetContract(ModelContract):
    name = "odm_unet"
    small_kwargs = SMALL
    small_params = (500_000, 570_000)
    default_params = (8_000_000, 8_700_000)


def _as_conv(od: ODConv2d) -> torch.nn.Conv2d:
    conv = torch.nn.Conv2d(
        od.in_planes,
        od.out_planes,
        od.kernel_size,
        od.stride,
        od.padding,
        od.dilation,
        od.groups,
        bias=False,
    )
    with torch.no_grad():
        conv.weight.copy_(od.weight[0])
    return conv


@pytest.mark.parametrize(
    ("cin", "cout", "k", "stride", "groups"),
    [(6, 10, 3, 1, 1), (6, 10, 3, 2, 1), (8, 8, 5, 2, 8), (6, 12, 1, 1, 1)],
)
def test_odconv_with_fixed_attention_is_conv2d(
    cin: int, cout: int, k: int, stride: int, groups: int
) -> None:
    torch.manual_seed(0)
    od = ODConv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, kernel_num=1)
    od.fixed_attention = True
    x = torch.randn(3, cin, 17, 22)
    torch.testing.assert_close(od(x), _as_conv(od)(x), rtol=1e-5, atol=1e-5)


def test_odconv_with_attentions_monkeypatched_to_ones_is_conv2d(monkeypatch) -> None:
    # the dynamic path itself (per-sample grouped convolution) with unit attentions
    torch.manual_seed(0)
    od = ODConv2d(6, 10, 3, 1, 1, kernel_num=1)
    b = 3
    ones = (torch.ones(b, 6, 1, 1), torch.ones(b, 10, 1, 1), torch.ones(b, 1, 1, 1, 3, 3), 1.0)
    monkeypatch.setattr(od.attention, "forward", lambda x: ones)
    x = torch.randn(b, 6, 12, 9)
    torch.testing.assert_close(od(x), _as_conv(od)(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("groups", [1, 8])
def test_odconv_matches_its_definition(groups: int) -> None:
    # y_b = alpha_f * conv(x_b * alpha_c, sum_i alpha_w[i] * alpha_s * W_i), sample by sample
    torch.manual_seed(0)
    od = ODConv2d(8, 8 if groups > 1 else 12, 3, 2, 1, groups=groups, kernel_num=3).eval()
    od.attention.temperature = 2.0
    x = torch.randn(4, 8, 15, 11)
    att = od.attention
    z = F.relu(att.bn(F.conv2d(x.mean((2, 3), keepdim=True), att.fc.weight)))
    t = att.temperature
    expected = []
    for b in range(x.shape[0]):
        zb = z[b : b + 1]
        a_c = torch.sigmoid(F.conv2d(zb, att.channel_fc.weight, att.channel_fc.bias) / t)
        a_s = torch.sigmoid(F.conv2d(zb, att.spatial_fc.weight, att.spatial_fc.bias) / t)
        a_w = torch.softmax(F.conv2d(zb, att.kernel_fc.weight, att.kernel_fc.bias).flatten() / t, 0)
        w = sum(a_w[i] * a_s.view(3, 3) * od.weight[i] for i in range(3))
        y = F.conv2d(x[b : b + 1] * a_c, w, None, 2, 1, 1, groups)
        if att.filter_fc is not None:
            y = y * torch.sigmoid(F.conv2d(zb, att.filter_fc.weight, att.filter_fc.bias) / t)
        expected.append(y)
    torch.testing.assert_close(od(x), torch.cat(expected), rtol=1e-4, atol=1e-5)
    if groups > 1:
        assert att.filter_fc is None  # depth-wise: no filter attention, as in the reference


def test_temperature_softmax() -> None:
    torch.manual_seed(0)
    od = ODConv2d(16, 16, 3, padding=1, kernel_num=4)
    with torch.no_grad():
        od.attention.kernel_fc.weight.normal_(0, 5.0)
    x = torch.randn(2, 16, 8, 8)
    od.attention.temperature = 1e4
    kernel = od.attention(x)[3].flatten(1)
    torch.testing.assert_close(kernel, torch.full_like(kernel, 0.25), atol=1e-3, rtol=0)
    od.attention.temperature = 1.0
    sharp = od.attention(x)[3].flatten(1).detach()
    torch.testing.assert_close(sharp.sum(1), torch.ones(2))
    assert float(sharp.max()) > 0.3
    od.attention.temperature = 0.01
    assert float(od.attention(x)[3].detach().max()) > 0.99  # towards one-hot


def test_temperature_schedule_and_propagation() -> None:
    assert temperature_schedule(0) == 30.0
    assert temperature_schedule(10) == 1.0 and temperature_schedule(50) == 1.0
    assert temperature_schedule(5) == pytest.approx(15.5)
    assert temperature_schedule(2, warmup_epochs=4, start=9.0, end=1.0) == pytest.approx(5.0)
    net = ODMUNet(**SMALL)
    net.set_temperature(temperature_schedule(3))
    temps = {m.temperature for m in net.modules() if hasattr(m, "temperature")}
    assert temps == {temperature_schedule(3)}
    with pytest.raises(ValueError):
        net.set_temperature(0.0)


def test_fixed_attention_switch_reaches_every_layer() -> None:
    net = ODMUNet(**SMALL)
    set_fixed_attention(net, True)
    ods = [m for m in net.modules() if isinstance(m, ODConv2d)]
    assert ods and all(m.fixed_attention for m in ods)
    net.set_fixed_attention(False)
    assert not any(m.fixed_attention for m in ods)


def test_scse_matches_definition() -> None:
    torch.manual_seed(0)
    m = SCSE(64, reduction=8)
    x = torch.randn(2, 64, 7, 9)
    gap = x.mean((2, 3))  # (B, C)
    hidden = torch.relu(gap @ m.fc1.weight.view(8, 64).T + m.fc1.bias)
    c = torch.sigmoid(hidden @ m.fc2.weight.view(64, 8).T + m.fc2.bias)[:, :, None, None]
    s = torch.sigmoid(torch.einsum("bchw,c->bhw", x, m.spatial.weight.view(64)) + m.spatial.bias)
    expected = x * c + x * s[:, None]
    torch.testing.assert_close(m(x), expected, rtol=1e-5, atol=1e-6)


def _block_mean(x: torch.Tensor, f: int) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, c, h // f, f, w // f, f).mean((3, 5))


def test_sdi_matches_definition() -> None:
    torch.manual_seed(0)
    chans, c = [4, 6, 10], 5
    sdi = SDI(chans, channels=c)
    feats = [torch.randn(2, ch, 16 // 2**i, 24 // 2**i) for i, ch in enumerate(chans)]

    def refine(j: int, f: torch.Tensor) -> torch.Tensor:
        ca = sdi.ca[j]
        w1, w2 = ca.fc1.weight.flatten(1), ca.fc2.weight.flatten(1)

        def mlp(v: torch.Tensor) -> torch.Tensor:
            return torch.relu(v @ w1.T) @ w2.T

        att_c = torch.sigmoid(mlp(f.mean((2, 3))) + mlp(f.amax((2, 3))))[:, :, None, None]
        f = f * att_c
        desc = torch.cat([f.mean(1, keepdim=True), f.amax(1, keepdim=True)], 1)
        f = f * torch.sigmoid(F.conv2d(desc, sdi.sa[j].conv.weight, padding=3))
        p = sdi.proj[j]
        return torch.einsum("bchw,oc->bohw", f, p.weight.flatten(1)) + p.bias[:, None, None]

    refined = [refine(j, f) for j, f in enumerate(feats)]
    outs = sdi(feats)
    for i, target in enumerate(refined):
        prod = torch.ones_like(target)
        for j, f in enumerate(refined):
            if j < i:  # finer level: average pooling down to level i
                f = _block_mean(f, 2 ** (i - j))
            elif j > i:  # coarser level: bilinear up to level i
                f = F.interpolate(f, size=target.shape[-2:], mode="bilinear", align_corners=False)
            conv = sdi.smooth[i][j]
            prod = prod * F.conv2d(f, conv.weight, conv.bias, padding=1)
        assert outs[i].shape == (2, c, *target.shape[-2:])
        torch.testing.assert_close(outs[i], prod, rtol=1e-4, atol=1e-6)


def test_train_mode_with_one_image() -> None:
    # the ODConv squeeze falls back to running statistics for a batch of one
    net = get_model("odm_unet", **SMALL).train()
    y = net(torch.randn(1, 1, 40, 24))
    y.sum().backward()
    assert y.shape == (1, 1, 40, 24)


def test_global_context_is_declared() -> None:
    net = get_model("odm_unet", **SMALL)
    assert net.xspecseg_info["global_context"] is True
    assert net.xspecseg_info["downsampling"] == 32


def test_paper_structure() -> None:
    net = get_model("odm_unet")
    assert net.encoder.output_stride == 32
    assert len(net.sdi.proj) == 5 and len(net.decoder) == 5
    assert all(isinstance(b.scse, SCSE) for b in net.decoder)
    assert sum(isinstance(m, ODConv2d) for m in net.encoder.modules()) == 44

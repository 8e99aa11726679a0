"""The IAR paper's U-net: shared contract, initialisers, receptive field, chunking."""

from __future__ import annotations

import math

import pytest
import torch

from xspecseg.models import INITIALIZERS, UNet, get_model
from xspecseg.models._padding import probe_receptive_field

from .base import ModelContract, gradient_reach


class TestUNetContract(ModelContract):
    name = "unet"
    small_kwargs = {"base_channels": 4}  # noqa: RUF012
    small_params = (121_000, 122_500)
    # Zhixu's Keras U-net: 31.0 M parameters at 64 base filters
    default_params = (30_900_000, 31_100_000)


def test_paper_defaults() -> None:
    net = get_model("unet")
    kw = net.xspecseg_info["kwargs"]
    assert kw["base_channels"] == 64 and kw["depth"] == 4
    assert kw["dropout"] == 0.5 and kw["init"] == "he_normal" and kw["batch_norm"] is False
    assert net.xspecseg_info["downsampling"] == 16
    assert [b[0].out_channels for b in net.down] == [64, 128, 256, 512]
    assert net.bottleneck[0].out_channels == 1024
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


def test_batch_norm_option() -> None:
    net = get_model("unet", base_channels=4, batch_norm=True)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 18


def test_dropout_only_in_train_mode() -> None:
    net = get_model("unet", base_channels=4, dropout=0.5)
    x = torch.randn(1, 1, 32, 32)
    net.train()
    torch.manual_seed(0)
    a = net(x)
    torch.manual_seed(1)
    b = net(x)
    assert not torch.equal(a, b)
    with pytest.raises(ValueError, match="drop probability"):
        get_model("unet", dropout=1.0)


@pytest.mark.parametrize("init", INITIALIZERS)
def test_initialisers_match_keras_statistics(init: str) -> None:
    torch.manual_seed(0)
    net = UNet(base_channels=16, init=init)
    conv = net.down[2][2]  # 3x3, 64 -> 64
    w = conv.weight.detach().flatten()
    fan_in = fan_out = 64 * 9
    expected_var = {
        "he_normal": 2 / fan_in,
        "he_uniform": 2 / fan_in,
        "glorot_normal": 2 / (fan_in + fan_out),
        "glorot_uniform": 2 / (fan_in + fan_out),
        "lecun_normal": 1 / fan_in,
        "lecun_uniform": 1 / fan_in,
    }
    assert torch.all(conv.bias == 0)
    if init == "orthogonal":
        m = conv.weight.detach().reshape(64, -1)
        torch.testing.assert_close(m @ m.T, torch.eye(64), atol=1e-4, rtol=0)
        return
    assert float(w.var()) == pytest.approx(expected_var[init], rel=0.1)
    if init.endswith("uniform"):
        assert float(w.abs().max()) <= math.sqrt(3 * expected_var[init]) + 1e-7
    else:  # truncated at two standard deviations of the underlying normal
        assert float(w.abs().max()) <= 2 * math.sqrt(expected_var[init]) / 0.8796 + 1e-6


def test_unknown_initialiser() -> None:
    with pytest.raises(ValueError, match="initialiser"):
        get_model("unet", init="xavier")


def test_receptive_field_bounds_the_measured_one() -> None:
    net = get_model("unet", base_channels=4, dropout=0.0)
    rf = net.xspecseg_info["receptive_field"]
    # every offset of the output pixel relative to the 16-pixel pooling grid
    reach = gradient_reach(net, 304, [150 + o for o in range(16)])
    assert reach <= rf // 2
    assert reach >= 0.8 * (rf // 2)  # a bound, but not a loose one
    # the generic probe used for the other architectures is a bound too
    probed, global_ctx = probe_receptive_field(net, 1, (64, 64))
    assert probed >= rf and not global_ctx


def test_chunk_with_halo_reproduces_whole_image() -> None:
    # what the chunked inference wrapper relies on: a crop at an offset that is a multiple
    # of the down-sampling factor, with receptive_field // 2 of halo, gives the same logits
    torch.manual_seed(0)
    net = get_model("unet", base_channels=4).eval()
    ds, rf = net.xspecseg_info["downsampling"], net.xspecseg_info["receptive_field"]
    halo = math.ceil((rf // 2) / ds) * ds
    x = torch.randn(1, 1, 2 * halo + 48, 2 * halo + 40)
    with torch.no_grad():
        whole = net(x)
        part = net(x[..., 16:, 32:])
    r0, c0 = halo, halo  # in crop coordinates, at least `halo` from every crop edge
    torch.testing.assert_close(
        part[..., r0 - 16 : r0 + 8, c0 - 32 : c0 + 8],
        whole[..., r0 : r0 + 24, c0 : c0 + 40],
        rtol=1e-4,
        atol=1e-5,
    )


def test_weights_are_nhwc_and_survive_a_checkpoint(tmp_path) -> None:
    # the layout is a speed choice only: the logits are those of the same weights in NCHW,
    # and a checkpoint round trip keeps both the values and the layout
    from xspecseg.models import load, save

    torch.manual_seed(0)
    net = get_model("unet", base_channels=4, dropout=0.0).eval()
    convs = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    nchw = UNet(base_channels=4, dropout=0.0).eval()
    nchw.load_state_dict(net.state_dict())
    nchw.to(memory_format=torch.contiguous_format)
    assert not nchw.down[1][0].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(2, 1, 48, 40)
    with torch.no_grad():
        got, ref = net(x), nchw(x)
    # float sums in another order: agreement to the precision of the logits' scale
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-5 * float(ref.abs().max()))
    back = load(save(net, tmp_path / "ckpt", config={}))
    assert back.down[1][0].weight.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(back(x), got, rtol=0, atol=0)

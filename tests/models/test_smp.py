"""The segmentation_models_pytorch baselines of the ODM_Unet paper, through the registry."""

from __future__ import annotations

import pytest
import torch

from xspecseg.models import SMP_ARCHITECTURES, available_models, get_model

from .base import ModelContract

# parameter counts with the default encoder (resnet18), one input channel, one class
_PARAMS = {
    "Unet": 14_321_937,
    "UnetPlusPlus": 15_964_177,
    "DeepLabV3": 15_892_673,
    "DeepLabV3Plus": 12_323_025,
    "PSPNet": 830_113,  # encoder_depth=3: layer3 and layer4 are pruned
    "Linknet": 11_657_505,
    "FPN": 13_040_961,
    "PAN": 11_361_384,
    "MAnet": 21_669_201,
}


def _contract(arch: str) -> type[ModelContract]:
    n = _PARAMS[arch]
    band = (int(n * 0.99), int(n * 1.01))  # smp may move a few layers between releases
    attrs = {
        "name": f"smp:{arch}",
        "small_kwargs": {},
        "small_params": band,
        "default_params": band,
    }
    return type(f"TestSMP{arch}Contract", (ModelContract,), attrs)


for _arch in SMP_ARCHITECTURES:
    globals()[f"TestSMP{_arch}Contract"] = _contract(_arch)


def test_registry_lists_eleven_models() -> None:
    names = available_models()
    assert len(names) == 11 and len(set(names)) == 11
    assert names[:2] == ["unet", "odm_unet"]
    assert {f"smp:{a}" for a in _PARAMS} == set(names[2:])


def test_names_are_case_insensitive_and_unknown_names_fail() -> None:
    assert get_model("SMP:linknet").xspecseg_info["name"] == "smp:Linknet"
    with pytest.raises(ValueError, match="available"):
        get_model("smp:SegFormerXL")


def test_encoder_is_overridable_and_weights_stay_offline() -> None:
    net = get_model("smp:FPN", encoder_name="resnet34")
    assert net.xspecseg_info["kwargs"]["encoder_name"] == "resnet34"
    assert "encoder_weights" not in net.xspecseg_info["kwargs"]
    with pytest.raises(ValueError, match="encoder_weights=None"):
        get_model("smp:Unet", encoder_weights="imagenet")


def test_kwargs_pass_through() -> None:
    net = get_model("smp:Unet", decoder_channels=(64, 32, 16, 8, 8)).eval()
    assert net.xspecseg_info["kwargs"]["decoder_channels"] == [64, 32, 16, 8, 8]
    with torch.no_grad():
        assert net(torch.zeros(1, 1, 20, 30)).shape == (1, 1, 20, 30)


def test_global_pooling_decoders_are_flagged() -> None:
    flags = {a: get_model(f"smp:{a}").xspecseg_info["global_context"] for a in ("FPN", "PSPNet")}
    assert flags == {"FPN": False, "PSPNet": True}

"""Checkpoints: safetensors + JSON round trip, and clear errors for foreign or corrupt files."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from xspecseg.models import checkpoint as ckpt
from xspecseg.models import get_model, load, save

CONFIG = {
    "threshold": 0.65,
    "normalisation": {"kind": "log10-zscore", "mean": -3.2, "std": 1.1},
    "band": [0.5, 10.0],
    "night_window": ["18:00", "06:00"],
    "provenance": {"epochs": 10, "optimizer": "adam", "lr": 1e-4, "seed": 0},
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(0)
    net = get_model("unet", base_channels=4, batch_norm=True)
    path = save(net, tmp_path_factory.mktemp("ckpt") / "iar", config=CONFIG)
    return net.eval(), path


def test_round_trip_reproduces_outputs(saved: tuple[torch.nn.Module, Path]) -> None:
    net, path = saved
    loaded = load(path)
    assert not loaded.training
    assert loaded.threshold == 0.65
    cfg = loaded.xspecseg_config
    assert cfg["name"] == "unet" and cfg["kwargs"] == net.xspecseg_info["kwargs"]
    assert cfg["format"] == "xspecseg-model" and cfg["format_version"] == 1
    assert cfg["xspecseg_version"]
    for key, value in CONFIG.items():
        assert cfg[key] == value
    x = torch.randn(2, 1, 37, 53)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))
    # the files themselves are also accepted
    assert load(path / "config.json").threshold == 0.65
    assert load(path / "model.safetensors").threshold == 0.65


def test_odm_unet_round_trip_keeps_temperature(tmp_path: Path) -> None:
    net = get_model("odm_unet", variant="small", width_mult=0.5, kernel_num=2, sdi_channels=8)
    net.set_temperature(4.0)
    save(net, tmp_path / "odm", config={})
    loaded = load(tmp_path / "odm")
    assert loaded.threshold == 0.5 and loaded.temperature == 4.0
    x = torch.randn(1, 1, 40, 24)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net.eval()(x))


def test_never_unpickles(saved: tuple[torch.nn.Module, Path], monkeypatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("checkpoint loading must not unpickle")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    load(saved[1])


def _copy(path: Path, dest: Path) -> Path:
    dest.mkdir()
    for f in path.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())
    return dest


def _edit_config(d: Path, **changes) -> None:
    cfg = json.loads((d / "config.json").read_text())
    for k, v in changes.items():
        if v is None:
            cfg.pop(k)
        else:
            cfg[k] = v
    (d / "config.json").write_text(json.dumps(cfg))


def test_foreign_and_corrupt_configs(saved: tuple[torch.nn.Module, Path], tmp_path: Path) -> None:
    _, path = saved
    d = _copy(path, tmp_path / "a")
    (d / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load(d)
    (d / "config.json").write_text(json.dumps({"model": "resnet"}))
    with pytest.raises(ValueError, match="not an xspecseg model config"):
        load(d)
    d = _copy(path, tmp_path / "b")
    _edit_config(d, kwargs=None)
    with pytest.raises(ValueError, match="lacks the required keys"):
        load(d)
    d = _copy(path, tmp_path / "c")
    _edit_config(d, name="transformer")
    with pytest.raises(ValueError, match="unknown architecture"):
        load(d)
    d = _copy(path, tmp_path / "d")
    _edit_config(d, format_version=99)
    with pytest.raises(ValueError, match="format_version"):
        load(d)
    d = _copy(path, tmp_path / "e")
    _edit_config(d, kwargs={"base_channels": 4, "no_such_option": 1})
    with pytest.raises(ValueError, match="cannot build"):
        load(d)
    d = _copy(path, tmp_path / "f")
    (d / "config.json").unlink()
    with pytest.raises(ValueError, match="missing"):
        load(d)


def test_weights_not_matching_the_architecture(
    saved: tuple[torch.nn.Module, Path], tmp_path: Path
) -> None:
    _, path = saved
    d = _copy(path, tmp_path / "wide")
    _edit_config(
        d, kwargs={**json.loads((path / "config.json").read_text())["kwargs"], "base_channels": 8}
    )
    with pytest.raises(ValueError, match="wrong shape"):
        load(d)
    d = _copy(path, tmp_path / "other")
    save_file({"encoder.weight": torch.zeros(3, 3)}, str(d / "model.safetensors"))
    with pytest.raises(ValueError, match="does not match the architecture"):
        load(d)


def test_truncated_and_pickled_weights(saved: tuple[torch.nn.Module, Path], tmp_path: Path) -> None:
    _, path = saved
    d = _copy(path, tmp_path / "trunc")
    data = (d / "model.safetensors").read_bytes()
    (d / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load(d)
    d = _copy(path, tmp_path / "pickle")
    torch.save(saved[0].state_dict(), d / "model.safetensors")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load(d)
    d = _copy(path, tmp_path / "noweights")
    (d / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="no weights"):
        load(d)


def test_save_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="get_model"):
        save(torch.nn.Conv2d(1, 1, 3), tmp_path / "x", config={})
    net = get_model("unet", base_channels=4)
    with pytest.raises(ValueError, match="JSON"):
        save(net, tmp_path / "y", config={"bad": object()})
    with pytest.raises(ValueError, match="reserved"):
        save(net, tmp_path / "z", config={"format_version": 7})


def test_shipped_names(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(ckpt, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="xspecseg train"):
        load("iar-default")
    with pytest.raises(FileNotFoundError, match="no shipped model"):
        load("does-not-exist")
    save(get_model("unet", base_channels=4), tmp_path / "iar-default", config={"threshold": 0.4})
    assert load("iar-default").threshold == 0.4


def test_the_shipped_iar_model_loads_with_its_provenance() -> None:
    model = load("iar-default")
    cfg = model.xspecseg_config
    # the trained U-net, run with the tilt row background by `xspecseg ensemble`
    assert cfg["architecture"] == "ensemble" and cfg["band"] == [0.0, 6.0]
    assert cfg["night_window"] == ["18:00", "06:00"] and 0.4 <= model.threshold <= 0.9
    assert cfg["provenance"]["command"].startswith("xspecseg ensemble iar-unet --row-background")
    (member,) = cfg["provenance"]["members"]
    assert member["architecture"] == "unet"
    assert member["provenance"]["command"].startswith("xspecseg train --data synth-iar")
    assert cfg["representation"]["method"] == "log-relative"
    assert cfg["representation"]["row_background"] == "tilt"
    assert "row_background" not in cfg["trained_representation"]  # level, the default


# -- what a config may ask for: a whitelist per architecture ------------------------------------


def test_negative_base_channels_is_refused_naming_the_key(
    saved: tuple[torch.nn.Module, Path], tmp_path: Path
) -> None:
    _, path = saved
    d = _copy(path, tmp_path / "neg")
    kwargs = json.loads((path / "config.json").read_text())["kwargs"]
    _edit_config(d, kwargs={**kwargs, "base_channels": -3})
    with pytest.raises(ValueError, match=r"config\.json: .*key 'base_channels' = -3"):
        load(d)
    for key, bad in [("depth", 0), ("dropout", 1.5), ("init", "os.system"), ("in_channels", 2.5)]:
        _edit_config(d, kwargs={**kwargs, key: bad})
        with pytest.raises(ValueError, match=f"key '{key}'"):
            load(d)


@pytest.fixture
def no_reach(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if building a model reaches timm (files, hub downloads) or the network."""
    import socket

    import timm

    def forbidden(*args, **kwargs):
        raise AssertionError("a checkpoint config reached timm or the network")

    monkeypatch.setattr(timm, "create_model", forbidden)
    monkeypatch.setattr(socket.socket, "connect", forbidden)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"encoder_name": "tu-resnet18"}, "encoder_name"),
        ({"encoder_name": "tu-hf-hub:timm/resnet18.a1_in1k"}, "encoder_name"),
        ({"encoder_name": "tu-resnet18", "checkpoint_path": "/etc/hostname"}, "encoder_name"),
        ({"encoder_name": "resnet18", "checkpoint_path": "/etc/hostname"}, "checkpoint_path"),
        ({"encoder_name": "resnet18", "pretrained": True}, "pretrained"),
        ({"encoder_name": "resnet18", "encoder_weights": "imagenet"}, "encoder_weights"),
        (
            {"encoder_name": "resnet18", "decoder_attention_type": "../x.pt"},
            "decoder_attention_type",
        ),
        ({"encoder_name": "resnet18", "aux_params": {"classes": 2}}, "aux_params"),
    ],
    ids=["tu", "hub", "tu-file", "file", "pretrained", "weights", "path", "aux"],
)
def test_smp_config_may_not_reach_outside_the_checkpoint(
    saved: tuple[torch.nn.Module, Path], tmp_path: Path, no_reach, kwargs, key
) -> None:
    d = _copy(saved[1], tmp_path / "smp")
    _edit_config(d, name="smp:Unet", kwargs={"in_channels": 1, "classes": 1, **kwargs})
    with pytest.raises(ValueError, match=f"config\\.json: .*key '{key}'") as exc:
        load(d)
    assert "\n" not in str(exc.value)


def test_smp_models_refuse_foreign_encoders_when_built(no_reach) -> None:
    from xspecseg.models.registry import allowed_smp_encoders

    allowed = allowed_smp_encoders()
    assert "resnet18" in allowed and not any(n.startswith("tu-") for n in allowed)
    with pytest.raises(ValueError, match="encoder_name"):
        get_model("smp:FPN", encoder_name="tu-resnet18")
    with pytest.raises(ValueError, match="checkpoint_path"):
        get_model("smp:FPN", checkpoint_path="/etc/hostname")


def test_unknown_kwargs_of_each_architecture_are_refused(
    saved: tuple[torch.nn.Module, Path], tmp_path: Path
) -> None:
    d = _copy(saved[1], tmp_path / "odm")
    _edit_config(d, name="odm_unet", kwargs={"variant": "small", "checkpoint_path": "/x"})
    with pytest.raises(ValueError, match="key 'checkpoint_path' is not an option of odm_unet"):
        load(d)
    _edit_config(d, name="odm_unet", kwargs={"variant": "huge"})
    with pytest.raises(ValueError, match="key 'variant'"):
        load(d)

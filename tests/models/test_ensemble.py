"""Seed ensembles: the shared model contract, the mean of the members' logits on each
member's own input, checkpoints built from trained members, and what is refused."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from xspecseg.cli import main
from xspecseg.contract import InputRepresentation
from xspecseg.models import ensemble_of, get_model, load, save

from .base import ModelContract, n_params

UNET = {"name": "unet", "kwargs": {"base_channels": 4, "depth": 2}}
BN_UNET = {"name": "unet", "kwargs": {"base_channels": 4, "depth": 2, "batch_norm": True}}


class TestEnsembleContract(ModelContract):
    name = "ensemble"
    small_kwargs = {"members": [UNET, {**BN_UNET, "input_gain": 0.5, "input_offset": 0.2}]}  # noqa: RUF012
    small_params = (7_397 + 7_477, 7_397 + 7_477)
    default_params = small_params

    def test_default_parameter_count(self, model: torch.nn.Module) -> None:
        # an ensemble has no default: it holds exactly its members' parameters
        members = [get_model(s["name"], **s["kwargs"]) for s in self.small_kwargs["members"]]
        assert n_params(model) == sum(n_params(m) for m in members)


def test_logits_are_the_mean_of_each_members_on_its_own_input() -> None:
    torch.manual_seed(0)
    a = get_model(UNET["name"], **UNET["kwargs"]).eval()
    b = get_model(BN_UNET["name"], **BN_UNET["kwargs"]).eval()
    ens = get_model(
        "ensemble", members=[UNET, {**BN_UNET, "input_gain": 0.5, "input_offset": 0.2}]
    ).eval()
    ens.members[0].load_state_dict(a.state_dict())
    ens.members[1].load_state_dict(b.state_dict())
    x = torch.randn(2, 1, 36, 50)
    with torch.no_grad():
        expect = (a(x) + b(0.5 * x + 0.2)) / 2
        torch.testing.assert_close(ens(x), expect)
    arch = ens.xspecseg_architecture
    assert arch.downsampling == 4 and arch.global_context is False
    assert arch.kwargs["members"][1]["input_gain"] == 0.5


def test_member_options_are_applied() -> None:
    odm = {
        "name": "odm_unet",
        "kwargs": {"variant": "small", "width_mult": 0.5, "kernel_num": 2, "sdi_channels": 8},
        "temperature": 4.0,
        "norm_statistics": "image",
    }
    ens = get_model("ensemble", members=[odm, UNET])
    assert ens.members[0].temperature == 4.0
    kinds = {type(m).__name__ for m in ens.members[0].modules()}
    assert "ImageStatsBatchNorm2d" in kinds and "BatchNorm2d" not in kinds
    assert ens.xspecseg_architecture.global_context is True


def test_a_flipped_member_is_the_mean_over_the_image_and_its_time_reversal() -> None:
    torch.manual_seed(1)
    a = get_model(UNET["name"], **UNET["kwargs"]).eval()
    ens = get_model("ensemble", members=[{**UNET, "flip_time": True}]).eval()
    ens.members[0].load_state_dict(a.state_dict())
    x = torch.randn(2, 1, 36, 50)
    with torch.no_grad():
        plain, flipped = a(x), a(x.flip(-2)).flip(-2)
        assert not torch.allclose(plain, flipped, atol=1e-3)  # the network is not symmetric
        torch.testing.assert_close(ens(x), (plain + flipped) / 2)
        # reversing the record reverses the output, whatever the network learned
        torch.testing.assert_close(ens(x.flip(-2)), ens(x).flip(-2))
    assert ens.xspecseg_architecture.kwargs["members"][0]["flip_time"] is True


@pytest.mark.parametrize(
    ("members", "match"),
    [
        ([], "list of 1 to 16"),
        ([UNET] * 17, "list of 1 to 16"),
        ([{"name": "ensemble", "kwargs": {}}], "not a trainable architecture"),
        ([{"name": "unet", "kwargs": {"base_channels": -3}}], "member 0: key 'base_channels'"),
        ([UNET, {**UNET, "script": "x"}], "member 1 must be an object"),
        ([{**UNET, "input_gain": 0.0}], "input_gain"),
        ([{**UNET, "input_offset": float("nan")}], "input_offset"),
        ([{**UNET, "norm_statistics": "batch"}], "norm_statistics"),
        ([{**UNET, "flip_time": 1}], "flip_time"),
        (
            [{"name": "smp:Unet", "kwargs": {"encoder_name": "tu-resnet18"}}],
            "member 0: key 'encoder_name'",
        ),
        ([{"name": "unet", "kwargs": {"base_channels": 4, "in_channels": 2}}], "in_channels"),
    ],
)
def test_bad_members_are_refused(members, match) -> None:
    with pytest.raises(ValueError, match=match):
        get_model("ensemble", members=members)


# ---------------------------------------------------------------------------------------
# checkpoints of trained members
# ---------------------------------------------------------------------------------------
def _psd(seed: int, shape=(40, 48)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f = np.linspace(25.0, 1200.0, shape[1])
    psd = f**-1.5 * rng.gamma(4, 0.25, shape)
    psd[10:20, 12:24] *= 10.0
    return psd


def _member(path: Path, seed: int, threshold: float, **extra) -> Path:
    torch.manual_seed(seed)
    net = get_model("unet", base_channels=4, depth=2, batch_norm=True)
    with torch.no_grad():  # running statistics that differ from the defaults
        net.train()(torch.randn(4, 1, 32, 32) * 2 + 1)
    rep = InputRepresentation.fit([_psd(seed + 10), _psd(seed + 20)])
    cfg = {
        "threshold": threshold,
        "representation": rep.to_dict(),
        "component": "Z",
        "band": [0.0, 1200.0],
        "frequency_bins": 48,
        "image_kind": "halforbit",
        "min_bandwidth": 300.0,
        "event_filter": {"command": "tune"},
        "provenance": {"command": f"train seed {seed}"},
        **extra,
    }
    return save(net.eval(), path, config=cfg)


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("members")
    return [_member(d / f"s{s}", s, t) for s, t in ((0, 0.4), (1, 0.6), (2, 0.7))]


def test_a_checkpoint_averages_each_member_on_its_own_representation(
    members: list[Path], tmp_path: Path
) -> None:
    """Against each member run alone on its own representation of the PSD: the members
    were fitted on other images (other center and scale), so feeding them the first
    member's input unchanged would differ."""
    ens = load(ensemble_of(members, tmp_path / "ens", command="xspecseg ensemble ..."))
    psd = _psd(99)
    singles = [load(m) for m in members]
    reps = {json.dumps(s.xspecseg_card.representation.to_dict()) for s in singles}
    assert len(reps) == 3
    with torch.no_grad():
        x = torch.from_numpy(ens.xspecseg_card.representation(psd))[None, None]
        got = ens(x)
        each = [
            s(torch.from_numpy(s.xspecseg_card.representation(psd))[None, None]) for s in singles
        ]
        naive = sum(s(x) for s in singles) / 3
    # the thresholds 0.4, 0.6 and 0.7: each member's logits moved to put its own at 0.6
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    shifts = [logit(0.6) - logit(t) for t in (0.4, 0.6, 0.7)]
    expect = sum(e + sh for e, sh in zip(each, shifts, strict=True)) / 3
    torch.testing.assert_close(got, expect, rtol=1e-4, atol=1e-4)
    assert (naive + sum(shifts) / 3 - expect).abs().max() > 1e-2
    # a pixel every member puts above its own threshold is above the ensemble's
    above = torch.stack([torch.sigmoid(e) > t for e, t in zip(each, (0.4, 0.6, 0.7), strict=True)])
    assert above.all(0).any() and (torch.sigmoid(got)[above.all(0)] > 0.6).all()
    # the card: the members' data, the median threshold, no event cuts, the provenance
    cfg, card = ens.xspecseg_config, ens.xspecseg_card
    assert card.threshold == 0.6 and card.event_cuts == {}
    assert "event_filter" not in cfg and card.component == "Z" and card.frequency_bins == 48
    assert cfg["parameters"] == sum(p.numel() for p in ens.parameters())
    prov = cfg["provenance"]
    assert prov["command"] == "xspecseg ensemble ..."
    assert [m["provenance"]["command"] for m in prov["members"]] == [
        f"train seed {s}" for s in range(3)
    ]
    assert all(len(m["weights_sha256"]) == 64 for m in prov["members"])


def test_members_that_read_other_data_are_refused(members: list[Path], tmp_path: Path) -> None:
    other_band = _member(tmp_path / "band", 3, 0.5, band=[0.0, 600.0])
    with pytest.raises(ValueError, match="band"):
        ensemble_of([members[0], other_band], tmp_path / "e1")
    rep = InputRepresentation.fit([_psd(1)], background_quantile=0.1).to_dict()
    other_rep = _member(tmp_path / "rep", 4, 0.5, representation=rep)
    with pytest.raises(ValueError, match="more than center and scale"):
        ensemble_of([members[0], other_rep], tmp_path / "e2")
    ens = ensemble_of(members[:2], tmp_path / "e3")
    with pytest.raises(ValueError, match="cannot be a member"):
        ensemble_of([ens, members[2]], tmp_path / "e4")
    assert not (tmp_path / "e1").exists() and not (tmp_path / "e4").exists()


def test_an_ensemble_config_is_held_to_the_members_whitelist(
    members: list[Path], tmp_path: Path
) -> None:
    d = ensemble_of(members[:2], tmp_path / "ens")
    cfg = json.loads((d / "config.json").read_text())
    cfg["kwargs"]["members"][1]["kwargs"]["init"] = "os.system"
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="member 1: key 'init'"):
        load(d)


def test_cli_writes_an_ensemble_and_keeps_an_existing_one(
    members: list[Path], tmp_path: Path, capsys
) -> None:
    out = tmp_path / "ens"
    assert main(["ensemble", *map(str, members), "-o", str(out)]) == 0
    assert "3 members" in capsys.readouterr().out
    before = (out / "model.safetensors").read_bytes()
    with pytest.raises(SystemExit, match="already holds a model"):
        main(["ensemble", str(members[0]), "-o", str(out)])
    assert (out / "model.safetensors").read_bytes() == before
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["provenance"]["command"].startswith("xspecseg ensemble ")
    shutil.rmtree(out)


def test_cli_flip_time_makes_one_model_time_symmetric(members: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "sym"
    assert main(["ensemble", str(members[1]), "--flip-time", "-o", str(out)]) == 0
    net, one = load(out), load(members[1])
    assert net.flip_time == [True] and net.threshold == one.threshold
    x = torch.randn(1, 1, 40, 48)
    with torch.no_grad():
        plain, flipped = one(x), one(x.flip(-2)).flip(-2)
        assert not torch.allclose(plain, flipped, atol=1e-3)  # the member is not symmetric
        torch.testing.assert_close(net(x), (plain + flipped) / 2)


def test_cli_row_background_runs_a_member_on_that_row_background(
    members: list[Path], tmp_path: Path
) -> None:
    """Against the member alone fed the tilt representation of a PSD whose slope changes
    half way through the image: the ensemble's output is that, not the level one."""
    out = tmp_path / "tilt"
    assert main(["ensemble", str(members[1]), "--row-background", "tilt", "-o", str(out)]) == 0
    net, one = load(out), load(members[1])
    trained = one.xspecseg_card.representation
    card, cfg = net.xspecseg_card, net.xspecseg_config
    assert trained.row_background == "level" and card.representation.row_background == "tilt"
    assert card.representation == dataclasses.replace(trained, row_background="tilt")
    assert InputRepresentation.from_dict(cfg["trained_representation"]) == trained
    assert net.threshold == one.threshold
    psd = _psd(5)
    psd[20:] *= np.linspace(1.0, 30.0, psd.shape[1])  # another spectral slope from row 20
    with torch.no_grad():
        got = net(torch.from_numpy(card.representation(psd))[None, None])
        tilt = one(torch.from_numpy(card.representation(psd))[None, None])
        level = one(torch.from_numpy(trained(psd))[None, None])
    torch.testing.assert_close(got, tilt)
    assert (got - level).abs().max() > 1e-2
    # the default keeps the members' own row background and records nothing more
    same = ensemble_of([members[1]], tmp_path / "same", row_background="level")
    assert "trained_representation" not in json.loads((same / "config.json").read_text())


def test_row_background_needs_the_relative_representation(tmp_path: Path) -> None:
    fixed = InputRepresentation("log-fixed", center=0.0, scale=1.0).to_dict()
    member = _member(tmp_path / "fixed", 7, 0.5, representation=fixed)
    with pytest.raises(ValueError, match="log-relative"):
        ensemble_of([member], tmp_path / "e", row_background="tilt")
    assert not (tmp_path / "e").exists()

"""Training: data, input representation, augmentation, deterministic resumable loop, CV, grid search, CLI."""

from __future__ import annotations

import argparse
import json
import re

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

import xspecseg as xs
from xspecseg.contract import InputRepresentation
from xspecseg.train import (
    Augment,
    ImageSet,
    SpectrogramDataset,
    TrainingRecipe,
    clahe,
    cross_validate,
    cut_nights,
    evaluate_classical,
    evaluate_model,
    grid_search,
    hard_negatives,
    kfold_indices,
    mask_from_png,
    mask_to_png,
    synth_iar,
    train_model,
)

TINY = {"base_channels": 4, "depth": 2}


def tiny_set(n: int = 4, shape: tuple[int, int] = (32, 32), seed: int = 0) -> ImageSet:
    """Noise PSD images with a bright band (the mask) at a random frequency."""
    rng = np.random.default_rng(seed)
    images, masks = [], []
    for _ in range(n):
        psd = rng.chisquare(6, shape).astype(np.float32) / 6
        m = np.zeros(shape, bool)
        j = int(rng.integers(4, shape[1] - 8))
        m[:, j : j + 4] = True
        psd[m] *= 5
        images.append(psd)
        masks.append(m)
    freq = np.arange(shape[1]) * 0.1
    return ImageSet(images, masks, frequency=freq, description={"source": "test", "band": [0, 3.1]})


def weights(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- data ----------------------------------------------------------------------------------------


def test_fixed_representation_is_row_independent():
    s = tiny_set()
    norm = InputRepresentation.fit(s.images, method="log-fixed")
    img = s.images[0].copy()
    img[3, 3] = np.nan
    img[4, 4] = 0.0  # log undefined -> fill
    whole = norm(img)
    halves = np.concatenate([norm(img[:16]), norm(img[16:])])
    np.testing.assert_array_equal(whole, halves)
    assert whole[3, 3] == norm.fill == 0.0 and whole[4, 4] == 0.0
    back = InputRepresentation.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert back == norm
    allv = np.log10(np.concatenate([x.ravel() for x in s.images]))
    assert norm.center == pytest.approx(np.median(allv))


def test_png_masks_any_size_black_is_signal(tmp_path):
    from PIL import Image

    m = np.zeros((60, 40), bool)
    m[10:50, 30:34] = True
    m[0:5, 0:40] = True
    mask_to_png(m, tmp_path / "a.png", scale=3)
    assert np.array_equal(mask_from_png(tmp_path / "a.png", (60, 40)), m)
    # a hand-drawn PNG of another size: left half black, top quarter black
    img = np.full((80, 120), 255, np.uint8)  # rows = frequency (top = high), cols = time
    img[:, :60] = 0
    img[:20, :] = 0
    Image.fromarray(img).convert("RGB").save(tmp_path / "b.png")
    got = mask_from_png(tmp_path / "b.png", (30, 16))
    assert got[:15].all()  # first half of the night
    assert got[:, 12:].all()  # top quarter of the frequencies
    assert not got[15:, :12].any()


def test_cut_nights_across_midnight_and_png_labels(tmp_path):
    from xspecseg.training import from_cube

    t = np.arange(np.datetime64("2013-01-01", "s"), np.datetime64("2013-01-03", "s"), 100).astype(
        "M8[ns]"
    )
    f = np.arange(300) * 0.025
    psd = np.random.default_rng(0).random((1, t.size, f.size)).astype(np.float32) + 0.5
    cube = xr.Dataset(
        {"psd": (("component", "time", "frequency"), psd)},
        coords={"component": ["H"], "time": t, "frequency": f},
    )
    imgs = cut_nights(cube)
    assert len(imgs) == 1  # only 2013-01-01 18:00 -> 2013-01-02 06:00 is complete
    night = imgs[0]
    assert night.shape == (432, 241)  # 0-6 Hz at 0.025 Hz
    assert night.attrs["id"] == "2013-01-01_H"
    assert str(night.time.values[0]) == "2013-01-01T18:00:00.000000000"
    m = np.zeros(night.shape, bool)
    m[100:200, 50:60] = True
    mask_to_png(m, tmp_path / "masks" / "2013-01-01_H.png", scale=2)
    s = from_cube(cube, masks=tmp_path / "masks")
    assert len(s) == 1 and np.array_equal(s.masks[0], m)
    assert s.description["labels"] == "png"
    s2 = from_cube(cube, labels="beggan")
    assert s2.masks[0].shape == night.shape


def test_synth_iar_cache_and_band(tmp_path):
    a = synth_iar(nights=1, seed=0, start="2013-01-03", cache_dir=tmp_path)
    assert a.images[0].shape == (432, 246) and a.masks[0].any()
    assert len(list(tmp_path.glob("synth-iar-*.npz"))) == 1
    b = synth_iar(nights=1, seed=0, start="2013-01-03", cache_dir=tmp_path, band=(0.5, 5.0))
    assert b.frequency[0] >= 0.5 and b.frequency[-1] <= 5.0
    c = synth_iar(nights=1, seed=0, start="2013-01-03", cache_dir=tmp_path)
    np.testing.assert_array_equal(a.images[0], c.images[0])
    np.testing.assert_array_equal(a.masks[0], c.masks[0])
    # a cached set says what it was cut into, as a fresh one does
    assert a.description["kind"] == c.description["kind"] == "night"


def test_synth_iar_summed_components_and_the_model_config(tmp_path):
    both = synth_iar(nights=1, seed=0, start="2013-01-03", components=("H", "D"))
    hd = synth_iar(nights=1, seed=0, start="2013-01-03", components=("H+D",))
    assert [m["component"] for m in both.meta] == ["H", "D"]
    assert [m["id"] for m in hd.meta] == ["2013-01-03_H+D"] and hd.meta[0]["row_seconds"] == 100
    np.testing.assert_allclose(hd.images[0], both.images[0] + both.images[1], rtol=1e-6)
    np.testing.assert_array_equal(hd.masks[0], both.masks[0])
    # a model trained on them records its input, which predict then takes from a cube
    net, _ = train_model(hd, TrainingRecipe(epochs=1, model_kwargs=TINY), progress=False,
                         output=tmp_path / "m")  # fmt: skip
    assert net.xspecseg_config["component"] == "H+D"
    assert xs.models.load(tmp_path / "m").xspecseg_config["component"] == "H+D"


def test_a_model_trained_on_synth_cses_predicts_by_half_orbit(tmp_path):
    from xspecseg.models import load
    from xspecseg.train import synth_cses

    s = synth_cses(halforbits=1, seed=3, cache_dir=tmp_path)
    assert s.description["kind"] == "halforbit"
    assert synth_cses(halforbits=1, seed=3, cache_dir=tmp_path).description["kind"] == "halforbit"
    train_model(s, TrainingRecipe(epochs=1, model_kwargs=TINY, crop=(64, 64)), progress=False,
                output=tmp_path / "m")  # fmt: skip
    cfg = load(tmp_path / "m").xspecseg_config
    assert cfg["image_kind"] == "halforbit" and cfg["night_window"] is None


def test_imageset_save_load_roundtrip(tmp_path):
    s = tiny_set(2)
    back = ImageSet.load(s.save(tmp_path / "s.npz"))
    assert len(back) == 2 and back.description["source"] == "test"
    np.testing.assert_array_equal(back.images[1], s.images[1])
    np.testing.assert_array_equal(back.frequency, s.frequency)


# -- augmentation -------------------------------------------------------------------------------


def test_augment_deterministic_joint_and_binary():
    x = torch.randn(1, 40, 24)
    y = (torch.rand(1, 40, 24) > 0.7).float()
    aug = Augment(
        **{
            k: 1.0
            for k in (
                "flip_time",
                "shift_scale_rotate",
                "gauss_noise",
                "clahe",
                "brightness_contrast",
                "gamma",
                "sharpen",
                "blur",
                "motion_blur",
            )
        }
    )
    a = aug(x, y, np.random.default_rng(5))
    b = aug(x, y, np.random.default_rng(5))
    c = aug(x, y, np.random.default_rng(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert set(a[1].unique().tolist()) <= {0.0, 1.0}
    assert a[0].shape == x.shape and torch.isfinite(a[0]).all()
    # geometric transforms move image and mask together
    geo = Augment(
        flip_time=1.0,
        flip_frequency=1.0,
        shift_scale_rotate=1.0,
        gauss_noise=0,
        clahe=0,
        brightness_contrast=0,
        gamma=0,
        sharpen=0,
        blur=0,
        motion_blur=0,
    )
    xi = torch.zeros(1, 40, 24)
    yi = torch.zeros(1, 40, 24)
    xi[0, 5:25, 3:9] = yi[0, 5:25, 3:9] = 1.0
    xo, yo = geo(xi, yi, np.random.default_rng(1))
    inside = (yo > 0.5) & (xo > 0.5)
    assert inside.sum() >= 0.8 * yo.sum()


def test_clahe_range_and_constant():
    img = np.linspace(-2, 2, 64 * 48).reshape(1, 64, 48)
    out = clahe(img)
    assert out.shape == img.shape and out.min() >= -4 and out.max() <= 4
    # a low-contrast image gets its contrast stretched, locally
    faint = 0.1 * np.random.default_rng(0).standard_normal((1, 64, 48))
    assert clahe(faint).std() > 3 * faint.std()
    np.testing.assert_array_equal(clahe(faint), clahe(faint.copy()))
    const = clahe(torch.zeros(1, 20, 20))
    assert torch.allclose(const, const[0, 0, 0].expand_as(const))


def test_dataset_draws_depend_on_seed_epoch_index():
    ds = SpectrogramDataset(tiny_set(2), augment="odm_unet", crop=(16, 16), seed=3)
    x1, _ = ds[0]
    x2, _ = ds[0]
    ds.set_epoch(1)
    x3, _ = ds[0]
    assert x1.shape == (1, 16, 16) and torch.equal(x1, x2) and not torch.equal(x1, x3)


def test_positive_crops_hold_the_rare_target():
    # one signal pixel in a 200 x 100 image: uniform 16 x 16 crops hold it ~1 % of the time
    img = np.ones((200, 100), np.float32)
    mask = np.zeros((200, 100), bool)
    mask[3, 97] = True  # near a corner: the crop must still fit inside the image
    s = ImageSet([img], [mask])
    always = SpectrogramDataset(s, crop=(16, 16), positive_crop=1.0, seed=1)
    never = SpectrogramDataset(s, crop=(16, 16), positive_crop=0.0, seed=1)
    hits_always, hits_never = [], []
    for epoch in range(200):
        always.set_epoch(epoch)
        never.set_epoch(epoch)
        x, y = always[0]
        assert x.shape == (1, 16, 16)
        hits_always.append(float(y.sum()))
        hits_never.append(float(never[0][1].sum()))
    assert hits_always == [1.0] * 200
    assert sum(hits_never) < 20
    # where in the crop the pixel falls still varies
    origins = set()
    for epoch in range(50):
        always.set_epoch(epoch)
        origins.add(int(np.argwhere(always[0][1][0].numpy())[0][0]))
    assert len(origins) > 1
    with pytest.raises(ValueError, match="positive_crop"):
        SpectrogramDataset(s, crop=(16, 16), positive_crop=1.5)


def test_hard_negatives_are_bursts_above_their_bin_not_loud_bins():
    rng = np.random.default_rng(3)
    psd = 10.0 ** (0.05 * rng.standard_normal((300, 60)))
    psd[:, 5] *= 1e4  # a line loud all along: not a hard negative
    psd[100:104, 20:50] *= 30.0  # a burst: the hard negatives
    psd[200:204, 20:50] *= 30.0  # the same burst, labelled signal: never a negative
    mask = np.zeros(psd.shape, bool)
    mask[200:204, 20:50] = True
    idx = hard_negatives(psd, mask, quantile=120 / (psd.size - mask.sum()))
    rows, cols = np.unravel_index(idx, psd.shape)
    # the 120 brightest negatives are exactly the 4 x 30 burst (reference: explicit sort)
    excess = np.log10(psd) - np.median(np.log10(psd), axis=0)
    order = np.argsort(np.where(mask, -np.inf, excess), axis=None)[::-1][:120]
    assert set(idx.tolist()) == set(order.tolist())
    assert set(rows.tolist()) == {100, 101, 102, 103} and not (cols == 5).any()


def test_hard_crops_hold_a_hard_negative_and_validate_shares():
    rng = np.random.default_rng(4)
    psd = 10.0 ** (0.05 * rng.standard_normal((400, 64))).astype(np.float32)
    psd[300:303, 10:50] *= 100.0  # 120 pixels, more than the hard share of the image
    mask = np.zeros(psd.shape, bool)
    mask[20:24, 40:44] = True
    s = ImageSet([psd], [mask])
    ds = SpectrogramDataset(
        s, crop=(32, 64), positive_crop=0.25, hard_crop=0.5, hard_quantile=0.004, seed=2
    )
    kinds = {"positive": 0, "hard": 0, "other": 0}
    for epoch in range(400):
        ds.set_epoch(epoch)
        x, y = ds[0]
        if float(y.sum()):
            kinds["positive"] += 1
        elif float(x.max()) > float(ds.representation(psd)[:250].max()):
            kinds["hard"] += 1  # the burst is in the crop
        else:
            kinds["other"] += 1
    # uniform crops hold either target only 8 % of the time each
    assert 70 < kinds["positive"] < 140
    assert 170 < kinds["hard"] < 240
    with pytest.raises(ValueError, match="hard_crop"):
        SpectrogramDataset(s, crop=(16, 16), positive_crop=0.6, hard_crop=0.5)
    # without hard crops the draws are those of the positive-crop sampler alone
    a = SpectrogramDataset(s, crop=(32, 64), positive_crop=0.25, seed=2)
    b = SpectrogramDataset(s, crop=(32, 64), positive_crop=0.25, hard_crop=0.0, seed=2)
    assert torch.equal(a[0][0], b[0][0])


# -- the training loop --------------------------------------------------------------------------


def test_train_deterministic(tmp_path):
    s = tiny_set()
    recipe = TrainingRecipe(
        epochs=2, model_kwargs={**TINY, "dropout": 0.3}, lr=1e-3, seed=7, augment="odm_unet"
    )
    a, ha = train_model(s, recipe, val=s, progress=False)
    b, _ = train_model(s, recipe, val=s, progress=False)
    assert same(weights(a), weights(b))
    c, _ = train_model(s, recipe.replace(seed=8), val=s, progress=False)
    assert not same(weights(a), weights(c))
    assert ha.sizes == {"epoch": 2, "threshold": 11}
    for v in ("train_loss", "val_loss", "val_iou", "val_miou", "val_mpa", "lr"):
        assert v in ha and ha[v].dims == ("epoch",)
    assert np.isfinite(ha.train_loss).all()


def test_resume_after_kill_matches_uninterrupted(tmp_path):
    s = tiny_set()
    recipe = TrainingRecipe(
        model_kwargs={**TINY, "dropout": 0.3},
        epochs=4,
        lr=1e-3,
        seed=1,
        lr_schedule="cosine_warm_restarts",
        restart_epochs=3,
        optimizer="adam",
        augment="odm_unet",
    )
    full, hfull = train_model(s, recipe, val=s, checkpoint_dir=tmp_path / "full", progress=False)
    # "killed" after epoch 2: the same command asked for 2 epochs, then resumed to 4
    cut = tmp_path / "cut"
    train_model(s, recipe.replace(epochs=2), val=s, checkpoint_dir=cut, progress=False)
    assert sorted(p.name for p in (tmp_path / "cut").glob("epoch-*.pt")) == [
        "epoch-0001.pt",
        "epoch-0002.pt",
    ]
    resumed, hres = train_model(s, recipe, val=s, checkpoint_dir=cut, progress=False)
    assert same(weights(full), weights(resumed))
    np.testing.assert_array_equal(hfull.train_loss, hres.train_loss)
    # checkpoints hold only plain data: they load with weights_only=True
    state = torch.load(tmp_path / "cut" / "epoch-0004.pt", weights_only=True)
    assert state["epoch"] == 4
    # a different run may not resume from these checkpoints
    with pytest.raises(ValueError, match="different run"):
        train_model(s, recipe.replace(epochs=5, lr=1e-2), val=s, checkpoint_dir=cut, progress=False)


def test_final_model_saved_with_config(tmp_path):
    from xspecseg.models import load

    s = tiny_set()
    recipe = TrainingRecipe(epochs=1, model_kwargs=TINY)
    net, hist = train_model(s, recipe, val=s, progress=False, output=tmp_path / "m", command="test")
    back = load(tmp_path / "m")
    cfg = back.xspecseg_config
    assert 0.4 <= back.threshold <= 0.9 and back.threshold == net.threshold
    assert cfg["representation"] == InputRepresentation.fit(s.images).to_dict()
    assert cfg["band"] == [0, 3.1]
    assert cfg["provenance"]["command"] == "test" and cfg["provenance"]["seed"] == 0
    assert cfg["training"]["optimizer"] == "adam" and cfg["architecture"] == "unet"
    x, _ = SpectrogramDataset(s)[0]
    with torch.no_grad():
        assert torch.equal(net.eval()(x[None]), back(x[None]))
    assert hist.attrs["threshold"] == back.threshold


def test_recipe_round_trips_through_the_checkpoint_config(tmp_path):
    from xspecseg.models import load

    recipe = TrainingRecipe.odm_unet_paper(
        model="unet",
        model_kwargs=TINY,
        epochs=1,
        batch_size=2,
        crop=(16, 16),
        positive_crop=0.25,
        restart_epochs=5,
        temperature_epochs=2.0,
        init="he_normal",
        norm_statistics="image",
        seed=3,
    )
    train_model(tiny_set(2), recipe, progress=False, output=tmp_path / "m")
    cfg = load(tmp_path / "m").xspecseg_config
    assert TrainingRecipe.from_config(cfg) == recipe
    assert cfg["norm_statistics"] == "image"  # what load() reads to rebuild the layers


@pytest.mark.parametrize("name", ["iar-default", "cses-default"])
def test_the_shipped_configs_read_as_recipes(name):
    from xspecseg.models.checkpoint import locate

    cfg = json.loads(locate(name)[0].read_text())
    # an ensemble keeps each member's recipe and provenance
    members = cfg["provenance"].get("members") or [cfg]
    for member in members:
        recipe = TrainingRecipe.from_config(member)
        # the training section is the recipe and the sizes of the data it was given
        data_sizes = {k: member["training"].pop(k) for k in ("n_train", "n_val")}
        assert recipe.to_config() == member["training"] and min(data_sizes.values()) > 0
        assert recipe.epochs == member["provenance"]["epochs"] and recipe.augment is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"optimizer": "adagrad"}, "optimizer must be one of 'adam', 'sgd', 'rmsprop'"),
        ({"loss": "focal"}, "loss must be one of 'bce', 'dice', 'ce_logdice'"),
        ({"lr_schedule": "step"}, "lr_schedule must be one of 'none', 'cosine_warm_restarts'"),
        ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
        ({"batch_size": 2.5}, "batch_size must be an integer >= 1"),
        ({"lr": 0.0}, "lr must be a positive number, got 0.0"),
        ({"lr": float("nan")}, "lr must be a positive number"),
        ({"weight_decay": -1.0}, "weight_decay must be a number >= 0"),
        ({"positive_crop": 1.5}, "positive_crop is a share of crops, 0 to 1"),
        ({"crop": (64,)}, "crop must be two positive integers"),
        ({"restart_epochs": 5}, "restart_epochs needs lr_schedule='cosine_warm_restarts'"),
        ({"temperature_epochs": 0}, "temperature_epochs must be a positive number"),
        ({"augment": "mixup"}, "unknown augmentation 'mixup'"),
        ({"model": ""}, "model must be a model name"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_invalid_recipes_are_refused(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        TrainingRecipe(**changes)


def test_default_recipe_is_the_iar_papers():
    # the class docstring: U-net, Adam 1e-4, BCE, batches of 2 whole images, 10 epochs,
    # no schedule, no augmentation
    r = TrainingRecipe()
    assert (r.model, r.optimizer, r.lr, r.loss, r.batch_size, r.epochs) == (
        "unet", "adam", 1e-4, "bce", 2, 10,
    )  # fmt: skip
    assert r.lr_schedule == "none" and r.augment is None and r.crop is None
    assert TrainingRecipe.iar_paper() == r
    odm = TrainingRecipe.odm_unet_paper()
    assert (odm.model, odm.loss, odm.lr, odm.batch_size, odm.lr_schedule) == (
        "odm_unet", "ce_logdice", 1e-3, 16, "cosine_warm_restarts",
    )  # fmt: skip
    assert odm.augment == Augment().to_dict() | {
        k: list(v) for k, v in Augment().to_dict().items() if isinstance(v, tuple)
    }


def test_train_model_refuses_loose_keywords():
    with pytest.raises(TypeError, match="put them in the recipe"):
        train_model(tiny_set(2), TrainingRecipe(), epochs=1)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
@pytest.mark.parametrize("loss", ["bce", "dice", "ce_logdice"])
def test_optimizers_and_losses(optimizer, loss):
    s = tiny_set(2, (16, 16))
    recipe = TrainingRecipe(epochs=1, optimizer=optimizer, loss=loss, model_kwargs=TINY)
    _, h = train_model(s, recipe, progress=False)
    assert np.isfinite(h.train_loss).all()


class _Tempered(nn.Module):
    """A tiny net with an ODM_Unet-style temperature, recording what it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.temperatures: list[float] = []

    def set_temperature(self, t: float) -> None:
        self.temperatures.append(t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_temperature_annealed_each_epoch():
    from xspecseg.models import temperature_schedule

    net = _Tempered()
    _, h = train_model(tiny_set(2, (16, 16)), TrainingRecipe(epochs=3), network=net, progress=False)
    assert net.temperatures == [temperature_schedule(e) for e in range(3)]
    np.testing.assert_allclose(h.temperature, net.temperatures)


def test_evaluate_model_and_classical():
    s = tiny_set(2)
    net, _ = train_model(s, TrainingRecipe(epochs=1, model_kwargs=TINY), progress=False)
    r = evaluate_model(net, s)
    assert {"iou", "miou", "mpa", "fp_fraction"} <= set(r) and r["iou_by_threshold"].size == 11
    c = evaluate_classical("classical:beggan", s, fmin_bin=0, min_duration=1, min_pixels=1)
    assert 0.0 <= c["fp_fraction"] <= 1.0 and np.isfinite(c["miou"])


# -- cross-validation and grid search -------------------------------------------------------------


def test_kfold_and_cross_validate():
    folds = kfold_indices(7, k=3, seed=0)
    vals = sorted(i for _, v in folds for i in v)
    assert vals == list(range(7))
    for tr, va in folds:
        assert not set(tr) & set(va)
    cv = cross_validate(
        "unet", tiny_set(4, (16, 16)), k=2, epochs=1, model_kwargs=TINY, augment=None
    )
    assert cv.sizes["fold"] == 2 and np.isfinite(cv.val_loss).all()
    assert cv.attrs["score"] == pytest.approx(float(cv.val_loss.mean()))


def test_grid_search_on_local_cluster(tmp_path):
    from distributed import Client, LocalCluster

    path = tiny_set(4, (16, 16)).save(tmp_path / "data.npz")
    grid = {"lr": [1e-3, 1e-2], "dropout": [0.0, 0.5]}
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        res = grid_search(
            grid,
            {"source": "npz", "path": str(path)},
            client=client,
            k=2,
            epochs=1,
            model_kwargs=TINY,
            augment=None,
            progress=False,
        )
    assert res.val_iou.dims == ("lr", "dropout", "fold")
    assert res.score.shape == (2, 2) and np.isfinite(res.score).all()
    np.testing.assert_allclose(res.lr, [1e-3, 1e-2])
    assert set(json.loads(res.attrs["best"])) == {"lr", "dropout"}
    # the same trial run here gives the same numbers (trials are deterministic)
    local = grid_search(
        {"lr": [1e-3], "dropout": [0.0]},
        {"source": "npz", "path": str(path)},
        k=2,
        epochs=1,
        model_kwargs=TINY,
        augment=None,
        progress=False,
    )
    np.testing.assert_allclose(local.val_loss[0, 0], res.val_loss[0, 0], rtol=1e-6)


# -- command line ------------------------------------------------------------------------------


def _run_cli(argv: list[str]) -> int:
    from xspecseg._cli_train import add_parsers

    p = argparse.ArgumentParser(prog="xspecseg")
    add_parsers(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    return args.func(args)


def test_cli_train_resume_and_evaluate(tmp_path, capsys):
    from xspecseg.models import load

    data = tiny_set(6, (32, 32)).save(tmp_path / "d.npz")
    common = [
        "train",
        "--data",
        f"npz:{data}",
        "--epochs",
        "1",
        "--base-channels",
        "4",
        "--depth",
        "2",
        "--no-progress",
        "-o",
        str(tmp_path / "m"),
        "--lr",
        "1e-3",
    ]
    assert _run_cli(common) == 0
    assert _run_cli([*common[:4], "2", *common[5:], "--resume"]) == 0  # continues to epoch 2
    hist = xr.open_dataset(tmp_path / "m" / "history.nc")
    assert hist.sizes["epoch"] == 2
    hist.close()
    assert load(tmp_path / "m").xspecseg_config["provenance"]["epochs"] == 2
    capsys.readouterr()
    rc = _run_cli(
        ["evaluate", str(tmp_path / "m"), "--data", f"npz:{data}", "-o", str(tmp_path / "t.nc")]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "classical:beggan" in out and "classical:canny" in out and "miou" in out
    with xr.open_dataset(tmp_path / "t.nc") as table:
        assert table.sizes["model"] == 3 and {"iou", "miou", "mpa"} <= set(table.data_vars)
        net = load(tmp_path / "m")
        row = table.sel(model=str(tmp_path / "m"))
        assert int(row.parameters) == sum(p.numel() for p in net.parameters())
        seconds = net.xspecseg_config["provenance"]["seconds_training"]
        assert float(row.training_seconds) == pytest.approx(seconds)
        assert float(row.inference_seconds_per_image) > 0
        assert np.isnan(table.parameters.sel(model="classical:beggan"))
    # a one-epoch model finds too few true events to tune cuts on: it says so, writes nothing
    cfg_before = (tmp_path / "m" / "config.json").read_text()
    with pytest.raises(ValueError, match="too few"):
        _run_cli(["tune-events", str(tmp_path / "m"), "--data", f"npz:{data}", "--no-progress"])
    assert (tmp_path / "m" / "config.json").read_text() == cfg_before
    # a two-epoch cosine cycle: after epoch 1 the rate is half the first (T0 = 20: 0.994)
    sched = [*common[:4], "2", *common[5:-4], "-o", str(tmp_path / "c"), "--lr", "1e-3",
             "--lr-schedule", "cosine_warm_restarts", "--restart-epochs", "2"]  # fmt: skip
    assert _run_cli(sched) == 0
    lr = xr.open_dataset(tmp_path / "c" / "history.nc").lr.values
    np.testing.assert_allclose(lr[0], 5e-4, rtol=1e-6)


def test_cli_odm_unet_temperature_warmup(tmp_path):
    data = tiny_set(4, (64, 64)).save(tmp_path / "d.npz")
    argv = ["train", "--model", "odm_unet", "--data", f"npz:{data}", "--epochs", "2",
            "--temperature-epochs", "1", "--model-arg", "variant=small",
            "--model-arg", "width_mult=0.5", "--no-progress", "-o", str(tmp_path / "m")]  # fmt: skip
    assert _run_cli(argv) == 0
    temp = xr.open_dataset(tmp_path / "m" / "history.nc").temperature.values
    np.testing.assert_allclose(temp, [30.0, 1.0])  # 30 -> 1 over one epoch (default: ten)


# -- event cuts tuned on training images ----------------------------------------------------------


class _Oracle(nn.Module):
    """Flags every pixel brighter than a level: anomalies and whistler storms alike."""

    threshold = 0.5

    def forward(self, x):
        return 40.0 * (x - 1.0)


def _bumps_and_storms(n=6, seed=0):
    rng = np.random.default_rng(seed)
    images, masks = [], []
    t = np.arange(120)[:, None]
    for _ in range(n):
        psd = 10.0 ** (0.02 * rng.standard_normal((120, 40)))
        mask = np.zeros(psd.shape, bool)
        for c in (15, 70):  # two smooth nuclei, labelled
            bump = 10.0 ** (1.0 * np.exp(-(((t - c - rng.integers(0, 10)) / 6.0) ** 2)))
            psd[:, 5:15] *= bump
            mask[:, 5:15] |= bump > 10.0**0.5
        psd[40:60:2, 25:35] *= 30.0  # a storm of single-row bursts, not labelled
        images.append(psd.astype(np.float32))
        masks.append(mask)
    meta = [{"id": f"img{i}", "kind": "halforbit", "row_seconds": 2.0} for i in range(n)]
    return ImageSet(images, masks, meta, frequency=np.arange(40.0) * 25.0)


def _first_image(data):
    """The first image of a set as a record with a time axis (rows 2 s apart)."""
    rows = data.images[0].shape[0]
    time = np.datetime64("2022-01-01", "ns") + np.arange(rows) * np.timedelta64(2, "s")
    return xr.DataArray(
        data.images[0],
        dims=("time", "frequency"),
        coords={"time": time, "frequency": data.frequency},
    )


def test_event_cuts_keep_true_events_and_reject_storms(tmp_path):
    from xspecseg.models import get_model, load, save
    from xspecseg.training.event_filter import (
        event_properties,
        tune_event_filter,
        write_event_filter,
    )

    data = _bumps_and_storms()
    oracle = _Oracle()
    rep = InputRepresentation.fit(data.images, method="log-fixed")  # the oracle reads levels
    oracle.xspecseg_config = {"representation": rep.to_dict()}
    props = event_properties(oracle, data, min_pixels=20)
    # per image: the two nuclei (true) and the storm (other; noise pixels the oracle flags
    # can split it in two)
    assert int(props.true.sum()) == 12 and int((~props.true).sum()) >= 6
    assert float(props.impulsiveness.where(props.true).max()) < 0.1
    assert float(props.impulsiveness.where(~props.true).min()) > 0.5
    cuts = tune_event_filter(props, keep=0.95)
    df = props.to_dataframe()
    true = df[df.true]
    # each cut alone keeps 95 % of the 12 true events (linear quantiles: one may fall out)
    alone = {
        "max_impulsiveness": true.impulsiveness <= cuts["max_impulsiveness"],
        "min_mean_probability": true.mean_probability >= cuts["min_mean_probability"],
        "min_bandwidth": true.bandwidth >= cuts["min_bandwidth"],
        "max_duration": true.duration <= cuts["max_duration"],
    }
    for key, ok in alone.items():
        assert ok.mean() >= 11 / 12, key
    both = np.logical_and.reduce(list(alone.values()))
    assert cuts["true_kept"] == pytest.approx(both.mean(), abs=1e-4)
    assert cuts["other_kept"] == 0.0
    # the shape properties are in Hz and seconds: bins are 25 Hz and rows 2 s apart (meta)
    assert (df.bandwidth % 25.0 == 0).all() and true.bandwidth.min() >= 9 * 25.0
    assert (df.duration % 2.0 == 0).all() and df.duration.max() > 0
    with pytest.raises(ValueError, match="too few"):
        tune_event_filter(props.isel(event=slice(0, 6)))
    # a chosen subset of the cuts: the same bounds, the others not set, no fewer kept
    some = tune_event_filter(props, keep=0.95, cuts=("mean_probability", "impulsiveness"))
    assert some["cuts"] == ["impulsiveness", "mean_probability"]
    assert "min_bandwidth" not in some and "max_duration" not in some
    for key in ("max_impulsiveness", "min_mean_probability"):
        assert some[key] == cuts[key], key
    kept = (alone["max_impulsiveness"] & alone["min_mean_probability"]).mean()
    assert some["true_kept"] == pytest.approx(kept, abs=1e-4)
    assert some["true_kept"] >= cuts["true_kept"]
    with pytest.raises(ValueError, match="unknown cut"):
        tune_event_filter(props, cuts=("area",))
    assert props.attrs["images"] == 6 and cuts["images"] == 6

    # a false-alarm rate as the operating point: look-alikes as smooth and as shaped as the
    # true events, a little less confident than their median, are left out by a stricter
    # probability cut, and only by it
    med = float(true.mean_probability.median())
    look = props.assign(
        mean_probability=props.mean_probability.where(props.true, med - 1e-3),
        impulsiveness=props.impulsiveness.where(props.true, float(true.impulsiveness.min())),
        bandwidth=props.bandwidth.where(props.true, float(true.bandwidth.median())),
        duration=props.duration.where(props.true, float(true.duration.median())),
    )
    loose = tune_event_filter(look)
    assert loose["other_per_image"] == pytest.approx((~props.true).sum() / 6)
    strict = tune_event_filter(look, max_false_per_image=0.0)
    assert strict["rate_met"] and strict["other_per_image"] == 0.0
    assert med - 1e-3 < strict["min_mean_probability"] <= med - 1e-3 + 1e-4
    for key in ("max_impulsiveness", "min_bandwidth", "max_duration"):
        assert strict[key] == loose[key], key
    assert strict["min_mean_probability_before"] == loose["min_mean_probability"]
    lt = look.true.values
    kept = (
        ~(look.impulsiveness.values > strict["max_impulsiveness"])
        & ~(look.mean_probability.values < strict["min_mean_probability"])
        & ~(look.bandwidth.values < strict["min_bandwidth"])
        & ~(look.duration.values > strict["max_duration"])
    )
    assert not kept[~lt].any()
    assert strict["true_kept"] == pytest.approx(kept[lt].mean(), abs=1e-4)
    assert strict["true_kept"] >= loose["true_kept"] - 0.5  # the median and above stay
    # a rate the tuned cuts already meet: nothing changes
    met = tune_event_filter(look, max_false_per_image=loose["other_per_image"])
    assert met["min_mean_probability"] == loose["min_mean_probability"] and met["rate_met"]
    # look-alikes without a mean probability pass every cut: the rate cannot be met
    nan = tune_event_filter(
        look.assign(mean_probability=look.mean_probability.where(look.true)),
        max_false_per_image=0.0,
    )
    assert not nan["rate_met"]

    # the cuts go into a checkpoint's config, and predict hands them to extract_events
    d = save(get_model("unet", base_channels=4, depth=2), tmp_path / "m", config={})
    write_event_filter(d, cuts, command="xspecseg tune-events m")
    net = load(d)
    assert net.xspecseg_config["max_impulsiveness"] == cuts["max_impulsiveness"]
    assert net.xspecseg_config["event_filter"]["command"] == "xspecseg tune-events m"
    img = _first_image(data)
    prob = xs.predict(img, net)
    assert prob.attrs["max_impulsiveness"] == cuts["max_impulsiveness"]
    assert prob.attrs["min_mean_probability"] == cuts["min_mean_probability"]


def test_event_score_separates_look_alikes_the_four_cuts_cannot(tmp_path):
    from xspecseg.events import CONTEXT_VARIABLES, EventScore
    from xspecseg.infer import _weights_sha256
    from xspecseg.models import get_model, load, save
    from xspecseg.training.event_filter import (
        event_properties,
        tune_event_filter,
        write_event_filter,
    )

    data = _bumps_and_storms()
    oracle = _Oracle()
    rep = InputRepresentation.fit(data.images, method="log-fixed")
    oracle.xspecseg_config = {"representation": rep.to_dict()}
    props = event_properties(oracle, data, min_pixels=20)
    assert set(CONTEXT_VARIABLES) | {"max_probability"} <= set(props.data_vars)
    assert props.attrs["model_sha256"] == _weights_sha256(oracle)
    # look-alikes as confident, smooth and shaped as the true events, which continue into
    # the spectrum beside them (isolation 0) where the true nuclei stand out of it
    true = props.true.values
    iso = props.isolation_frequency.where(props.true, 0.0)
    assert float(iso.where(props.true).min()) > 0.1
    look = props.assign(
        {
            k: props[k].where(props.true, float(np.median(props[k].values[true])))
            for k in (
                "mean_probability",
                "max_probability",
                "impulsiveness",
                "bandwidth",
                "duration",
                "contrast",
                "core_contrast",
                "spread",
                "isolation_time",
                "fill",
            )
        }
    ).assign(isolation_frequency=iso)
    four = tune_event_filter(look, max_false_per_image=0.0)
    scored = tune_event_filter(look, max_false_per_image=0.0, score=True)
    assert four["other_per_image"] == 0.0 and scored["other_per_image"] == 0.0
    assert scored["true_kept"] == 1.0 > four["true_kept"] + 0.3
    assert set(scored) & set(("max_impulsiveness", "min_mean_probability")) == set()
    score = EventScore.from_dict(scored["event_score"])
    s = score(look)
    assert (
        scored["min_event_score"] <= s[true].min() and (s[~true] < scored["min_event_score"]).all()
    )
    # a rate that allows one other event per image
    one = tune_event_filter(look, max_false_per_image=1.0, score=True)
    assert one["other_per_image"] <= 1.0 and one["min_event_score"] <= scored["min_event_score"]

    # the score and its cut go into the config; predict carries them to extract_events
    d = save(get_model("unet", base_channels=4, depth=2), tmp_path / "m", config={})
    write_event_filter(d, scored, command="xspecseg tune-events m --score")
    cfg = load(d).xspecseg_config
    assert cfg["min_event_score"] == scored["min_event_score"]
    assert EventScore.from_dict(cfg["event_score"]) == score
    assert "event_score" not in cfg["event_filter"]
    img = _first_image(data)
    prob = xs.predict(img, load(d))
    assert EventScore.from_dict(json.loads(prob.attrs["event_score"])) == score
    assert prob.attrs["min_event_score"] == scored["min_event_score"]
    # the four cuts written afterwards replace the score
    write_event_filter(d, four)
    assert "event_score" not in load(d).xspecseg_config
    assert "min_event_score" not in load(d).xspecseg_config


def test_cli_tune_events_pools_saved_properties_of_its_own_model(tmp_path, capsys):
    from xspecseg.infer import _weights_sha256
    from xspecseg.models import get_model, load, save

    d = save(get_model("unet", base_channels=4, depth=2), tmp_path / "m", config={})
    net = load(d)
    rng = np.random.default_rng(0)
    paths = []
    for k in range(2):
        n = 60
        true = np.arange(n) % 3 == 0
        props = xr.Dataset(
            {
                "image": ("event", np.arange(n) % 20),
                "true": ("event", true),
                "mean_probability": ("event", np.where(true, 0.95, 0.9)),
                "isolation_frequency": ("event", np.where(true, 0.6, 0.0) + rng.normal(0, 0.05, n)),
                "impulsiveness": ("event", rng.uniform(0, 0.1, n)),
                "bandwidth": ("event", rng.uniform(500, 3000, n)),
                "duration": ("event", rng.uniform(10, 90, n)),
            },
            attrs={"images": 20, "model_sha256": _weights_sha256(net), "threshold": net.threshold},
        )
        paths.append(tmp_path / f"p{k}.nc")
        props.to_netcdf(paths[-1])
    argv = ["tune-events", str(d), "--properties", *map(str, paths), "--max-false", "0.05"]
    have = ["mean_probability", "isolation_frequency", "impulsiveness", "bandwidth", "duration"]
    assert _run_cli([*argv, "--score", "--score-features", *have, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "40 true and 80 other events on 40 image(s)" in out and "min_event_score" in out
    # the weights, largest first: confidence and isolation tell these true events apart
    weights = re.search(r"score weights per standard deviation: (.*)", out).group(1).split(", ")
    assert {w.split()[0] for w in weights[:2]} == {"mean_probability", "isolation_frequency"}
    assert all(w.split()[1].startswith("+") for w in weights[:2])
    assert "event_score" not in load(d).xspecseg_config  # a dry run writes nothing
    # the score needs every property it was asked for: the default reads them all
    with pytest.raises(ValueError, match="needs the event property"):
        _run_cli([*argv, "--score"])
    # another model's properties are refused
    other = save(get_model("unet", base_channels=4, depth=2), tmp_path / "o", config={})
    with pytest.raises(ValueError, match="another model"):
        _run_cli(["tune-events", str(other), "--properties", str(paths[0]), "--score"])


class _Hostile:
    """Pickles to a call that would leave a marker file if it were ever unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        from pathlib import Path

        return (Path.touch, (Path(self.marker),))


def test_resume_refuses_a_hostile_epoch_file(tmp_path, capsys):
    from xspecseg.cli import main

    data = tiny_set(2, (16, 16)).save(tmp_path / "d.npz")
    out = tmp_path / "m"
    argv = ["train", "--data", f"npz:{data}", "--epochs", "1", "--base-channels", "4",
            "--depth", "2", "--no-progress", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    resume = [*argv[:4], "2", *argv[5:], "--resume"]
    epoch_file = out / "checkpoints" / "epoch-0001.pt"
    marker = tmp_path / "pwned"
    hostile = {"format": _Hostile(marker)}
    for write in (lambda: torch.save(hostile, epoch_file, pickle_protocol=2),
                  lambda: epoch_file.write_bytes(b"\x80\x02garbage")):  # fmt: skip
        write()
        capsys.readouterr()
        assert main(["-q", *resume]) == 2  # -q: only the error reaches stderr
        err = capsys.readouterr().err.strip()
        assert err.startswith("xspecseg train: error: ") and "\n" not in err
        assert f"{epoch_file} is not an xspecseg training state" in err
    assert not marker.exists()


def test_row_background_and_smoothing_reach_the_card(tmp_path):
    """``--row-background tilt`` and ``--smooth`` are fitted on the training images and
    recorded in the checkpoint's card, which inference reads; without them the card says
    ``"level"`` and no smoothing; an even window is refused."""
    from xspecseg.cli import main
    from xspecseg.models.checkpoint import read_card

    data = tiny_set(4, (16, 16)).save(tmp_path / "d.npz")
    argv = ["train", "--data", f"npz:{data}", "--epochs", "1", "--base-channels", "4",
            "--depth", "2", "--no-progress"]  # fmt: skip
    assert main([*argv, "--row-background", "tilt", "-o", str(tmp_path / "tilt")]) == 0
    assert main([*argv, "-o", str(tmp_path / "level")]) == 0
    assert main([*argv, "--smooth", "3", "3", "-o", str(tmp_path / "smooth")]) == 0
    tilt = read_card(str(tmp_path / "tilt")).representation
    level = read_card(str(tmp_path / "level")).representation
    smooth = read_card(str(tmp_path / "smooth")).representation
    assert tilt.method == level.method == smooth.method == "log-relative"
    assert (tilt.row_background, level.row_background) == ("tilt", "level")
    assert tilt.scale != level.scale  # fitted on the tilt-removed images
    assert (smooth.smooth, level.smooth) == ((3, 3), None) and smooth.scale < level.scale
    assert main(["-q", *argv, "--smooth", "2", "3", "-o", str(tmp_path / "even")]) == 2


def test_cli_synth_param_sets_a_generator_parameter(tmp_path):
    from xspecseg._cli_train import _spec, add_parsers
    from xspecseg.training import load_data

    p = argparse.ArgumentParser()
    add_parsers(p.add_subparsers(dest="command", required=True))
    base = ["train", "--data", "synth-iar", "--start", "2013-01-10", "--cache", "none", "-o", "m"]
    args = p.parse_args(
        [*base, "--synth-param", "iar_rate_winter=0", "--synth-param", "iar_rate_summer=0.0"]
    )
    spec = _spec(args, seed=3, nights=1)
    assert spec["iar_rate_winter"] == 0 and spec["iar_rate_summer"] == 0.0
    # the same night with and without IARs: the parameter reached the generator
    without = load_data(spec)
    with_iar = load_data(_spec(p.parse_args([*base, "--synth-param", "iar_rate_winter=1"]),
                               seed=3, nights=1))  # fmt: skip
    assert not without.masks[0].any() and with_iar.masks[0].any()
    with pytest.raises(ValueError, match="--synth-param wants KEY=VALUE"):
        _spec(p.parse_args([*base, "--synth-param", "iar_rate_winter"]), seed=3, nights=1)
    with pytest.raises(TypeError, match="iar_delta_f_drft"):
        load_data(_spec(p.parse_args([*base, "--synth-param", "iar_delta_f_drft=2"]),
                        seed=3, nights=1))  # fmt: skip


def test_default_share_mixes_default_stations_into_randomised_ones():
    from xspecseg.training import synth_iar

    kw = dict(nights=4, seed=3, start="2013-01-10", components=("H",), domain="randomised",
              group=1)  # fmt: skip
    drawn = synth_iar(**kw)
    assert "default_share" not in drawn.description and "default_world" not in drawn.meta[0]
    mixed = synth_iar(**kw, default_share=0.5)
    flags = [m["default_world"] for m in mixed.meta]
    assert mixed.description["default_share"] == 0.5
    assert any(flags) and not all(flags)  # seed 3: both kinds among four stations
    for k, is_default in enumerate(flags):
        day = str(np.datetime64("2013-01-10") + k)
        # a default station is the default generator's night; a drawn one keeps its world
        ref = synth_iar(nights=1, seed=3, start=day, components=("H",)) if is_default else None
        expected = ref.images[0] if is_default else drawn.images[k]
        np.testing.assert_array_equal(mixed.images[k], expected)
    with pytest.raises(ValueError, match="default_share"):
        synth_iar(**kw, default_share=1.5)

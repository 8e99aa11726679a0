"""The training/inference contract: input representation and model card."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xspecseg as xs
from xspecseg.contract import InputRepresentation, ModelCard
from xspecseg.models import get_model
from xspecseg.models.checkpoint import WEIGHTS_DIR


def _image(seed=0, shape=(60, 40)):
    rng = np.random.default_rng(seed)
    f = np.linspace(0.1, 6.0, shape[1])
    psd = f**-1.7 * rng.chisquare(6, shape) / 6
    psd[20:30, 10:14] *= 5.0
    psd[5, :] = np.nan
    psd[:, 3] = np.nan
    psd[40, 7] = 0.0
    return psd, f


@settings(max_examples=25, deadline=None)
@given(
    gain=st.floats(1e-9, 1e9),
    slope=st.floats(-3.0, 3.0),
    shape=st.lists(st.floats(0.1, 10.0), min_size=40, max_size=40),
)
def test_relative_representation_ignores_gain_and_any_fixed_spectral_shape(gain, slope, shape):
    psd, f = _image()
    rep = InputRepresentation("log-relative", center=0.1, scale=0.3)
    moved = psd * gain * f**slope * np.asarray(shape)[None, :]
    np.testing.assert_allclose(rep(moved), rep(psd), atol=1e-6)


def test_relative_representation_removes_a_level_that_changes_with_time():
    # a row-by-row level (storm hours, diurnal level) is removed up to the small change it
    # makes to each bin's background quantile
    psd, _ = _image()
    rep = InputRepresentation("log-relative", center=0.1, scale=0.3)
    level = 10.0 ** np.linspace(-1, 1, psd.shape[0])[:, None]
    fixed = InputRepresentation("log-fixed", center=0.1, scale=0.3)
    moved, ref = rep(psd * level), rep(psd)
    assert np.abs(moved - ref).mean() < 0.1 * np.abs(fixed(psd * level) - fixed(psd)).mean()


def test_relative_representation_by_hand():
    psd, _ = _image()
    rep = InputRepresentation("log-relative", center=0.1, scale=0.3, clip=5.0)
    lg = np.log10(np.where(psd > 0, psd, np.nan))
    for _ in range(2):
        lg = lg - np.nanquantile(lg, 0.25, axis=0, keepdims=True)
        lg = lg - np.nanquantile(lg, 0.25, axis=1, keepdims=True)
    expect = np.clip((lg - 0.1) / 0.3, -5, 5)
    out = rep(psd)
    ok = np.isfinite(expect)
    np.testing.assert_allclose(out[ok], expect[ok], rtol=1e-6, atol=1e-6)
    assert (out[~ok] == 0.0).all() and out.dtype == np.float32
    # the bright patch stands out; a fixed representation would see the unit instead
    assert out[20:30, 10:14].mean() > out[50:, 20:].mean() + 1.0


def test_fit_and_serialisation_roundtrip():
    imgs = [_image(s)[0] for s in range(3)]
    rep = InputRepresentation.fit(imgs)
    assert rep.method == "log-relative" and rep.scale > 0
    back = InputRepresentation.from_dict(json.loads(json.dumps(rep.to_dict())))
    assert back == rep
    with pytest.raises(ValueError, match="unknown input representation"):
        InputRepresentation("zscore")
    with pytest.raises(ValueError, match="unknown input-representation keys"):
        InputRepresentation.from_dict({"method": "log-relative", "centre": 1.0})


@pytest.mark.parametrize("name", ["iar-default", "cses-default"])
def test_cards_of_shipped_configs(name):
    cfg = json.loads((WEIGHTS_DIR / name / "config.json").read_text())
    card = ModelCard.from_config(cfg)
    assert card.architecture == cfg["name"] and card.threshold == cfg["threshold"]
    assert card.image_unit == ("night" if name == "iar-default" else "half_orbit")
    assert card.band == tuple(cfg["band"])
    again = ModelCard.from_config(card.to_config())
    assert again == card


def test_old_normalisation_migrates_to_fixed_representation():
    card = ModelCard.from_config(
        {
            "name": "unet",
            "kwargs": {},
            "normalisation": {"median": -0.5, "scale": 0.4, "fill": 0.0, "log10": True},
            "image_kind": "halforbit",
        }
    )
    assert card.representation == InputRepresentation("log-fixed", center=-0.5, scale=0.4)
    assert card.image_unit == "half_orbit"


# -- through predict -------------------------------------------------------------------------


def _relative_model(component="H+D", method="log-relative"):
    torch.manual_seed(0)
    net = get_model("unet", base_channels=4, depth=2).eval()
    rep = InputRepresentation(method, center=0.2, scale=0.25)
    net.xspecseg_config = {
        "name": "unet",
        "kwargs": {},
        "night_window": ["18:00", "06:00"],
        "image_unit": "night",
        "component": component,
        "band": [0.0, 6.0],
        "representation": rep.to_dict(),
    }
    return net


@pytest.fixture(scope="module")
def cube():
    wave = xs.synth.ground_station(start="2013-01-01", days=2, seed=3)
    return xs.build_cube(wave, xs.CubeConfig.preset("iar")).compute()


def _prob(cube, model, psd=None):
    ds = cube if psd is None else cube.assign(psd=psd)
    return xs.predict(ds, model).compute().values


@pytest.mark.parametrize("gain", [1e-6, 1e6])
def test_probabilities_do_not_depend_on_the_unit(cube, gain):
    # a record times g has a PSD times g**2
    model = _relative_model()
    ref = _prob(cube, model)
    moved = _prob(cube, model, cube.psd * gain**2)
    assert np.nanmax(ref) > 0
    np.testing.assert_allclose(moved, ref, atol=1e-5)


def test_probabilities_do_not_depend_on_a_spectral_tilt(cube):
    model = _relative_model()
    f = np.maximum(cube.frequency, cube.frequency[1])
    ref = _prob(cube, model)
    np.testing.assert_allclose(_prob(cube, model, cube.psd / f), ref, atol=1e-5)


@pytest.mark.parametrize("components", [["H"], ["D"], ["H", "D"]])
def test_one_component_stations_give_finite_probabilities(cube, components):
    model = _relative_model()
    prob = xs.predict(cube.sel(component=components), model)
    assert prob.attrs["component"] == "+".join(components)
    values = prob.compute().values
    has_data = np.isfinite(cube.psd.sel(component=components).sum("component", skipna=False))
    assert np.isfinite(values[has_data.values]).all()
    assert values.max() > 0


def test_a_day_without_d_warns_and_uses_h(cube):
    model = _relative_model()
    psd = cube.psd.copy()
    day2 = cube.time >= np.datetime64("2013-01-02")
    psd.loc[{"component": "D", "time": day2}] = np.nan
    with pytest.warns(UserWarning, match="component D has no data between 2013-01-02"):
        prob = _prob(cube, model, psd)
    only_h = _prob(cube.sel(component=["H"]), model)
    night = xs.infer.night_spans(cube.time.values, ("18:00", "06:00"))
    # the night that lies wholly in day 2 is the H-only model input (level-free)
    rows = np.flatnonzero(day2.values)
    for s, e in night:
        if s >= rows[0]:
            np.testing.assert_allclose(prob[s:e], only_h[s:e], atol=1e-5)
    assert np.isfinite(prob[rows]).all() or np.isnan(cube.psd.sel(component="H")[rows]).any()


def test_relative_model_cannot_be_tiled(cube):
    with pytest.raises(ValueError, match="cannot be tiled"):
        xs.predict(cube, _relative_model(), image_unit="none")


def test_fixed_models_keep_refusing_a_lone_component(cube):
    # a model that reads absolute levels would see half the level of the sum it learned
    h = xs.select_component(cube, "H")
    with pytest.raises(ValueError, match="summed PSD"):
        xs.predict(h, _relative_model(method="log-fixed"))


@pytest.mark.parametrize("name", ["iar-default", "cses-default"])
def test_shipped_models_read_relative_input(name):
    from xspecseg.models import load

    card = ModelCard.from_config(load(name).xspecseg_config)
    assert card.representation.method == "log-relative"
    assert card.provenance["data_train"]["domain"] == "randomised"


def test_metadata_flows_from_a_cube(cube):
    prob = xs.predict(cube, _relative_model())
    for key in ("station", "latitude", "longitude"):
        assert prob.attrs[key] == cube.attrs[key]
    assert isinstance(prob, xr.DataArray)

"""Held-out generator family: data model, truth, units, determinism, spectral slope."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import xspecseg as xs
from xspecseg.synth.heldout import heldout_cses, heldout_ground, heldout_ground_truth

START = "2013-02-14"
SEED = 3


@pytest.fixture(scope="module")
def ground():
    """One day, H and D; the night ending that morning is quiet, that evening's has IARs."""
    wave, truth = heldout_ground(START, 1, SEED, kinds=["quiet", "iar"])
    return wave, truth, wave.values


@pytest.fixture(scope="module")
def cube(ground):
    wave, _, values = ground
    h = wave.isel(component=[0]).copy(data=values[:1])
    return xs.build_cube(h, xs.CubeConfig.preset("iar")).compute()


def test_waveform_matches_data_model(ground):
    wave, truth, values = ground
    ref = xs.synth.ground_station(start=START, days=1, seed=0)  # lazy: attrs only
    assert wave.dims == ("component", "time")
    assert list(wave["component"].values) == ["H", "D"]
    assert wave.dtype == np.float32 and values.shape == (2, 8_640_000)
    assert wave["time"].dtype == np.dtype("datetime64[ns]")
    assert wave["time"].values[0] == np.datetime64(START, "ns")
    assert np.diff(wave["time"].values[:3]).tolist() == [10_000_000, 10_000_000]
    missing = {k for k in ref.attrs if k not in wave.attrs} - {"saturation"}
    assert not missing
    assert wave.attrs["sampling_rate"] == 100.0 and wave.attrs["units"] == "pT"
    assert wave.attrs["start_time"] == ref.attrs["start_time"]
    assert np.isfinite(values).mean() > 0.9
    nights = truth["nights"]
    assert list(nights["kinds"]) == ["quiet", "iar"]
    assert nights["night"].tolist() == [pd.Timestamp("2013-02-13"), pd.Timestamp(START)]
    iar = nights.iloc[1]
    assert 0.3 <= iar["delta_f_median"] <= 1.5 and 1.5 <= iar["peak_to_trough"] <= 3.0
    assert np.isnan(nights.iloc[0]["delta_f_median"])


def test_cube_truth_on_iar_night_only(ground, cube):
    _, truth, _ = ground
    assert cube.psd.dims == ("component", "time", "frequency")
    assert cube.psd.shape == (1, 864, 410)
    mask = heldout_ground_truth(cube, truth).compute()
    assert mask.dtype == bool and mask.dims == ("time", "frequency")
    assert mask.shape == (864, 410)
    hours = (mask["time"].values - np.datetime64(START, "ns")) / np.timedelta64(1, "h")
    evening, morning = mask.values[hours >= 12], mask.values[hours < 12]
    assert morning.sum() == 0  # the quiet night
    assert 0 < evening.mean() < 0.3  # faint fringes: only their cores are labelled
    f = mask["frequency"].values
    assert f[mask.values.any(axis=0)].max() < 10.0
    assert not mask.values[cube.valid_fraction.values[0] == 0].any()


def test_fringe_truth_is_the_dominant_truth_on_the_fringes(ground, cube):
    """``kind="fringes"`` keeps the dominant pixels that lie on the resonator's fringes:
    a subset, with a trough between two fringes of a row, and spaced by the night's
    spacing; an unknown kind is refused."""
    _, truth, _ = ground
    fringes = heldout_ground_truth(cube, truth, "fringes").values
    dominant = heldout_ground_truth(cube, truth, "dominant").values
    assert fringes.sum() > 0 and not (fringes & ~dominant).any()
    f = cube["frequency"].values
    df = float(truth["nights"].iloc[1]["delta_f_median"])
    spacings = []
    for row in fringes:
        on = np.flatnonzero(row)
        if on.size < 2:
            continue
        runs = np.split(on, np.flatnonzero(np.diff(on) > 1) + 1)
        spacings.extend(np.diff([f[r].mean() for r in runs]))
    assert spacings, "no row with two separate fringes"
    assert abs(np.median(spacings) - df) < 0.35 * df
    fainter = heldout_ground_truth(cube, truth, "fringes", level=0.5).values
    assert fainter.sum() > fringes.sum() and not (fringes & ~fainter).any()
    with pytest.raises(ValueError, match="kind"):
        heldout_ground_truth(cube, truth, "peaks")


def test_median_psd_follows_drawn_slope(ground, cube):
    _, truth, _ = ground
    f = cube["frequency"].values
    med = np.nanmedian(cube.psd.values[0], axis=0)
    sel = (f >= 1.0) & (f <= 4.0) & (np.abs(f - np.round(f)) > 0.1)
    slope = np.polyfit(np.log10(f[sel]), np.log10(med[sel]), 1)[0]
    alpha = float(truth["days"]["alpha"].iloc[0])
    assert abs(-slope - alpha) < 0.35


def test_units_scale_exactly_and_seed_is_deterministic(ground):
    wave, truth, values = ground
    w_ft, t_ft = heldout_ground(
        START, 1, SEED, components=("H",), units="fT", kinds=["quiet", "iar"]
    )
    assert w_ft.attrs["units"] == "fT"
    np.testing.assert_allclose(w_ft.values[0], values[0] * 1e3, rtol=1e-6, equal_nan=True)
    pd.testing.assert_frame_equal(t_ft["nights"], truth["nights"])
    w_nt, _ = heldout_ground(START, 1, SEED, units="nT", kinds=["quiet", "iar"])
    assert w_nt.attrs["units"] == "nT" and w_nt.dtype == wave.dtype
    other, _ = heldout_ground(START, 1, SEED + 1)
    assert other.attrs["synth_params"] != wave.attrs["synth_params"]
    # a day and a night do not depend on the window that asks for them
    _, wide = heldout_ground("2013-02-12", 4, SEED, iar_fraction=0.5)
    _, narrow = heldout_ground(START, 1, SEED, iar_fraction=0.5)
    pd.testing.assert_frame_equal(
        wide["days"].iloc[[2]].reset_index(drop=True), narrow["days"].reset_index(drop=True)
    )
    cols = ["night", "kinds", "delta_f_median", "peak_to_trough"]
    pd.testing.assert_frame_equal(
        wide["nights"][cols].iloc[2:4].reset_index(drop=True), narrow["nights"][cols]
    )


def test_iar_fraction_and_kinds():
    _, t = heldout_ground("2013-01-01", 60, 11)
    nights = t["nights"]
    assert 0.3 < nights["iar"].mean() < 0.7
    free = nights[~nights["iar"]]
    assert set(free["kinds"]) <= {"pc1", "pulsing", "quiet", "storm"}
    assert nights.loc[nights["iar"], "delta_f_median"].between(0.3, 1.5).all()
    _, none = heldout_ground("2013-01-01", 20, 11, iar_fraction=0.0)
    assert not none["nights"]["iar"].any()
    with pytest.raises(ValueError, match="units"):
        heldout_ground(START, 1, 0, units="T")
    with pytest.raises(ValueError, match="night kind"):
        heldout_ground(START, 1, 0, kinds=["aurora"])


def test_cses_layout_matches_read_cses(tmp_path):
    ref = xs.io.read_cses(
        xs.synth.cses_orbits(start="2021-11-01", days=0.1, seed=0, out_dir=tmp_path)
    )
    sat, truth, table = heldout_cses("2021-11-01", 2, seed=0)
    assert set(sat.data_vars) >= {"psd"} and set(sat.coords) == set(ref.coords)
    for name in [*ref.data_vars, *ref.coords]:
        assert sat[name].dims == ref[name].dims, name
        assert sat[name].dtype == ref[name].dtype, name
        assert set(sat[name].attrs) == set(ref[name].attrs), name
    assert set(sat.attrs) == set(ref.attrs)
    np.testing.assert_array_equal(sat["frequency"].values, ref["frequency"].values)
    assert {k: sat.attrs[k] for k in ("component", "units", "platform", "instrument")} == {
        k: ref.attrs[k] for k in ("component", "units", "platform", "instrument")
    }
    dt = np.diff(sat["time"].values[:100]) / np.timedelta64(1, "ms")
    assert np.all(dt == 2048)
    assert sat.psd.data.numblocks[0] == 2 and truth.dtype == bool
    assert set(sat["orbit_direction"].values) == {"ascending", "descending"}
    assert 900 < sat.sizes["time"] / 2 < 1100
    lat = sat["latitude"].values
    assert np.abs(lat).max() <= 65.01
    assert list(table.columns[:6]) == [
        "halforbit", "orbit", "orbit_direction", "start_time", "end_time", "centre_time",
    ]  # fmt: skip


def test_cses_anomalies_truth_scale_and_seed():
    sat, truth, table = heldout_cses("2021-11-01", 120, seed=4)
    assert 35 <= len(table) <= 90  # about one per two half-orbits
    hit = table[table["area_pixels"] > 0]
    assert (hit["f_max"] <= 12_500).all() and (hit["f_min"] >= 0).all()
    assert table["magnetic_latitude"].abs().between(58, 80).all()
    assert (table["hemisphere"] == "N").mean() > 0.4
    assert ((hit["end_time"] - hit["start_time"]) <= pd.Timedelta(seconds=120)).all()
    # truth: non-empty on a half-orbit with an anomaly, empty on one without
    bounds = np.cumsum([0, *sat.psd.data.chunks[0]])
    with_a = int(hit["halforbit"].iloc[0])
    without = sorted(set(range(120)) - set(table["halforbit"]))[0]
    t_with = truth.data.blocks[with_a].compute()
    assert t_with.sum() == hit.loc[hit["halforbit"] == with_a, "area_pixels"].sum()
    assert truth.data.blocks[without].compute().sum() == 0
    psd = sat.psd.data.blocks[with_a].compute()
    rows = np.isfinite(psd).all(axis=1)
    assert rows.mean() > 0.8 and (psd[rows] > 0).all()
    assert np.isnan(psd[~rows]).all() and not t_with[~rows].any()
    # the anomaly's truth pixels are brighter than their row neighbours outside it
    r, c = np.nonzero(t_with)
    assert np.median(np.log10(psd[r, c])) > np.median(np.log10(psd[r, :][:, 0:500]))
    twice, _, _ = heldout_cses("2021-11-01", 120, seed=4, scale=2.0)
    again = twice.psd.data.blocks[with_a].compute()
    np.testing.assert_allclose(again, 2.0 * psd, rtol=1e-6)
    assert sat["time"].values[bounds[with_a]] == twice["time"].values[bounds[with_a]]
    _, _, other_table = heldout_cses("2021-11-01", 120, seed=5)
    assert not other_table[["centre_time"]].equals(table[["centre_time"]])

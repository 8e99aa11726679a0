"""Whole-chain validation against known truth (held-out generator family)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr

import xspecseg as xs
import xspecseg.validation as val
from xspecseg.imageunits import night_images
from xspecseg.synth.heldout import heldout_cses, heldout_ground, heldout_ground_truth


@pytest.fixture(scope="module")
def ground():
    wave, truth = heldout_ground("2013-01-10", 3, seed=4, kinds=["quiet", "iar", "pulsing"])
    cube = xs.build_cube(wave, xs.CubeConfig.preset("iar")).compute()
    nights = truth["nights"]
    nights = nights[nights["hours_in_record"] >= 12].reset_index(drop=True)
    return cube, heldout_ground_truth(cube, truth), nights


def _oracle(monkeypatch, truth, time):
    """A 'classical' detector that returns the truth of the night it is given."""
    # the nights a network examines, those cut short by the record's ends included
    spans = iter(sp[:2] for sp in night_images(time, ("18:00", "06:00")))

    def detect(name, psd):
        s, e = next(spans)
        assert e - s == len(psd)
        return np.asarray(truth.values[s:e], bool)

    monkeypatch.setattr(val, "detect", detect)


def test_an_oracle_scores_perfectly_on_ground_nights(ground, monkeypatch):
    cube, truth, nights = ground
    assert nights.iar.any() and (~nights.iar).any()
    _oracle(monkeypatch, truth, cube.time.values)
    per_night = val.evaluate_ground("classical:oracle", cube, truth, nights)
    s = val.summarise_ground(per_night)
    assert s["pixel_iou"] == 1.0
    assert s["iar_nights_found"] == s["iar_nights"] >= 1
    assert s["free_nights_with_event"] == 0 and s["false_pixel_share_free"] == 0.0
    # the fringe comb on the true region recovers the night's spacing
    assert s["delta_f_median_error"] < 0.1


def test_misses_and_false_alarms_are_counted(ground, monkeypatch):
    cube, truth, nights = ground
    shifted = truth.copy(data=np.roll(truth.values, 40, axis=1))  # 1 Hz off the fringes
    _oracle(monkeypatch, shifted, cube.time.values)
    per_night = val.evaluate_ground("classical:oracle", cube, truth, nights)
    df = per_night.to_dataframe()
    band = (cube.frequency >= 0.5) & (cube.frequency <= 6.0)
    expected_fn = 0
    for (s, e), iar in zip(val._night_rows(cube.time.values, nights), nights.iar, strict=True):
        t = truth.values[s:e][:, band.values]
        d = shifted.values[s:e][:, band.values]
        expected_fn += int((t & ~d).sum())
        assert iar or not t.any()
    assert int(df.fn.sum()) == expected_fn > 0


def test_cses_counts_found_anomalies_and_false_events(monkeypatch):
    sat, truth, anomalies = heldout_cses("2022-04-01", 6, seed=5)
    sat = sat.drop_vars("truth")
    spans = iter(xs.infer.orbit_spans(sat.psd))

    def detect(name, psd):
        s, e = next(spans)
        out = np.asarray(truth.values[s:e], bool).copy()
        out[5:15, 100:140] = True  # one false region per half-orbit
        return out

    monkeypatch.setattr(val, "detect", detect)
    s = val.summarise_cses(val.evaluate_cses("classical:oracle", sat, truth, anomalies))
    assert s["anomalies"] == len(anomalies) >= 1
    assert s["event_recall"] == 1.0
    assert s["halforbits"] == 6
    # every half-orbit has its false region; anomaly-free ones have nothing else
    assert s["false_events_per_free_halforbit"] == 1.0
    assert s["event_precision"] == pytest.approx(
        (s["events"] - s["halforbits"]) / s["events"], abs=1e-9
    )
    # the two-class pixel scores from the masks themselves
    det = np.asarray(truth.values, bool).copy()
    for a, _ in xs.infer.orbit_spans(sat.psd):
        det[a + 5 : a + 15, 100:140] = True
    tru = np.asarray(truth.values, bool)
    tp, fp = (det & tru).sum(), (det & ~tru).sum()
    fn, tn = (~det & tru).sum(), (~det & ~tru).sum()
    assert s["pixel_miou"] == pytest.approx((tp / (tp + fp + fn) + tn / (tn + fn + fp)) / 2)
    assert s["pixel_mpa"] == pytest.approx((tp / (tp + fn) + tn / (tn + fp)) / 2)
    assert s["pixel_mpa"] == pytest.approx((1 + tn / (tn + fp)) / 2)  # every truth pixel found


def test_evaluation_table_scores_the_baselines_on_held_out_and_free_images():
    spec = {"source": "synth-iar", "nights": 1, "seed": 5}
    t = val.evaluation_table([], spec, free={**spec, "iar": False})
    assert t.model.values.tolist() == list(val.BASELINES)
    assert {"iou", "miou", "mpa", "fp_fraction_iar_free", "fp_fraction_heldout"} <= set(t)
    assert t.attrs["heldout_images"] == 1 and t.attrs["iar_free_images"] == 1
    assert json.loads(t.attrs["data"]) == spec
    assert np.isfinite(t.fp_fraction_iar_free).all()
    np.testing.assert_array_equal(t.band_high, 6.0)
    with pytest.raises(ValueError, match="nothing to evaluate"):
        val.evaluation_table([], spec, baselines=False)


def test_parameters_of_a_network_and_of_a_labeller():
    from xspecseg.models import get_model

    net = get_model("unet", base_channels=4, depth=2)
    assert val._parameters(net) == sum(p.numel() for p in net.parameters()) > 0
    assert np.isnan(val._parameters("classical:beggan"))


def test_cses_scored_block_by_block_equals_the_whole_draw(monkeypatch):
    sat, truth, anomalies = heldout_cses("2022-04-01", 6, seed=5)
    sat = sat.drop_vars("truth")

    def detect(name, psd):  # each half-orbit's pixels furthest above their bin's median
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bins
            rel = psd / np.nanmedian(psd, axis=0)
            return rel >= np.nanquantile(rel, 0.995)

    monkeypatch.setattr(val, "detect", detect)
    whole = val.evaluate_cses("classical:bright", sat, truth, anomalies)
    assert int(whole.events.sum()) > 0 and int(whole.found.sum()) > 0
    for per_block in (2, 3, 4):  # whole orbits of two half-orbits; 3 rounds down to one
        blocks = val.evaluate_cses_blocks("classical:bright", sat, truth, anomalies, per_block)
        xr.testing.assert_identical(blocks, whole)

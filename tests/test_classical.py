"""Classical detectors: Canny on exact shapes, the Beggan labeller on synthetic nights."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xspecseg.classical import beggan_labeller, canny_baseline, canny_edges, detect


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.fixture(scope="module")
def nights():
    from xspecseg.training import synth_iar

    # the night of 2013-01-03 (seed 0) has IARs; seed 1 with iar=False has none
    with_iar = synth_iar(nights=1, seed=0, start="2013-01-03")
    free = synth_iar(nights=1, seed=1, start="2013-01-03", iar=False)
    return with_iar, free


def test_canny_edges_of_a_rectangle_are_exact():
    img = np.zeros((48, 40))
    img[10:30, 12:28] = 5.0
    edges = canny_edges(img, sigma=1.0)
    ring = np.zeros_like(edges)
    ring[10:30, 12:28] = True
    ring[11:29, 13:27] = False
    assert np.array_equal(edges, ring)


def test_canny_baseline_fills_the_rectangle():
    img = np.ones((60, 50))
    img[20:41, 15:35] = 100.0
    m = canny_baseline(
        img, sigma=1.0, close=0, dilate=0, fmin_bin=0, min_pixels=0, time_median=False
    )
    rect = np.zeros_like(m)
    rect[20:41, 15:35] = True
    assert np.array_equal(m, rect)


def test_canny_on_constant_image_is_empty():
    assert not canny_edges(np.full((20, 20), 3.0)).any()


def test_beggan_labeller_overlaps_synthetic_truth(nights):
    with_iar, _ = nights
    psd, truth = with_iar.images[0], with_iar.masks[0]
    assert truth.mean() > 0.01  # the night really has fringes
    mask = beggan_labeller(psd)
    iou = _iou(mask, truth)
    chance = truth.mean()  # IoU of a random mask of the truth's density is below this
    assert iou > 0.2, iou
    assert iou > 3 * chance


def test_beggan_labeller_flags_few_pixels_without_iar(nights):
    _, free = nights
    assert not free.masks[0].any()
    assert beggan_labeller(free.images[0]).mean() < 0.01


def test_canny_baseline_on_synthetic_night(nights):
    with_iar, free = nights
    m = canny_baseline(with_iar.images[0])
    assert m.shape == with_iar.images[0].shape
    assert canny_baseline(free.images[0]).mean() < 0.15


def test_detectors_deterministic_nan_and_dataarray():
    rng = np.random.default_rng(3)
    psd = rng.chisquare(6, (120, 90)) / 6
    psd[40:100, 50:55] *= 4
    psd[10:20, :] = np.nan
    for name in ("beggan", "classical:canny"):
        a = detect(name, psd, fmin_bin=0)
        b = detect(name, psd.copy(), fmin_bin=0)
        assert a.dtype == bool and np.array_equal(a, b)
        assert not a[10:20].any()  # no data, no detection
    da = xr.DataArray(psd, dims=("time", "frequency"), coords={"frequency": np.arange(90) * 0.1})
    out = beggan_labeller(da, fmin_bin=0)
    assert isinstance(out, xr.DataArray) and out.dims == ("time", "frequency")
    np.testing.assert_array_equal(out.frequency, da.frequency)
    with pytest.raises(ValueError, match="unknown classical"):
        detect("sobel", psd)
    with pytest.raises(ValueError, match="2-D"):
        beggan_labeller(np.ones(5))


@pytest.mark.parametrize("labeller", [beggan_labeller, canny_baseline])
@pytest.mark.parametrize("gain", [1e-6, 1e-3, 1e3, 1e6])
def test_labellers_do_not_depend_on_the_unit_around_a_gap(nights, labeller, gain):
    # a record in nT, pT or fT is the same record: with a gap of whole periodograms the
    # fill of the missing rows must move with the gain, or the smoothing carries it into
    # the rows beside the gap
    with_iar, _ = nights
    psd = with_iar.images[0].astype(np.float64)
    psd[150:170] = np.nan
    ref = labeller(psd)
    assert ref.any() and not ref[150:170].any()
    np.testing.assert_array_equal(labeller(psd * gain), ref)

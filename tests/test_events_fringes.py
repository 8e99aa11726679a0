"""The IAR fringe comb of xspecseg.events against spectra of known spacing.

Rows of a night are drawn as a 1/f^alpha background times a fringe pattern of known
spacing, times the chi-square noise of a 4-segment Welch estimate. Two fringe shapes:
narrow Fabry-Perot peaks (a resonator's transfer function, with strong power at half the
spacing in the spacing spectrum) and smooth sinusoidal ripples (none there). The fitted
``delta_f`` must find the spacing itself, neither its half nor its double, for both shapes
(the score's half-spacing term must not pull smooth fringes to twice their spacing). Where
the half-spacing term matters, faint narrow fringes seen in a region one or two fringes
wide, is measured on the held-out generator family (docs/validation.md).
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xspecseg.events import extract_events

DF_HZ = 100.0 / 4096  # the IAR cube's bin width


def _night(spacing: float, shape: str, seed: int, rows: int = 120, alpha: float = 2.0):
    rng = np.random.default_rng(seed)
    freq = np.arange(1, int(10.0 / DF_HZ)) * DF_HZ
    phase = 2 * np.pi * (freq - 0.1) / spacing
    if shape == "fabry-perot":
        r = 0.6  # reflection coefficient: peak-to-trough (1+r)^2/(1-r)^2 = 16 in power,
        # seen as ~2-3 after the Welch noise and the truth's faintness
        fringes = 1.0 / (1 + r**2 - 2 * r * np.cos(phase))
        fringes /= fringes.mean()
    else:
        fringes = 1.0 + 0.5 * np.cos(phase)
    band = (freq >= 1.0) & (freq <= 5.0)
    signal = np.where(band, fringes, 1.0)
    psd = freq**-alpha * signal * rng.chisquare(8, size=(rows, freq.size)) / 8
    t = np.datetime64("2013-01-05T20:00", "ns") + np.arange(rows) * np.timedelta64(100, "s")
    coords = {"time": t, "frequency": freq}
    prob = np.zeros(psd.shape, np.float32)
    prob[10:-10, band] = 1.0  # the detector found the band with fringes
    return (
        xr.DataArray(prob, dims=("time", "frequency"), coords=coords, name="probability"),
        xr.DataArray(psd, dims=("time", "frequency"), coords=coords, name="psd"),
    )


@pytest.mark.parametrize("shape", ["fabry-perot", "sinusoidal"])
@pytest.mark.parametrize("spacing", [0.35, 0.6, 0.9, 1.3])
def test_delta_f_is_the_spacing_not_its_half_or_double(shape, spacing):
    errors = []
    for seed in range(3):
        prob, psd = _night(spacing, shape, seed)
        cat = extract_events(prob, psd=psd, min_pixels=10, merge_frequency=None)
        assert cat.sizes["event"] == 1
        errors.append(float(cat.delta_f.values[0]) - spacing)
    # the comb fit over 4 Hz and 100 rows: a few bins of error at most, never a factor 2
    assert np.max(np.abs(errors)) < 0.05, errors


@pytest.mark.parametrize("chunks", [3, 7, (50, 1, 0, 30, 39), 120])
def test_fringes_do_not_depend_on_the_chunking(chunks):
    # the fringe residual's time smoothing reads PSD rows beyond a chunk (its halo), here
    # across chunks shorter than the halo and an empty one; the PSD has chunks of its own
    prob, psd = _night(0.6, "fabry-perot", 1)
    ref = extract_events(prob, psd=psd, min_pixels=10, merge_frequency=None)
    assert np.isfinite(ref.delta_f).all()
    got = extract_events(
        prob.chunk(time=chunks), psd=psd.chunk(time=17), min_pixels=10, merge_frequency=None
    )
    xr.testing.assert_identical(got, ref)

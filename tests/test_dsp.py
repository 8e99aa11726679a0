"""xspecseg.dsp against scipy.signal as the independent reference.

Tolerances: float64 results must match SciPy to 1e-9 relative (max|a-b| <= rtol*max|b|).
float32 input: sosfiltfilt computes in float64 like SciPy (1e-9 too); welch of float32
returns float32 like SciPy, so it is compared at 1e-5.
"""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given, settings
from hypothesis import strategies as st

from xspecseg import dsp

RNG = np.random.default_rng(12345)


def rel_err(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    assert a.shape == b.shape
    return float(np.nanmax(np.abs(a - b)) / max(np.nanmax(np.abs(b)), 1e-300))


def tol(dtype):
    return 1e-9 if np.dtype(dtype) == np.float64 else 1e-5


FILTERS = {
    "band4": dsp.bandpass_sos(0.5, 10.0, 100.0, 4),
    "band2": dsp.bandpass_sos(1.0, 20.0, 100.0, 2),
    "low3": ss.butter(3, 5.0, fs=100.0, output="sos"),
    "high5": ss.butter(5, 2.0, btype="high", fs=100.0, output="sos"),
    "cheby_low6": ss.cheby1(6, 1.0, 0.2, output="sos"),
}


# ----------------------------------------------------------------------- sosfiltfilt


def test_bandpass_sos_and_padlen():
    sos = dsp.bandpass_sos(0.5, 10.0, 100.0, 4)
    np.testing.assert_array_equal(
        sos, ss.butter(4, [0.5, 10.0], btype="band", fs=100.0, output="sos")
    )
    assert dsp.default_padlen(sos) == 27
    # a first-order section (b2 == a2 == 0) shortens scipy's ntaps
    sos1 = ss.butter(3, 0.2, output="sos")
    assert dsp.default_padlen(sos1) == 3 * (2 * 2 + 1 - 1)


@pytest.mark.parametrize("name", list(FILTERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padtype", ["odd", "even", "constant", None])
def test_sosfiltfilt_matches_scipy(name, dtype, padtype):
    sos = FILTERS[name]
    x = RNG.standard_normal((3, 1001)).astype(dtype)
    a = dsp.sosfiltfilt(sos, x, padtype=padtype)
    b = ss.sosfiltfilt(sos, x, padtype=padtype)
    assert a.dtype == b.dtype
    assert rel_err(a, b) <= 1e-9


@pytest.mark.parametrize("shape,axis", [((501, 3), 0), ((3, 777), 1), ((2, 333, 4), 1),
                                        ((4, 3, 257), -1), ((601, 2, 2), 0)])  # fmt: skip
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sosfiltfilt_axes(shape, axis, dtype):
    sos = FILTERS["band4"]
    x = RNG.standard_normal(shape).astype(dtype)
    for padlen in (None, 0, 5, shape[axis] - 1):
        a = dsp.sosfiltfilt(sos, x, axis=axis, padlen=padlen)
        b = ss.sosfiltfilt(sos, x, axis=axis, padlen=padlen)
        assert a.shape == b.shape and a.dtype == b.dtype
        assert rel_err(a, b) <= 1e-9


def test_sosfiltfilt_long_record_is_split_and_still_exact():
    # Long enough to be cut into pieces filtered side by side with halos; a large DC
    # offset makes the state large, which stresses the warm-up approximation.
    sos = FILTERS["band4"]
    x = RNG.standard_normal((2, 200_003))
    assert rel_err(dsp.sosfiltfilt(sos, x), ss.sosfiltfilt(sos, x)) <= 1e-9
    xo = x + 5e4
    # SciPy's own round-off on a 5e4 offset is ~1e-16*5e4*gain; compare at that scale.
    assert np.max(np.abs(dsp.sosfiltfilt(sos, xo) - ss.sosfiltfilt(sos, xo))) <= 1e-7
    x32 = x.astype(np.float32)
    assert rel_err(dsp.sosfiltfilt(sos, x32), ss.sosfiltfilt(sos, x32)) <= 1e-9


def test_sosfiltfilt_errors_and_nonfinite():
    sos = FILTERS["band4"]
    with pytest.raises(ValueError, match="padtype"):
        dsp.sosfiltfilt(sos, np.ones(100), padtype="wrap")
    with pytest.raises(ValueError, match="greater than padlen"):
        dsp.sosfiltfilt(sos, np.ones(27))
    with pytest.raises(ValueError, match="greater than padlen"):
        dsp.sosfiltfilt(sos, np.ones(50), padlen=50)
    with pytest.raises(ValueError, match="shape"):
        dsp.sosfiltfilt(np.ones((2, 5)), np.ones(100))
    with pytest.raises(ValueError, match="all ones"):
        dsp.sosfiltfilt(np.ones((2, 6)) * 2, np.ones(100))
    x = RNG.standard_normal((2, 500))
    x[1, 100] = np.nan
    a = dsp.sosfiltfilt(sos, x)
    b = ss.sosfiltfilt(sos, x)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    assert rel_err(a[0], b[0]) <= 1e-9


def test_impulse_halo():
    sos = FILTERS["band4"]
    h = dsp.impulse_halo(sos, 1e-12)
    imp = np.zeros(50_000)
    imp[0] = 1
    r = np.abs(ss.sosfilt(sos, imp))
    assert r[h:].max() <= 1e-12 * r.max() < r[h - 1]
    assert dsp.impulse_halo(sos, 1e-14) > h
    with pytest.raises(ValueError):
        dsp.impulse_halo(np.array([[1.0, 0, 0, 1.0, -1.01, 0]]))


# ------------------------------------------------------------------ sosfiltfilt_runs


def _runs(good):
    """(start, stop) of maximal True runs of a 1-D bool array."""
    d = np.diff(np.r_[0, good.astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _runs_reference(sos, x, bad=None):
    out = np.full(x.shape, np.nan)
    padlen = dsp.default_padlen(sos)
    for idx in np.ndindex(x.shape[:-1]):
        good = np.isfinite(x[idx])
        if bad is not None:
            good &= ~bad[idx]
        for s, e in _runs(good):
            if e - s > padlen:
                out[idx][s:e] = ss.sosfiltfilt(sos, x[idx][s:e], padtype="odd")
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sosfiltfilt_runs_matches_per_run_scipy(dtype):
    sos = FILTERS["band4"]
    x = RNG.standard_normal((3, 2, 5001)).astype(dtype)
    x[0, 0, 1000:1100] = np.nan
    x[0, 1, 4990:] = np.nan
    x[1, 0, 10:20] = np.nan  # 10-sample run at the start: too short -> NaN
    x[1, 1, 2000] = np.inf
    x[2, 0, 3000:3020] = np.nan
    x[2, 0, 3040:3060] = np.nan  # 20-sample run between gaps: NaN
    bad = np.zeros(x.shape, bool)
    bad[2, 1, 100:200] = True
    ref = _runs_reference(sos, x, bad)
    got = dsp.sosfiltfilt_runs(sos, x, bad=bad)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    assert np.isnan(got[1, 0, :20]).all() and np.isnan(got[2, 0, 3020:3040]).all()
    assert rel_err(got, ref) <= 1e-9


def test_sosfiltfilt_runs_axis_and_no_gaps():
    sos = FILTERS["band2"]
    x = RNG.standard_normal((1500, 3))
    np.testing.assert_allclose(
        dsp.sosfiltfilt_runs(sos, x, axis=0), ss.sosfiltfilt(sos, x, axis=0), rtol=0, atol=1e-12
    )


def test_sosfiltfilt_runs_one_hour_gap():
    sos = FILTERS["band4"]
    fs = 100
    n = 3 * 3600 * fs
    x = RNG.standard_normal((2, n))
    gap = slice(3600 * fs, 2 * 3600 * fs)
    x[0, gap] = np.nan
    y = dsp.sosfiltfilt_runs(sos, x)
    assert np.isnan(y[0, gap]).all()
    assert np.isfinite(y[0, : gap.start]).all() and np.isfinite(y[0, gap.stop :]).all()
    assert np.isfinite(y[1]).all()
    left = ss.sosfiltfilt(sos, x[0, : gap.start])
    right = ss.sosfiltfilt(sos, x[0, gap.stop :])
    assert rel_err(y[0, : gap.start], left) <= 1e-9
    assert rel_err(y[0, gap.stop :], right) <= 1e-9
    assert rel_err(y[1], ss.sosfiltfilt(sos, x[1])) <= 1e-9


# Long records run as pieces with halos, many pieces side by side; these cover records
# of several groups of pieces, section counts that are not a multiple of four (the kernel
# pads them with identity sections) and groups that mix runs of very different lengths.
MORE_FILTERS = {
    **FILTERS,
    "band6": ss.butter(6, [0.5, 10.0], btype="band", fs=100.0, output="sos"),
    "band8": ss.butter(8, [0.5, 10.0], btype="band", fs=100.0, output="sos"),
}


@pytest.mark.parametrize("name", list(MORE_FILTERS))
def test_sosfiltfilt_many_pieces_equal_scipy(name):
    sos = MORE_FILTERS[name]
    x = RNG.standard_normal((2, 1_500_007)) + 3.0
    assert rel_err(dsp.sosfiltfilt(sos, x), ss.sosfiltfilt(sos, x)) <= 1e-9


@pytest.mark.parametrize(
    ("cpu", "features", "doubles"),
    [
        ("znver5", "+avx,+avx2,+avx512f,+fma", 8),
        ("znver6", "+avx,+avx2,+avx512f", 8),
        ("znver4", "+avx,+avx2,+avx512f", 4),  # 512-bit operations in two halves
        ("znver3", "+avx,+avx2,-avx512f", 4),  # an AMD core without AVX-512
        ("sapphirerapids", "+avx,+avx2,+avx512f", 4),  # Intel: LLVM prefers 256 bits
        ("rocketlake", "+avx,+avx2,+avx512f", 4),
        ("haswell", "+avx,+avx2,-avx512f", 4),
        ("generic", "", 2),
        ("x86-64", "+sse2,-avx", 2),
    ],
)
def test_filter_lanes_are_six_full_width_vectors(cpu, features, doubles):
    assert dsp._doubles_per_vector(cpu, features) == doubles
    assert dsp._LANES == 6 * dsp._doubles_per_vector(*dsp._target_cpu())


@pytest.mark.parametrize("name", ["band4", "high5", "band6"])
def test_sosfiltfilt_runs_of_mixed_lengths_equal_per_run_scipy(name):
    sos = MORE_FILTERS[name]
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 600_000))
    # gaps at random places leave runs from a few samples to 100_000s
    for row in range(2):
        for start in rng.integers(0, x.shape[1], 60):
            x[row, start : start + rng.integers(1, 3000)] = np.nan
    x[1, 200_000:200_040] = x[1, 200_000:200_040] * 0 + 1e9  # bad through `bad` below
    bad = np.abs(np.nan_to_num(x)) > 1e8
    ref = _runs_reference(sos, x, bad)
    got = dsp.sosfiltfilt_runs(sos, x, bad=bad)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    assert rel_err(got, ref) <= 1e-9


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sosfiltfilt_runs_fused_thresholds_and_float32_output(dtype):
    """saturation, max_abs and dtype give what a mask, np.where and astype give."""
    sos = FILTERS["band4"]
    x = (RNG.standard_normal((2, 50_000)) * 10).astype(dtype)
    x[0, 1000:1010] = 40.0  # saturated
    x[0, 5000] = -40.0
    x[1, 7000] = 1e30  # beyond max_abs
    x[1, 9000:9100] = np.nan
    # a 2 Hz square wave that exceeds max_abs after the filter, though no input sample does
    x[1, 20_000:30_000] = 999.0 * np.sign(np.sin(2 * np.pi * (np.arange(10_000) + 0.5) / 50))
    sat, lim = 40.0, 1000.0
    bad = (np.abs(np.nan_to_num(x)) >= sat) | (np.abs(np.nan_to_num(x)) > lim)
    y64 = dsp.sosfiltfilt_runs(sos, x, bad=bad)
    # the square wave is saturated too; without saturation it must overshoot max_abs
    bad_lim = np.abs(np.nan_to_num(x)) > lim
    y_step = dsp.sosfiltfilt_runs(sos, x, bad=bad_lim)
    assert np.nanmax(np.abs(y_step)) > lim
    for saturation, ref in ((sat, y64), (None, y_step)):
        ref_capped = np.where(np.abs(ref) > lim, np.nan, ref)
        got64 = dsp.sosfiltfilt_runs(sos, x, saturation=saturation, max_abs=lim)
        got32 = dsp.sosfiltfilt_runs(sos, x, saturation=saturation, max_abs=lim, dtype=np.float32)
        assert got64.dtype == np.float64 and got32.dtype == np.float32
        np.testing.assert_array_equal(got64, ref_capped)
        np.testing.assert_array_equal(got32, ref_capped.astype(np.float32))
        assert np.isnan(got64[1, 7000]) and np.isnan(got64[1, 20_000:30_000]).any()
        assert np.isnan(got64[0, 1000:1010]).all() == (saturation is not None)
    with pytest.raises(ValueError, match="dtype"):
        dsp.sosfiltfilt_runs(sos, x, dtype=np.int16)


# ---------------------------------------------------------------------------- welch


def _parameter_free_windows():
    names = []
    for name in ss.windows.__all__:
        if name in ("get_window", "dpss"):
            continue
        try:
            ss.get_window(name, 64)
        except Exception:
            continue
        names.append(name)
    return names


WINDOWS = [
    *_parameter_free_windows(),
    ("tukey", 0.25),
    ("kaiser", 8.0),
    ("gaussian", 7.0),
    ("general_hamming", 0.7),
    ("dpss", 3.0),
]


def test_window_list_is_broad():
    assert len(WINDOWS) > 15 and "hann" in WINDOWS and "blackmanharris" in WINDOWS


@pytest.mark.parametrize("window", WINDOWS, ids=str)
def test_welch_windows(window):
    x = RNG.standard_normal((2, 3001))
    a = dsp.welch(x, fs=10.0, window=window, nperseg=256)
    b = ss.welch(x, fs=10.0, window=window, nperseg=256)
    np.testing.assert_array_equal(a[0], b[0])
    assert rel_err(a[1], b[1]) <= 1e-9


@pytest.mark.parametrize("detrend", ["constant", "linear", False])
@pytest.mark.parametrize("scaling", ["density", "spectrum"])
@pytest.mark.parametrize("average", ["mean", "median"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "nperseg,noverlap,nfft",
    [(256, None, None), (200, 0, 300), (128, 127, None), (301, 100, 512), (64, 63, 65)],
)
def test_welch_matrix(detrend, scaling, average, dtype, nperseg, noverlap, nfft):
    x = (RNG.standard_normal((2, 1999)) + np.linspace(0, 3, 1999)).astype(dtype)
    kw = dict(
        fs=7.0, nperseg=nperseg, noverlap=noverlap, nfft=nfft, detrend=detrend,
        scaling=scaling, average=average,
    )  # fmt: skip
    f, p = dsp.welch(x, **kw)
    fr, pr = ss.welch(x, **kw)
    assert p.dtype == pr.dtype and p.shape == pr.shape
    np.testing.assert_allclose(f, fr, rtol=1e-15)
    assert rel_err(p, pr) <= tol(dtype)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
@pytest.mark.parametrize("onesided", [True, False])
def test_welch_axes_and_sides(axis, onesided):
    x = RNG.standard_normal((130, 120, 110))
    kw = dict(nperseg=100, nfft=101 if axis == 0 else 128, return_onesided=onesided, axis=axis)
    f, p = dsp.welch(x, **kw)
    fr, pr = ss.welch(x, **kw)
    np.testing.assert_allclose(f, fr, rtol=1e-15)
    assert p.shape == pr.shape
    assert rel_err(p, pr) <= 1e-9


def test_welch_misc_paths():
    x = RNG.standard_normal((3, 1000))
    # array window, callable detrend, complex input, nperseg > n all follow scipy
    win = ss.get_window("hamming", 128)
    assert rel_err(dsp.welch(x, window=win)[1], ss.welch(x, window=win)[1]) <= 1e-9

    def detr(d):
        return d - d.mean(axis=-1, keepdims=True)

    assert rel_err(dsp.welch(x, detrend=detr)[1], ss.welch(x, detrend=detr)[1]) <= 1e-9
    xc = x + 1j * RNG.standard_normal(x.shape)
    assert rel_err(dsp.welch(xc)[1], ss.welch(xc)[1]) <= 1e-9
    with pytest.warns(UserWarning):
        a = dsp.welch(x[:, :100], nperseg=256)
    with pytest.warns(UserWarning):
        b = ss.welch(x[:, :100], nperseg=256)
    assert rel_err(a[1], b[1]) <= 1e-9
    for bad_kw in (
        dict(noverlap=256),
        dict(nfft=100),
        dict(scaling="psd"),
        dict(average="max"),
        dict(detrend="quadratic"),
        dict(nperseg=0),
        dict(window=win, nperseg=100),
    ):
        with pytest.raises(ValueError):
            dsp.welch(x, **bad_kw)


def test_welch_signature_matches_brief():
    params = list(inspect.signature(dsp.welch).parameters)
    assert params[:11] == list(inspect.signature(ss.welch).parameters)[:11]
    assert params[-1] == "mask"


# --------------------------------------------------------------------- masked welch


@pytest.mark.parametrize("average", ["mean", "median"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_welch_masked_equals_scipy_on_kept_segments(average, dtype):
    nperseg, noverlap = 200, 50
    step = nperseg - noverlap
    x = RNG.standard_normal((3, 2020)).astype(dtype)
    mask = np.zeros(x.shape, bool)
    mask[0, 460] = True  # segments 2 and 3 of row 0
    mask[1, :] = True  # all bad
    mask[2, 2010] = True  # beyond the last segment (ends at 2000): nothing dropped
    f, p, n_used = dsp.welch_masked(
        x, mask, fs=3.0, nperseg=nperseg, noverlap=noverlap, average=average
    )
    nseg = (2000 - noverlap) // step
    assert n_used.tolist() == [nseg - 2, 0, nseg]
    assert np.isnan(p[1]).all()
    # row 0: stack the kept segments by hand, then scipy with no overlap between them
    kept = [k for k in range(nseg) if not (k * step <= 460 < k * step + nperseg)]
    segs = np.stack([x[0, k * step : k * step + nperseg] for k in kept])
    fr, pr_seg = ss.welch(segs, fs=3.0, nperseg=nperseg, axis=-1)
    if average == "mean":
        ref = pr_seg.mean(axis=0)
    else:
        ref = np.median(pr_seg, axis=0) / dsp._median_bias(len(kept))
    np.testing.assert_allclose(f, fr)
    assert rel_err(p[0], ref) <= tol(dtype)
    ref2 = ss.welch(x[2], fs=3.0, nperseg=nperseg, noverlap=noverlap, average=average)[1]
    assert rel_err(p[2], ref2) <= tol(dtype)


def test_welch_mask_none_and_all_false_equal_scipy():
    x = RNG.standard_normal((4, 3000))
    b = ss.welch(x, nperseg=512, noverlap=100)[1]
    a0 = dsp.welch(x, nperseg=512, noverlap=100)[1]
    a1 = dsp.welch(x, nperseg=512, noverlap=100, mask=np.zeros(x.shape, bool))[1]
    assert rel_err(a0, b) <= 1e-9 and rel_err(a1, b) <= 1e-9
    # slow path (callable detrend) with an all-False mask also equals scipy
    _f, a2, n_used = dsp.welch_masked(
        x, np.zeros(x.shape, bool), nperseg=512, detrend=lambda d: ss.detrend(d, axis=-1)
    )
    assert rel_err(a2, ss.welch(x, nperseg=512, detrend="linear")[1]) <= 1e-9
    assert (n_used == (3000 - 256) // 256).all()


@pytest.mark.parametrize("average", ["mean", "median"])
@pytest.mark.parametrize("onesided", [True, False])
@pytest.mark.parametrize(
    "path",
    ["fast", "masked", "slow"],  # numba kernels; a left-out segment; callable detrend
)
def test_welch_masked_bins_are_scipy_bins(average, onesided, path):
    x = RNG.standard_normal((2, 5000, 3))  # frequency axis in the middle, as axis=1
    mask = np.zeros(x.shape, bool)
    if path == "masked":
        mask[1, 1200, 2] = True  # leaves segments out: compared with the full masked result
    detrend = (lambda d: ss.detrend(d, type="constant", axis=-1)) if path == "slow" else "constant"
    kw = dict(fs=50.0, nperseg=1024, noverlap=512, average=average, return_onesided=onesided)
    f_all, p_all, n_all = dsp.welch_masked(x, mask, detrend=detrend, axis=1, **kw)
    if path != "masked":
        f_ref, p_ref = ss.welch(x, detrend="constant", axis=1, **kw)
        np.testing.assert_array_equal(f_all, f_ref)
        assert rel_err(p_all, p_ref) <= 1e-9
    for bins in (slice(3, 200), slice(None, 7), slice(500, None), slice(-20, -3)):
        f, p, n = dsp.welch_masked(x, mask, detrend=detrend, axis=1, bins=bins, **kw)
        np.testing.assert_array_equal(f, f_all[bins])
        assert p.shape == p_all[:, bins].shape
        assert rel_err(p, p_all[:, bins]) <= 1e-12
        np.testing.assert_array_equal(n, n_all)


def test_welch_masked_bins_of_complex_data_index_the_two_sided_spectrum():
    xc = RNG.standard_normal((2, 3000)) + 1j * RNG.standard_normal((2, 3000))
    f_ref, p_ref = ss.welch(xc, nperseg=256)  # two-sided: 256 bins
    f, p, _ = dsp.welch_masked(xc, None, nperseg=256, bins=slice(200, 250))
    np.testing.assert_array_equal(f, f_ref[200:250])
    assert rel_err(p, p_ref[:, 200:250]) <= 1e-9


@pytest.mark.parametrize("bins", [slice(0, 10, 2), slice(5, 5), slice(9, 3), [1, 2]])
def test_welch_masked_bins_must_be_a_plain_slice(bins):
    with pytest.raises((ValueError, TypeError), match="bins must be"):
        dsp.welch_masked(RNG.standard_normal(3000), None, nperseg=256, bins=bins)


def test_welch_masked_caller_shape():
    x = RNG.standard_normal((2, 6, 1000))
    y = x.copy()
    y[1, 2, 500] = np.nan
    _f, p, n_used = dsp.welch_masked(y, np.isnan(y), fs=100.0, nperseg=256, noverlap=128)
    assert p.shape == (2, 6, 129) and n_used.shape == (2, 6)
    assert n_used[1, 2] == 4 and n_used[0, 0] == 6  # NaN at 500 hits segments 2 and 3
    ref = ss.welch(x, fs=100.0, nperseg=256, noverlap=128)[1]
    assert rel_err(p[0], ref[0]) <= 1e-9


@pytest.mark.parametrize("detrend", ["constant", "linear", False, "callable"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_welch_mask_nonfinite_equals_a_mask_and_a_zero_filled_copy(detrend, dtype):
    if detrend == "callable":
        detrend = lambda d: ss.detrend(d, axis=-1)  # noqa: E731
    x = RNG.standard_normal((3, 4, 3000)).astype(dtype)
    x[0, 1, 700] = np.nan
    x[2, 3, 10:3000] = np.nan
    x[1, 0, 2999] = np.inf
    x[1, 2, 1500] = -np.inf
    extra = np.zeros(x.shape, bool)
    extra[2, 0, 100] = True
    bad = ~np.isfinite(x)
    kw = dict(fs=10.0, nperseg=512, noverlap=256, detrend=detrend)
    _, p_ref, n_ref = dsp.welch_masked(np.where(bad, 0, x), bad | extra, **kw)
    _, p, n = dsp.welch_masked(x, extra, mask_nonfinite=True, **kw)
    np.testing.assert_array_equal(n, n_ref)
    np.testing.assert_array_equal(p, p_ref)
    assert n[0, 1] < n[0, 0] and n[2, 3] == 0 and np.isnan(p[2, 3]).all()
    # finite data: the flag changes nothing, and scipy is matched as before
    y = RNG.standard_normal((2, 3000)).astype(dtype)
    _, p1, _ = dsp.welch_masked(y, None, mask_nonfinite=True, **kw)
    _, p0, _ = dsp.welch_masked(y, None, **kw)
    np.testing.assert_array_equal(p1, p0)


# ------------------------------------------------------------------- property tests


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(16, 600),
    nperseg=st.integers(1, 300),
    overlap_frac=st.floats(0, 0.99),
    extra_nfft=st.integers(0, 50),
    axis=st.sampled_from([0, 1, -1]),
    dtype=st.sampled_from([np.float32, np.float64]),
    detrend=st.sampled_from(["constant", "linear", False]),
    average=st.sampled_from(["mean", "median"]),
)
def test_welch_property(n, nperseg, overlap_frac, extra_nfft, axis, dtype, detrend, average):
    nperseg = min(nperseg, n)
    noverlap = min(int(overlap_frac * nperseg), nperseg - 1)
    shape = [3, 4]
    shape.insert(axis % 3 if axis >= 0 else 2, n)
    x = RNG.standard_normal(shape).astype(dtype)
    kw = dict(nperseg=nperseg, noverlap=noverlap, nfft=nperseg + extra_nfft, axis=axis,
              detrend=detrend, average=average)  # fmt: skip
    _f, p = dsp.welch(x, **kw)
    _fr, pr = ss.welch(x, **kw)
    assert p.dtype == pr.dtype and p.shape == pr.shape
    # nperseg 1-2 with detrending leaves pure round-off (~1e-15) in scipy: absolute floor
    assert rel_err(p, pr) <= tol(dtype) or np.max(np.abs(p - pr)) <= 1e-12


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(30, 3000),
    axis=st.sampled_from([0, 1, -1]),
    dtype=st.sampled_from([np.float32, np.float64]),
    name=st.sampled_from(list(FILTERS)),
    padtype=st.sampled_from(["odd", "even", "constant", None]),
    padlen=st.one_of(st.none(), st.integers(0, 29)),
)
def test_sosfiltfilt_property(n, axis, dtype, name, padtype, padlen):
    sos = FILTERS[name]
    shape = [2, 3]
    shape.insert(axis % 3 if axis >= 0 else 2, n)
    x = RNG.standard_normal(shape).astype(dtype)
    try:
        b = ss.sosfiltfilt(sos, x, axis=axis, padtype=padtype, padlen=padlen)
    except ValueError:
        with pytest.raises(ValueError):
            dsp.sosfiltfilt(sos, x, axis=axis, padtype=padtype, padlen=padlen)
        return
    a = dsp.sosfiltfilt(sos, x, axis=axis, padtype=padtype, padlen=padlen)
    assert a.dtype == b.dtype
    assert rel_err(a, b) <= 1e-9


def test_welch_masked_single_precision_fft_is_close_to_scipy():
    x = np.random.default_rng(7).standard_normal((3, 5, 10_000))
    mask = np.zeros(x.shape, bool)
    mask[1, 2, 5000] = True
    _, p32, n32 = dsp.welch_masked(
        x, mask, fs=100.0, nperseg=4096, noverlap=2048, fft_dtype=np.float32
    )
    _, p64, n64 = dsp.welch_masked(x, mask, fs=100.0, nperseg=4096, noverlap=2048)
    np.testing.assert_array_equal(n32, n64)
    assert np.max(np.abs(p32 - p64) / np.abs(p64).max()) < 1e-5
    _, ref = ss.welch(x, fs=100.0, nperseg=4096, noverlap=2048)
    keep = n64 == 3
    np.testing.assert_allclose(p32[keep], ref[keep], rtol=0, atol=1e-5 * np.abs(ref).max())
    with pytest.raises(ValueError, match="fft_dtype"):
        dsp.welch_masked(x, mask, nperseg=256, fft_dtype=np.int32)


# --------------------------------------------------------------------- rational resampling
RATIOS = [(25, 64), (64, 25), (5, 8), (1, 3), (3, 1), (2, 3)]


def expected_nan(bad: np.ndarray, up: int, down: int, n_out: int) -> np.ndarray:
    """Outputs whose FIR support |m*down - k*up| <= 10*max(up, down) holds a bad sample
    or reaches past the record (derived here from the rule, not from the kernel)."""
    half = 10 * max(up, down)
    m = np.arange(n_out)
    k_lo = -((half - m * down) // up)  # ceil((m*down - half) / up)
    k_hi = (m * down + half) // up
    cs = np.concatenate([[0], np.cumsum(bad)])
    inside = (k_lo >= 0) & (k_hi < bad.size)
    lo, hi = np.clip(k_lo, 0, bad.size), np.clip(k_hi + 1, 0, bad.size)
    return ~inside | (cs[hi] - cs[lo] > 0)


def test_rational_ratio():
    assert dsp.rational_ratio(256.0, 100.0) == (25, 64)
    assert dsp.rational_ratio(100.0, 256.0) == (64, 25)
    assert dsp.rational_ratio(10.0, 100.0) == (10, 1)
    assert dsp.rational_ratio(100.0, 100.0) == (1, 1)
    with pytest.raises(ValueError, match=r"256\.016 Hz to 100\.0 Hz.*not a fraction"):
        dsp.rational_ratio(256.016, 100.0)
    with pytest.raises(ValueError, match="up, down <= 1000"):
        dsp.rational_ratio(1.0, 1001.0)
    for bad in (0.0, -1.0, float("nan"), float("inf"), "256"):
        with pytest.raises(ValueError, match="source_rate must be a finite positive"):
            dsp.rational_ratio(bad, 100.0)


def test_resample_fir_is_scipys_design():
    for up, down in RATIOS:
        m = max(up, down)
        ref = ss.firwin(20 * m + 1, 1.0 / m, window=("kaiser", 5.0)) * up
        np.testing.assert_array_equal(dsp.resample_fir(up, down), ref)
        assert dsp.resample_halo(up, down) == -(-10 * m // up)
    assert dsp.resample_length(256 * 86400, 25, 64) == 8_640_000
    assert dsp.resample_length(7, 25, 64) == ss.resample_poly(np.ones(7), 25, 64).size


@pytest.mark.parametrize(("up", "down"), RATIOS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_resample_poly_equals_scipy_away_from_the_ends(up, down, dtype):
    x = RNG.standard_normal((2, 5000)).astype(dtype)
    y = dsp.resample_poly(x, up, down)
    ref = ss.resample_poly(x.astype(np.float64), up, down, axis=-1)
    assert y.shape == ref.shape and y.dtype == dtype
    nan = expected_nan(np.zeros(x.shape[1], bool), up, down, y.shape[1])
    np.testing.assert_array_equal(np.isnan(y), np.broadcast_to(nan, y.shape))
    assert nan.sum() <= 2 * (dsp.resample_halo(up, down) * up // down + 2)
    assert rel_err(y[:, ~nan], ref[:, ~nan]) <= (1e-12 if dtype == np.float64 else 1e-6)
    # any axis, and the same factors not in lowest terms
    yt = dsp.resample_poly(x.T.copy(), 2 * up, 2 * down, axis=0)
    np.testing.assert_array_equal(yt.T, y)


@settings(max_examples=25, deadline=None)
@given(
    ratio=st.sampled_from(RATIOS),
    cuts=st.lists(st.integers(1, 2999), max_size=6),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_resample_poly_chunks_are_bit_identical(ratio, cuts, dtype):
    up, down = ratio
    x = np.random.default_rng(len(cuts)).standard_normal(3000).astype(dtype)
    x[1500:1510] = np.nan
    whole = dsp.resample_poly(x, up, down)
    halo = dsp.resample_halo(up, down)
    bounds = [0, *sorted(set(cuts)), x.size]
    parts = []
    for a, b in itertools.pairwise(bounds):
        lo, hi = max(0, a - halo), min(x.size, b + halo)
        parts.append(
            dsp.resample_poly(
                x[lo:hi],
                up,
                down,
                offset=lo,
                start=dsp.resample_length(a, up, down),
                stop=dsp.resample_length(b, up, down),
            )
        )
    np.testing.assert_array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize(("up", "down"), [(25, 64), (5, 8), (3, 1)])
def test_resample_poly_gaps_do_not_spread_beyond_the_fir(up, down):
    x = RNG.standard_normal(20_000)
    gap = np.zeros(x.size, bool)
    gap[8000:8300] = True
    gap[12_000] = True
    sat = np.zeros(x.size, bool)
    sat[15_000:15_004] = True
    xn = np.where(gap, np.nan, x)
    xn[5000] = np.inf  # ±inf is a bad sample too
    gap[5000] = True
    y = dsp.resample_poly(xn, up, down, bad=sat)
    nan = expected_nan(gap | sat, up, down, y.size)
    np.testing.assert_array_equal(np.isnan(y), nan)
    # no NaN further than the FIR half-length from a bad sample or the record's ends
    # (in units of 1 / (up * input rate), so the comparison is exact)
    t = np.flatnonzero(nan) * down
    bad_at = np.flatnonzero(gap | sat) * up
    dist = np.min(np.abs(t[:, None] - bad_at[None, :]), axis=1)
    edge = np.minimum(t, (x.size - 1) * up - t)
    half = 10 * max(up, down)
    assert np.all((dist <= half) | (edge <= half))
    # elsewhere the values do not depend on what was in the gap: scipy on a filled record
    ref = ss.resample_poly(np.where(gap | sat, 0.0, x), up, down)
    assert rel_err(y[~nan], ref[~nan]) <= 1e-12


def test_resample_poly_errors():
    with pytest.raises(ValueError, match="up and down must be >= 1"):
        dsp.resample_poly(np.ones(10), 0, 3)
    with pytest.raises(TypeError, match="real input"):
        dsp.resample_poly(np.ones(10, complex), 2, 3)
    with pytest.raises(ValueError, match="start <= stop"):
        dsp.resample_poly(np.ones(10), 2, 3, start=5, stop=2)
    np.testing.assert_array_equal(dsp.resample_poly(np.arange(4.0), 1, 1), np.arange(4.0))

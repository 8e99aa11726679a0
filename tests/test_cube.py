"""build_cube / write_cube / open_cube against an independent scipy computation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.signal as ss
import xarray as xr
import zarr

import xspecseg as xs
from xspecseg._store import FLAG
from xspecseg.testing import SMALL_CUBE, assert_cube_valid, random_waveform

# A small configuration keeps the suite fast: 10 Hz, 10-minute blocks, 144 a day.
SMALL = SMALL_CUBE


def small_cfg(**kw) -> xs.CubeConfig:
    return xs.CubeConfig(**{**SMALL, **kw})


def wave_from_numpy(x: np.ndarray, start: str, fs: float, chunks: int, **attrs) -> xr.DataArray:
    from xspecseg._timeaxis import regular_time_coords

    data = da.from_array(x, chunks=(x.shape[0], chunks))
    coords = regular_time_coords(
        np.datetime64(start, "ns"), x.shape[1], fs, data.chunks[1], ["H", "D"][: x.shape[0]]
    )
    return xr.DataArray(
        data,
        dims=("component", "time"),
        coords=coords,
        attrs={"sampling_rate": fs, "units": "pT", "station": "T", "start_time": start, **attrs},
    )


def reference_cube(x: np.ndarray, start: str, cfg: xs.CubeConfig) -> tuple[np.ndarray, np.ndarray]:
    """scipy recipe: each gap-free run filtered with sosfiltfilt, Welch per block."""
    fs = cfg.sampling_rate
    day0 = np.datetime64(start, "D").astype("datetime64[ns]")
    lead = int((np.datetime64(start, "ns") - day0) / np.timedelta64(round(1e9 / fs), "ns"))
    n = x.shape[1]
    ndays = -(-(lead + n) // cfg.day_samples)
    full = np.full((x.shape[0], ndays * cfg.day_samples), np.nan)
    full[:, lead : lead + n] = x
    sos = ss.butter(cfg.order, cfg.band, "band", fs=fs, output="sos")
    y = np.full_like(full, np.nan)
    bad = ~np.isfinite(full)
    if cfg.saturation is not None:
        bad |= np.abs(np.nan_to_num(full)) >= cfg.saturation
    padlen = 3 * (2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum()))
    for c in range(full.shape[0]):
        edges = np.flatnonzero(np.diff(np.r_[0, (~bad[c]).astype(int), 0]))
        for s, e in zip(edges[::2], edges[1::2], strict=True):
            if e - s > padlen:
                y[c, s:e] = ss.sosfiltfilt(sos, full[c, s:e])
    nb = ndays * cfg.blocks_per_day
    blocks = y.reshape(x.shape[0], nb, cfg.block_samples)
    step = cfg.nperseg - cfg.noverlap
    fsl = cfg.frequency_slice()
    psd = np.full((x.shape[0], nb, fsl.stop - fsl.start), np.nan)
    vf = np.zeros((x.shape[0], nb))
    for c in range(x.shape[0]):
        for b in range(nb):
            segs = [
                blocks[c, b, k * step : k * step + cfg.nperseg]
                for k in range(cfg.segments_per_block)
            ]
            good = [s for s in segs if np.isfinite(s).all()]
            vf[c, b] = len(good) / len(segs)
            if good:
                _, p = ss.welch(
                    np.array(good),
                    fs=fs,
                    window=cfg.window,
                    nperseg=cfg.nperseg,
                    noverlap=0,
                    nfft=cfg.nfft,
                    detrend=cfg.detrend,
                    axis=-1,
                )
                psd[c, b] = p.mean(axis=0)[fsl]
    return psd, vf


def assert_close(a, b, rtol):
    a, b = np.asarray(a, float), np.asarray(b, float)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    scale = np.nanmax(np.abs(b))
    err = np.nanmax(np.abs(a - b)) if np.isfinite(a).any() else 0.0
    assert err <= rtol * scale, f"max abs error {err:.3g} > {rtol} * {scale:.3g}"


@pytest.fixture(scope="module")
def record():
    rng = np.random.default_rng(1)
    n = int(1.6 * 86400 * 10)  # 1.6 days at 10 Hz, starting mid-morning
    x = rng.standard_normal((2, n))
    t = np.arange(n) / 10
    x += np.sin(2 * np.pi * 0.7 * t)
    return x


START = "2021-03-04T09:30:00"


def test_cube_equals_scipy_reference(record):
    cfg = small_cfg()
    cube = xs.build_cube(wave_from_numpy(record, START, 10.0, 100_000), cfg)
    assert_cube_valid(cube)
    psd, vf = reference_cube(record, START, cfg)
    assert_close(cube.psd.values, psd, 1e-5)
    np.testing.assert_allclose(cube.valid_fraction.values, vf)
    assert cube.sizes["time"] == 2 * 144
    assert cube.time.values[0] == np.datetime64("2021-03-04")


def test_cube_is_identical_for_different_chunkings(record):
    cfg = small_cfg()
    cubes = [
        xs.build_cube(wave_from_numpy(record, START, 10.0, c), cfg).psd.values
        for c in (record.shape[1], 86_400 * 10, 77_777, 1_000)
    ]
    for other in cubes[1:]:
        assert_close(other, cubes[0], 1e-5)


def test_build_is_lazy():
    """Building the graph must compute no input chunk at all."""
    calls = []

    def chunk(i):
        calls.append(i)
        return np.zeros((2, 36_000))

    pieces = [da.from_delayed(dask.delayed(chunk)(i), (2, 36_000), float) for i in range(48)]
    wave = xr.DataArray(
        da.concatenate(pieces, axis=1),
        dims=("component", "time"),
        coords={"component": ["H", "D"]},
        attrs={"sampling_rate": 10.0, "start_time": "2020-01-01T00:00:00"},
    )

    def refuse(*args, **kwargs):
        raise AssertionError("something was computed while building the graph")

    with dask.config.set(scheduler=refuse):
        cube = xs.build_cube(wave, small_cfg())
        _ = cube.psd.data[:, :5].sum()
    assert calls == []
    assert isinstance(cube.psd.data, da.Array)
    assert cube.psd.data.chunks[0] == (1, 1)
    assert set(cube.psd.data.chunks[1]) == {144}


def test_filter_waveform_independent_of_chunking_and_equal_to_scipy():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 50_001))
    sos = xs.dsp.bandpass_sos(0.1, 2.0, 10.0)
    ref = ss.sosfiltfilt(sos, x[0])
    halo = xs.dsp.impulse_halo(sos)
    for chunks in (50_001, 20_000, halo // 3, 9_999):  # shorter than the halo, short last
        w = wave_from_numpy(x, START, 10.0, chunks)
        y = xs.cube.filter_waveform(w, sos)
        assert y.data.chunks == w.data.chunks
        assert_close(y.values[0], ref, 1e-9)


def test_gap_leaves_distant_blocks_untouched(record):
    cfg = small_cfg()
    gappy = record.copy()
    g0 = 40_000 * 10 // 10 + 36_000  # an hour-long gap in the first day
    gappy[:, g0 : g0 + 36_000] = np.nan
    full = xs.build_cube(wave_from_numpy(record, START, 10.0, 200_000), cfg).compute()
    cut = xs.build_cube(wave_from_numpy(gappy, START, 10.0, 200_000), cfg).compute()
    psd, vf = reference_cube(gappy, START, cfg)
    assert_close(cut.psd.values, psd, 1e-5)
    np.testing.assert_allclose(cut.valid_fraction.values, vf)
    t = cut.time.values
    gap_start = np.datetime64(START, "ns") + np.timedelta64(g0 * 100, "ms")
    gap_end = gap_start + np.timedelta64(1, "h")
    inside = (t >= gap_start) & (t + np.timedelta64(600, "s") <= gap_end)
    assert (cut.valid_fraction.values[:, inside] == 0).all()
    assert np.isnan(cut.psd.values[:, inside]).all()
    far = (t + np.timedelta64(600, "s") < gap_start - np.timedelta64(1, "h")) | (
        t > gap_end + np.timedelta64(1, "h")
    )
    ok = far & (full.valid_fraction.values[0] == 1)
    assert ok.sum() > 100
    assert_close(cut.psd.values[:, ok], full.psd.values[:, ok], 1e-6)


def test_saturation_masks_like_gaps_and_calibration_scales(record):
    x = record.copy()
    x[0, 500_000] = 50.0
    cfg = small_cfg(saturation=10.0)
    cube = xs.build_cube(wave_from_numpy(x, START, 10.0, 300_000), cfg)
    psd, vf = reference_cube(x, START, cfg)
    np.testing.assert_allclose(cube.valid_fraction.values, vf)
    assert (vf[0] < 1).sum() >= 1 and (vf[0] > 0).sum() > 100
    assert_close(cube.psd.values, psd, 1e-5)

    def gain(f):
        return 2.0 + f

    gain.units = "nT"
    cal = xs.build_cube(wave_from_numpy(record, START, 10.0, 300_000), small_cfg(calibration=gain))
    raw = xs.build_cube(wave_from_numpy(record, START, 10.0, 300_000), small_cfg())
    f = cal.frequency.values
    assert_close(cal.psd.values, raw.psd.values * (2.0 + f) ** 2, 1e-6)
    assert cal.psd.attrs["units"] == "nT2 Hz-1"
    assert cal.attrs["calibration"].endswith(
        ":test_saturation_masks_like_gaps_and_calibration_scales.<locals>.gain"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(attrs={"sampling_rate": 20.0}), "sampling_rate=20.0"),
        (dict(attrs={}), "no 'sampling_rate'"),
        (dict(dtype=np.int16), "float32/float64"),
    ],
)
def test_bad_waveforms_get_clear_errors(record, change, message):
    w = wave_from_numpy(record[:, :10_000], START, 10.0, 5_000)
    if "attrs" in change:
        w.attrs = {**change["attrs"], "start_time": START}
    if "dtype" in change:
        w = w.astype(change["dtype"])
    with pytest.raises((ValueError, TypeError), match=message):
        xs.build_cube(w, small_cfg())


def test_config_validation():
    with pytest.raises(ValueError, match="tile a UTC day"):
        xs.CubeConfig(block_seconds=7.0)
    with pytest.raises(ValueError, match="nperseg"):
        xs.CubeConfig(nperseg=20_000)
    with pytest.raises(ValueError, match="unknown preset"):
        xs.CubeConfig.preset("nope")
    cfg = xs.CubeConfig.preset("iar")
    assert (cfg.blocks_per_day, cfg.block_samples, cfg.segments_per_block) == (864, 10_000, 3)
    assert cfg.frequencies()[-1] <= 10.0 and cfg.frequencies().size == 410


def test_config_from_toml(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[cube]\npreset = "iar"\nnoverlap = 1024\nband = [1.0, 8.0]\n')
    cfg = xs.CubeConfig.from_toml(p)
    assert cfg.noverlap == 1024 and cfg.band == (1.0, 8.0) and cfg.nperseg == 4096
    p.write_text(
        'calibration = "xspecseg.io:sierra_nevada_calibration"\nsampling_rate = 256.0\n'
        "block_seconds = 600.0\nnperseg = 2560\nband = [1.0, 30.0]\n"
    )
    cfg = xs.CubeConfig.from_toml(p)
    assert cfg.calibration is xs.io.sierra_nevada_calibration
    assert cfg.to_attrs()["calibration"] == "xspecseg.io.raw:sierra_nevada_calibration"
    p.write_text("colour = 3\n")
    with pytest.raises(ValueError, match="unknown cube config keys"):
        xs.CubeConfig.from_toml(p)


# ----------------------------------------------------------------------------------------
# the store
# ----------------------------------------------------------------------------------------
def test_write_open_round_trip_and_append(tmp_path, record):
    cfg = small_cfg()
    n_day = cfg.day_samples
    x = np.concatenate([record, record[:, :n_day]], axis=1)[:, : 3 * n_day]
    whole = xs.build_cube(wave_from_numpy(x, "2021-03-04", 10.0, n_day), cfg)
    first = xs.build_cube(wave_from_numpy(x[:, :n_day], "2021-03-04", 10.0, n_day), cfg)
    store = tmp_path / "c.zarr"
    written = xs.write_cube(first, store, progress=False)
    assert written == [np.datetime64("2021-03-04")]
    # append the next two days (the record continues, so the filter halo sees no edge)
    later = whole.isel(time=slice(144, None))
    written = xs.write_cube(later, store, progress=False)
    assert written == [np.datetime64("2021-03-05"), np.datetime64("2021-03-06")]
    back = xs.open_cube(store)
    assert back.sizes["time"] == 3 * 144
    assert_close(back.psd.values[:, 144:], whole.psd.values[:, 144:], 0)
    assert_close(back.psd.values[:, :144], first.psd.values, 0)
    np.testing.assert_array_equal(back.time.values, whole.time.values)
    assert back.attrs["nperseg"] == 1024 and back.attrs["band"] == [0.1, 2.0]
    assert "write_cube" in back.attrs["history"]
    # re-running writes nothing
    assert xs.write_cube(whole, store, progress=False) == []


def test_incompatible_store_is_refused(tmp_path, record):
    store = tmp_path / "c.zarr"
    w = wave_from_numpy(record[:, :864_000], "2021-03-04", 10.0, 864_000)
    xs.write_cube(xs.build_cube(w, small_cfg()), store, progress=False)
    with pytest.raises(ValueError, match="nperseg"):
        xs.write_cube(xs.build_cube(w, small_cfg(nperseg=512)), store, progress=False)
    early = wave_from_numpy(record[:, :864_000], "2021-03-01", 10.0, 864_000)
    with pytest.raises(ValueError, match="forward in time"):
        xs.write_cube(xs.build_cube(early, small_cfg()), store, progress=False)
    with pytest.raises(ValueError, match="not an xspecseg cube"):
        xs.open_cube(tmp_path)


KILL_SCRIPT = """
import sys, time
import dask
import xspecseg as xs
import xspecseg._store as store_mod
from xspecseg.testing import random_waveform

slow = store_mod._write_chunk
def write_slowly(*args, **kwargs):
    out = slow(*args, **kwargs)
    print("day", out, flush=True)
    time.sleep(2.0)  # give the parent time to kill us between days
    return out
store_mod._write_chunk = write_slowly
cfg = xs.CubeConfig(**{cfg!r})
wave = random_waveform("2020-06-01", hours=24 * 4, sampling_rate=10.0, chunk_seconds=86400)
with dask.config.set(scheduler="synchronous"):
    xs.write_cube(xs.build_cube(wave, cfg), sys.argv[1], progress=False)
"""


def test_killed_writer_resumes_without_recomputing(tmp_path):
    store = tmp_path / "k.zarr"
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(KILL_SCRIPT.format(cfg=SMALL)))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(store)], stdout=subprocess.PIPE, text=True
    )
    # wait until two days are committed, then kill without warning
    seen = 0
    deadline = time.time() + 240
    while seen < 2 and time.time() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        if line.startswith("day"):
            seen += 1
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert seen == 2, "writer did not get far enough before the deadline"

    flags = zarr.open_group(store, mode="r")[FLAG][:]
    assert flags.sum() == 2
    done = np.flatnonzero(flags)
    # a torn chunk in a day that is not complete must not break reading or resuming
    todo = np.flatnonzero(flags == 0)
    torn = store / "psd" / "c" / "0" / str(todo[0]) / "0"
    torn.parent.mkdir(parents=True, exist_ok=True)
    torn.write_bytes(b"\x00garbage")
    with pytest.warns(UserWarning, match="not completely written"):
        partial = xs.open_cube(store)
    assert np.isnan(partial.psd.values[:, todo[0] * 144 : (todo[0] + 1) * 144]).all()
    assert (partial.valid_fraction.values[:, todo[0] * 144 : (todo[0] + 1) * 144] == 0).all()
    with pytest.raises(ValueError, match="not completely written"):
        xs.open_cube(store, incomplete="raise")

    mtimes = {p: p.stat().st_mtime_ns for p in (store / "psd" / "c").rglob("*") if p.is_file()}
    cfg = xs.CubeConfig(**SMALL)
    wave = random_waveform("2020-06-01", hours=24 * 4, sampling_rate=10.0, chunk_seconds=86400)
    cube = xs.build_cube(wave, cfg)
    written = xs.write_cube(cube, store, progress=False)
    assert [int((d - np.datetime64("2020-06-01")).astype(int)) for d in written] == list(todo)
    for p, m in mtimes.items():
        day = int(p.parent.name)
        if day in done:
            assert p.stat().st_mtime_ns == m, f"finished day {day} was rewritten"
    back = xs.open_cube(store, incomplete="raise")
    assert_close(back.psd.values, cube.psd.values, 0)
    assert_close(back.valid_fraction.values, cube.valid_fraction.values, 0)


# ----------------------------------------------------------------------------------------
# real records (../shared/data), against the same independent scipy computation
# ----------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_real_mtpy_miniseed_cube_equals_scipy(shared_data):
    files = sorted((shared_data / "mtpy_adelaide").glob("BP05_*.mseed"))
    wave = xs.io.open_waveform(files, units="nT")
    assert wave.attrs["sampling_rate"] == 10.0
    cfg = small_cfg(band=(0.1, 4.0), fmax=5.0)
    cube = xs.build_cube(wave, cfg)
    x = wave.values.astype(np.float64)
    assert np.isnan(x).any(), "BP05 pieces leave gaps"
    psd, vf = reference_cube(x, wave.attrs["start_time"], cfg)
    assert_close(cube.psd.values, psd, 1e-5)
    np.testing.assert_allclose(cube.valid_fraction.values, vf)
    assert 0 < float(cube.valid_fraction.mean()) < 1
    assert cube.psd.attrs["units"] == "nT2 Hz-1"


@pytest.mark.realdata
def test_real_sierra_nevada_day_against_scipy_and_station_spectra(shared_data):
    day = shared_data / "sierra_nevada_elf" / "2015-03-01"
    wave = xs.io.open_waveform(day)
    cal = xs.io.sierra_nevada_calibration
    # the station's own processing: 10 s Hann segments, 50 % overlap, 8192-point FFT,
    # no detrending, saturated segments left out, calibrated, 6-25 Hz
    cfg = xs.CubeConfig(
        sampling_rate=256.0,
        block_seconds=600.0,
        nperseg=2560,
        noverlap=1280,
        nfft=8192,
        detrend=False,
        band=None,
        fmin=6.0,
        fmax=25.0,
        saturation=9.99,
        calibration=cal,
    )
    cube = xs.build_cube(wave, cfg)
    assert cube.attrs["station"] and cube.sizes["time"] == 2 * 144  # 00:49 to 00:49
    got = cube.psd.values
    # independent computation of a few blocks with scipy, from the raw samples
    x = wave.values.astype(np.float64)
    start = np.datetime64(wave.attrs["start_time"], "ns")
    day0 = start.astype("datetime64[D]").astype("datetime64[ns]")
    lead = int((start - day0) // np.timedelta64(3_906_250, "ns"))
    f = cube.frequency.values
    checked = 0
    for b in (10, 40, 77, 120, 140):
        seg0 = b * 153_600 - lead
        blk = x[:, seg0 : seg0 + 153_600]
        for c in range(2):
            segs = [blk[c, k * 1280 : k * 1280 + 2560] for k in range(119)]
            good = [s for s in segs if np.isfinite(s).all() and np.abs(s).max() < 9.99]
            if not good:
                assert np.isnan(got[c, b]).all()
                continue
            fr, p = ss.welch(
                np.array(good),
                fs=256.0,
                nperseg=2560,
                noverlap=0,
                nfft=8192,
                detrend=False,
                axis=-1,
            )
            keep = (fr >= 6.0) & (fr <= 25.0)
            ref = p.mean(axis=0)[keep] * cal(f) ** 2
            np.testing.assert_allclose(got[c, b], ref, rtol=1e-4)
            assert cube.valid_fraction.values[c, b] == pytest.approx(len(good) / 119)
            checked += 1
    assert checked >= 6
    # and the level agrees with the station's published amplitude spectra (pT/sqrt(Hz))
    media = np.loadtxt(day / "SR1503_media_0").reshape(-1, 609)
    station = np.nanmedian(media, axis=0)
    ours = np.nanmedian(np.sqrt(got[0]), axis=0)
    fs_station = 6.0 + 0.03125 * np.arange(609)
    ratio = np.median(ours / np.interp(f, fs_station, station))
    assert 0.8 < ratio < 1.25, f"our median amplitude / station's = {ratio:.3f}"


def test_select_component_sums_named_components():
    rng = np.random.default_rng(0)
    x = rng.random((3, 5, 4))
    x[1, 2, 3] = np.nan
    psd = xr.DataArray(
        x,
        dims=("component", "time", "frequency"),
        coords={"component": ["H", "D", "Z"], "time": np.arange(5), "frequency": np.arange(4)},
        attrs={"units": "nT^2/Hz"},
    )
    cube = xr.Dataset({"psd": psd}, attrs={"station": "ESK"})
    with pytest.warns(xs.cube.MissingComponentWarning, match="component D has no data"):
        hd = xs.select_component(cube, "H+D").values
    # where a part has no data, the other stands in at the level of the whole sum
    expect = np.where(np.isnan(x[1]), 2 * x[0], x[0] + x[1])
    np.testing.assert_allclose(hd, expect, rtol=1e-15)
    x[0, 2, 3] = np.nan
    both = xs.select_component(cube.copy(data={"psd": x}), "H+D")
    assert np.isnan(both.values[2, 3])  # NaN only where every part is
    hd = xs.select_component(cube, "H+D")
    assert hd.dims == ("time", "frequency")
    assert hd.attrs == {"station": "ESK", "units": "nT^2/Hz", "component": "H+D"}
    np.testing.assert_array_equal(xs.select_component(psd, "Z").values, x[2])
    for bad in ("H+X", "H+H"):
        with pytest.raises(ValueError, match="has components"):
            xs.select_component(cube, bad)
    with pytest.raises(ValueError, match="no 'component' dimension"):
        xs.select_component(psd.sel(component="H"), "H")


@pytest.mark.parametrize("components", [("H", "D"), ("D", "H"), ("H", "D", "Z")])
def test_a_lazy_sum_is_one_task_per_time_chunk(components):
    """Components stored in separate chunks (as a cube store keeps them) are summed by one
    task per time chunk, whatever order they come in; the values are numpy's."""
    rng = np.random.default_rng(1)
    x = rng.random((len(components), 30, 6))
    x[0, 3:5] = np.nan
    psd = xr.DataArray(
        da.from_array(x, chunks=(1, 10, 6)),
        dims=("component", "time", "frequency"),
        coords={"component": list(components), "time": np.arange(30), "frequency": np.arange(6)},
    )
    hd = xs.select_component(psd, "H+D")
    graph = hd.data.__dask_graph__()
    assert len(dict(graph.layers[hd.data.name])) == 3  # the summing tasks: one per time chunk
    # besides the input and the time stamps, only the sum (and a selection where the parts
    # are not the whole PSD in its order): no rechunk, no per-chunk slicing
    assert len(graph.layers) == 3 + (list(components) != ["H", "D"])
    h, d = (x[list(components).index(c)] for c in ("H", "D"))
    expect = np.where(np.isnan(h), 2 * d, np.where(np.isnan(d), 2 * h, h + d))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xs.cube.MissingComponentWarning)
        np.testing.assert_allclose(hd.values, expect, rtol=1e-15)


# ----------------------------------------------------------------------------------------
# any sampling rate: band-limited resampling before the filter
# ----------------------------------------------------------------------------------------
def resample_nan(bad: np.ndarray, up: int, down: int, n_out: int) -> np.ndarray:
    """Outputs whose FIR support (|m*down - k*up| <= 10*max(up, down)) holds a bad sample
    or reaches past the record: the documented rule, derived independently of the code."""
    half = 10 * max(up, down)
    m = np.arange(n_out)
    k_lo, k_hi = -((half - m * down) // up), (m * down + half) // up
    cs = np.concatenate([[0], np.cumsum(bad)])
    lo, hi = np.clip(k_lo, 0, bad.size), np.clip(k_hi + 1, 0, bad.size)
    return (k_lo < 0) | (k_hi >= bad.size) | (cs[hi] - cs[lo] > 0)


def scipy_resampled(x: np.ndarray, up: int, down: int, saturation=None) -> np.ndarray:
    """scipy.signal.resample_poly of the record with bad samples zeroed, NaN by the rule."""
    bad = ~np.isfinite(x)
    if saturation is not None:
        bad |= np.abs(np.nan_to_num(x)) >= saturation
    y = ss.resample_poly(np.where(bad, 0.0, x), up, down, axis=-1)
    for c in range(x.shape[0]):
        y[c, resample_nan(bad[c], up, down, y.shape[1])] = np.nan
    return y


@pytest.fixture(scope="module")
def record16():
    """1.2 days at 16 Hz (-> 10 Hz is up/down 5/8), a 0.7 Hz line, a gap, a saturated spike."""
    rng = np.random.default_rng(11)
    n = int(1.2 * 86400 * 16)
    x = rng.standard_normal((2, n)) + np.sin(2 * np.pi * 0.7 * np.arange(n) / 16)
    x[0, 700_000:760_000] = np.nan
    x[1, 1_000_000] = 50.0
    return x


def test_resampled_cube_equals_scipy_resample_poly_reference(record16):
    cfg = small_cfg(resample=True, saturation=10.0)
    cube = xs.build_cube(wave_from_numpy(record16, START, 16.0, 300_000), cfg)
    assert_cube_valid(cube)
    assert cube.attrs["sampling_rate"] == 10.0 and cube.attrs["source_sampling_rate"] == 16.0
    assert "resampled 16 -> 10 Hz (up/down 5/8" in cube.attrs["history"]
    y = scipy_resampled(record16, 5, 8, saturation=10.0)
    assert y.shape[1] == -(-record16.shape[1] * 5 // 8)
    psd, vf = reference_cube(y, START, cfg)
    assert_close(cube.psd.values, psd, 1e-5)
    np.testing.assert_allclose(cube.valid_fraction.values, vf)
    # the gap and the spike cost only the segments their FIR-widened span touches: the
    # record's partial first and last blocks (57, 229), the gap's (129-136), the spike's
    # two Welch segments in block 161
    v = cube.valid_fraction.values
    assert np.flatnonzero((v[0] > 0) & (v[0] < 1)).tolist() == [57, 129, 136, 229]
    assert (v[0, 130:136] == 0).all()
    assert np.flatnonzero((v[1] > 0) & (v[1] < 1)).tolist() == [57, 161, 229]
    assert v[1, 161] == pytest.approx(0.8) and (v[1, 58:229] > 0).all()


def test_resampled_cube_is_identical_for_any_input_chunking():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3 * 3600 * 16))  # 3 hours at 16 Hz
    x[1, 40_000:40_100] = np.nan
    cfg = small_cfg(resample=True)
    n = x.shape[1]
    tiny = (50_000, 5, 3, 1, 16, 9_000, 7, 2)  # chunks shorter than the FIR halo (16)
    chunkings = [n, 20_000, (*tiny, n - sum(tiny))]
    cubes = []
    for c in chunkings:
        w = wave_from_numpy(x, START, 16.0, n).chunk({"time": c})
        cubes.append(xs.build_cube(w, cfg).compute())
    assert cubes[2].psd.size and np.isfinite(cubes[0].psd.values).any()
    for other in cubes[1:]:
        np.testing.assert_array_equal(other.psd.values, cubes[0].psd.values)
        np.testing.assert_array_equal(other.valid_fraction.values, cubes[0].valid_fraction.values)


def test_other_rate_is_refused_with_the_fix_named(record16):
    w = wave_from_numpy(record16[:, :100_000], START, 16.0, 50_000)
    with pytest.raises(ValueError, match=r"sampling_rate=16\.0 Hz .* set resample=True"):
        xs.build_cube(w, small_cfg())
    w.attrs["sampling_rate"] = 16.0001
    with pytest.raises(ValueError, match=r"16\.0001 Hz to 10\.0 Hz: the ratio .*not a fraction"):
        xs.build_cube(w, small_cfg(resample=True))
    # the same rate with resample=True is not resampled at all
    same = xs.build_cube(wave_from_numpy(record16[:, :100_000], START, 10.0, 50_000),
                         small_cfg(resample=True))  # fmt: skip
    assert "source_sampling_rate" not in same.attrs and "resampled" not in same.attrs["history"]


@pytest.mark.parametrize(
    ("scale", "dtype", "resample"),
    [(1e30, np.float32, False), (1e300, np.float64, False), (1e300, np.float64, True)],
)
def test_overflowing_amplitudes_are_never_valid(record, scale, dtype, resample):
    x = (record[:, :200_000] * scale).astype(dtype)
    fs = 10.0
    if resample:  # the same amplitudes at 16 Hz
        x = np.repeat(x, 2, axis=1)[:, : int(x.shape[1] * 1.6)]
        fs = 16.0
    with np.errstate(over="raise"):  # nor any overflow warning on the way
        cube = xs.build_cube(wave_from_numpy(x, START, fs, 100_000), small_cfg(resample=True))
        psd, vf = cube.psd.values, cube.valid_fraction.values
    assert not np.isinf(psd).any()
    assert (vf == 0).all() and np.isnan(psd).all()


def test_an_overflowing_sample_is_a_gap_and_overflowing_blocks_are_flagged(record):
    x = record[:, :300_000].astype(np.float32)
    spike = x.copy()
    spike[0, 123_456] = 1e30
    gap = x.copy()
    gap[0, 123_456] = np.nan
    cfg = small_cfg()
    a = xs.build_cube(wave_from_numpy(spike, START, 10.0, 100_000), cfg).compute()
    b = xs.build_cube(wave_from_numpy(gap, START, 10.0, 100_000), cfg).compute()
    np.testing.assert_array_equal(a.psd.values, b.psd.values)
    np.testing.assert_array_equal(a.valid_fraction.values, b.valid_fraction.values)
    v = a.valid_fraction.values
    assert ((v[0] > 0) & (v[0] < 1)).sum() > ((v[1] > 0) & (v[1] < 1)).sum()
    assert np.isfinite(a.psd.values[0]).any() and not np.isinf(a.psd.values).any()

    # a calibration that takes the PSD beyond float32: flagged, never inf and valid
    def huge(f):
        return np.where(f > 1.0, 1e30, 1.0)

    c = xs.build_cube(wave_from_numpy(x, START, 10.0, 100_000), small_cfg(calibration=huge))
    psd, vf = c.psd.values, c.valid_fraction.values
    assert not np.isinf(psd).any() and (vf == 0).all() and np.isnan(psd).all()


@pytest.mark.realdata
def test_real_sierra_nevada_256hz_day_resampled_onto_the_iar_grid(shared_data):
    day = shared_data / "sierra_nevada_elf" / "2015-03-01"
    wave = xs.io.open_waveform(day, format="raw-int16")
    assert wave.attrs["sampling_rate"] == 256.0
    # The station's coils are NS / EW; iar-default takes the summed horizontal PSD under
    # the names H + D, so they are renamed (the sum does not depend on the orientation).
    wave = wave.assign_coords(component=["H", "D"])
    cfg = xs.CubeConfig.preset("iar", resample=True)
    cube = xs.build_cube(wave, cfg).compute()
    assert cube.sizes["frequency"] == 410 and cube.frequency.values[-1] <= 10.0
    assert cube.sizes["time"] == 2 * 864 and cube.attrs["source_sampling_rate"] == 256.0
    vf = cube.valid_fraction.values
    assert ((vf > 0).sum(axis=1) == 864).all() and (vf == 1).sum(axis=1).min() >= 862

    # the spectrum equals scipy's: resample_poly of the whole day, sosfiltfilt, welch
    x = wave.values.astype(np.float64)
    y = scipy_resampled(x, 25, 64)
    start = np.datetime64(wave.attrs["start_time"], "ns")
    day0 = start.astype("datetime64[D]").astype("datetime64[ns]")
    lead = int((start - day0) // np.timedelta64(10, "ms"))
    sos = ss.butter(4, [0.5, 10.0], "band", fs=100.0, output="sos")
    fsl = cfg.frequency_slice()
    for b in (40, 300, 700, 880):  # well inside the record (blocks 30-893), no gaps
        s0 = b * 10_000 - lead
        seg = ss.sosfiltfilt(sos, y[:, s0 - 30_000 : s0 + 40_000], axis=-1)[:, 30_000:40_000]
        _, p = ss.welch(seg, fs=100.0, nperseg=4096, noverlap=2048, axis=-1)
        assert vf[:, b].tolist() == [1.0, 1.0]
        assert_close(cube.psd.values[:, b], p[:, fsl], 1e-4)

    prob = xs.predict(cube, "iar-default").compute()
    assert prob.dims == ("time", "frequency") and prob.shape == (2 * 864, 410)
    night = np.isfinite(prob.values)
    assert night.any() and ((prob.values[night] >= 0) & (prob.values[night] <= 1)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nparts", [2, 3])
def test_the_sum_of_present_components_is_numpys_to_the_bit(dtype, nparts):
    """The one-pass kernel against numpy's masked sum, scaled where parts are missing."""
    rng = np.random.default_rng(7)
    x = (10.0 ** rng.uniform(-30, 5, (nparts, 40, 33))).astype(dtype)
    x[rng.random(x.shape) < 0.2] = np.nan
    x[0, 5] = np.inf  # not finite: missing like NaN
    x[:, 7, :4] = np.nan  # every part missing: NaN
    finite = np.isfinite(x)
    n = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        expect = np.where(finite, x, 0).sum(axis=0) * (nparts / n)
    expect = np.where(n > 0, expect, np.nan).astype(dtype)
    parts = ("H", "D", "Z")[:nparts]
    with pytest.warns(xs.cube.MissingComponentWarning) as record:
        got = xs.cube._sum_present_block(x, np.arange(40), parts=parts)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expect)
    assert "+".join(parts) in str(record[0].message)  # every part is missing somewhere

"""The waveform time index check that build_cube runs: ends and length, never the whole index."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xspecseg as xs
from xspecseg._timeaxis import check_time_index, regular_time_coords

# Small enough to build quickly, long enough for a few blocks of the config below.
FS = 10.0
N = 30_000
CFG = xs.CubeConfig(
    sampling_rate=FS, block_seconds=600.0, nperseg=1024, noverlap=512, band=(0.1, 2.0), fmax=4.0
)


def wave_with_index(times: pd.DatetimeIndex, fs: float = FS) -> xr.DataArray:
    x = np.random.default_rng(0).standard_normal(times.size)
    return xr.DataArray(x, dims="time", coords={"time": times}, attrs={"sampling_rate": fs})


def regular(n: int = N, fs: float = FS) -> pd.DatetimeIndex:
    return pd.date_range("2020-01-01T03:00", periods=n, freq=pd.Timedelta(seconds=1 / fs))


def test_regular_index_is_accepted_and_cube_equals_the_positional_one():
    wave = wave_with_index(regular())
    check_time_index(wave, FS)
    cube = xs.build_cube(wave, CFG)
    # the same samples without an index (a lazy coordinate) give the same cube
    bare = wave.drop_vars("time").assign_attrs(start_time="2020-01-01T03:00")
    np.testing.assert_array_equal(cube.psd.values, xs.build_cube(bare, CFG).psd.values)


@pytest.mark.parametrize(
    "times",
    [
        pytest.param(regular(N + 1).delete(N // 2), id="a dropped sample"),
        pytest.param(regular(N + 500).delete(np.s_[1000:1500]), id="a dropped gap"),
        pytest.param(regular(N).insert(7, regular(N)[7]), id="a repeated stamp"),
        pytest.param(regular(N, fs=FS / 2), id="stamps at half the rate"),
        pytest.param(regular(N)[::-1], id="reversed"),
    ],
)
def test_irregular_index_is_refused(times):
    wave = wave_with_index(times)
    with pytest.raises(ValueError, match="time index is not regular"):
        check_time_index(wave, FS)
    with pytest.raises(ValueError, match="mark missing samples NaN"):
        xs.build_cube(wave, CFG)


def test_resampled_record_is_judged_at_its_own_rate():
    wave = wave_with_index(regular(N, fs=16.0), fs=16.0)
    cfg = xs.CubeConfig(**{**CFG.__dict__, "resample": True})
    xs.build_cube(wave, cfg)  # regular at 16 Hz: accepted
    with pytest.raises(ValueError, match=r"not regular at sampling_rate=16\.0 Hz"):
        xs.build_cube(wave_with_index(regular(N + 1, fs=16.0).delete(5), fs=16.0), cfg)


def test_within_half_a_sample_is_regular_and_a_lazy_axis_is_not_read():
    times = regular()
    # stamps off by less than half a sample (a logger's clock rounding): still regular
    jitter = times + pd.to_timedelta(np.r_[0, np.full(N - 2, 400), 40_000], unit="us")
    check_time_index(wave_with_index(jitter), FS)
    coords = regular_time_coords(np.datetime64("2020-01-01", "ns"), N, FS, (N,), ["H"], index=False)
    lazy = xr.DataArray(np.zeros((1, N)), dims=("component", "time"), coords=coords)
    assert "time" not in lazy.indexes
    check_time_index(lazy, FS)

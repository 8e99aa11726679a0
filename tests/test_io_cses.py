"""read_cses: lazy streaming of CSES EFD level-2 VLF files into the satellite cube."""

from __future__ import annotations

import shutil

import dask
import dask.array as da
import h5py
import numpy as np
import pytest
import xarray as xr

from xspecseg.io.cses import decode_utc_time, read_cses
from xspecseg.synth.cses import cses_orbits

NAME = "CSES_01_EFD_3_L02_A1_{}_20220101_000000_20220101_003000_000.h5"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("cses_io")
    return cses_orbits("2021-11-01", days=0.07, seed=1, out_dir=out)


def _copy(src, tmp_path, stem="123450"):
    dst = tmp_path / NAME.format(stem)
    shutil.copy(src, dst)
    return dst


def test_lazy_one_chunk_per_file(files):
    sat = read_cses(files)
    assert isinstance(sat.psd.data, da.Array)
    assert sat.psd.dtype == np.float32 and sat.psd.dims == ("time", "frequency")
    assert len(sat.psd.data.chunks[0]) == len(files)
    assert sat.psd.shape[1] == 1024 and float(sat.frequency[-1]) == 25_575.0
    for c in ("latitude", "longitude", "altitude_km", "magnetic_latitude", "orbit"):
        assert sat[c].dims == ("time",)
    assert sat.orbit.dtype == np.int64
    assert set(np.unique(sat.orbit_direction.values)) <= {"ascending", "descending"}
    assert sat.attrs["component"] == "Z" and sat.attrs["units"] == "(mV/m)^2/Hz"
    assert sat.attrs["source_files"] == [p.name for p in files]
    assert "synth_params" in sat.attrs and "truth" in sat


def test_all_files_are_read_in_one_graph_layer(files):
    # a layer per file made every optimisation of a year's graph (11 000 files) cost
    # layers x keys on the client
    for subset in (files[:2], files):
        sat = read_cses(subset)
        for name in ("psd", "truth"):
            assert len(sat[name].data.dask.layers) == 1, name
    one = read_cses(files[:1]).psd.values
    np.testing.assert_array_equal(read_cses(files).psd.values[: one.shape[0]], one)


def test_many_files_have_their_headers_read_in_batches_with_the_same_result(
    files, tmp_path, monkeypatch
):
    import pickle

    import xspecseg.io.cses as cses_mod

    whole = read_cses(files)
    monkeypatch.setattr(cses_mod, "_META_BATCH", 1)  # every file a task of its own
    with dask.config.set(scheduler="threads"):
        batched = read_cses(list(reversed(files)))
    xr.testing.assert_identical(batched.load(), whole.load())
    meta = cses_mod._meta_batch([str(files[0])], "Z", True)[0]
    assert pickle.loads(pickle.dumps(meta)).path == meta.path  # a batch can go to a worker
    bad = tmp_path / NAME.format("999999")
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="999999"):
        read_cses([*files, bad])


@pytest.mark.parametrize("component,name", [("X", "A131_P"), ("Y", "A132_P"), ("Z", "A133_P")])
def test_values_round_trip(files, component, name):
    sat = read_cses(files, component=component)
    with h5py.File(files[0]) as f:
        raw = f[name][()]
        lat = f["GEO_LAT"][:, 0]
        alt = f["ALTITUDE"][:, 0]
    n = raw.shape[0]
    np.testing.assert_array_equal(sat.psd.values[:n], raw)
    np.testing.assert_array_equal(sat.latitude.values[:n], lat.astype(float))
    np.testing.assert_array_equal(sat.altitude_km.values[:n], alt.astype(float))
    lg = read_cses(files, component=component, log10=True)
    np.testing.assert_allclose(lg.psd.values[:n], np.log10(raw), rtol=1e-6)
    assert lg.attrs["units"] == "log10((mV/m)^2/Hz)"


def test_fill_values_become_nan(files, tmp_path):
    p = _copy(files[0], tmp_path)
    with h5py.File(p, "r+") as f:
        fv = f["A133_P"].attrs["FillValue"]
        f["A133_P"][5, :] = fv
        f["A133_P"][7, 100] = fv
        f["GEO_LAT"][3, 0] = f["GEO_LAT"].attrs["FillValue"]
    sat = read_cses(p, log10=True)
    v = sat.psd.values
    assert np.isnan(v[5]).all() and np.isnan(v[7, 100])
    assert np.isfinite(v[6]).all() and np.isfinite(v[7, 99])
    assert np.isnan(sat.latitude.values[3])


def test_order_frequency_range_and_inputs(files):
    fwd = read_cses(files)
    rev = read_cses(list(reversed(files)))
    np.testing.assert_array_equal(fwd.time.values, rev.time.values)
    assert np.all(np.diff(fwd.time.values) > np.timedelta64(0))
    sub = read_cses(files, frequency_range=(1000, 12_500))
    assert float(sub.frequency[0]) == 1000 and float(sub.frequency[-1]) == 12_500
    np.testing.assert_array_equal(
        sub.psd.values[:50], fwd.psd.sel(frequency=slice(1000, 12_500)).values[:50]
    )
    assert sub.truth.shape == sub.psd.shape
    by_dir = read_cses(files[0].parent)
    by_glob = read_cses(str(files[0].parent / "CSES_*.h5"))
    assert by_dir.sizes == fwd.sizes == by_glob.sizes


def test_decode_utc_time():
    t = decode_utc_time(np.array([[20211231235959999], [20220101000000000]]))
    assert t.dtype == np.dtype("datetime64[ns]") and t.shape == (2, 1)
    assert t[0, 0] == np.datetime64("2021-12-31T23:59:59.999")
    assert t[1, 0] == np.datetime64("2022-01-01T00:00:00")
    with pytest.raises(ValueError, match="YYYYMMDD"):
        decode_utc_time(np.array([20211331000000000]))
    with pytest.raises(ValueError, match="end of its month"):
        decode_utc_time(np.array([20210231000000000]))


# --- errors, each naming the file ----------------------------------------------------


def test_not_hdf5(tmp_path):
    p = tmp_path / NAME.format("000010")
    p.write_text("not hdf5")
    with pytest.raises(ValueError, match=r"not a readable HDF5.*") as e:
        read_cses(p)
    assert p.name in str(e.value)


def test_wrong_name(files, tmp_path):
    p = tmp_path / "spectra.h5"
    shutil.copy(files[0], p)
    with pytest.raises(ValueError, match=r"spectra\.h5: not a CSES EFD level-2 file name"):
        read_cses(p)
    assert read_cses(p, check_name=False).sizes["frequency"] == 1024


def test_no_orbitnum(files, tmp_path):
    p = _copy(files[0], tmp_path)
    with h5py.File(p, "r+") as f:
        del f.attrs["ORBITNUM"]
    with pytest.raises(ValueError, match=f"{p.name}: not a CSES file.*ORBITNUM"):
        read_cses(p)


@pytest.mark.parametrize("missing", ["A133_P", "UTC_TIME", "MAG_LAT", "FREQ"])
def test_missing_dataset(files, tmp_path, missing):
    p = _copy(files[0], tmp_path)
    with h5py.File(p, "r+") as f:
        del f[missing]
    with pytest.raises(ValueError, match=f"{p.name}: missing required dataset.*{missing}"):
        read_cses(p)


def test_missing_other_component_is_fine(files, tmp_path):
    p = _copy(files[0], tmp_path)
    with h5py.File(p, "r+") as f:
        del f["A131_P"]
    assert read_cses(p, component="Z").sizes["frequency"] == 1024
    with pytest.raises(ValueError, match="A131_P"):
        read_cses(p, component="X")


def _replace(path, name, data):
    with h5py.File(path, "r+") as f:
        attrs = dict(f[name].attrs)
        del f[name]
        f[name] = data
        f[name].attrs.update(attrs)


def test_row_mismatch(files, tmp_path):
    p = _copy(files[0], tmp_path)
    with h5py.File(p) as f:
        spec = f["A133_P"][()]
    _replace(p, "A133_P", spec[:-3])
    with pytest.raises(ValueError, match=f"{p.name}: A133_P has {spec.shape[0] - 3} rows"):
        read_cses(p)


def test_track_row_mismatch(files, tmp_path):
    p = _copy(files[0], tmp_path)
    with h5py.File(p) as f:
        lat = f["GEO_LAT"][()]
    _replace(p, "GEO_LAT", lat[:-1])
    with pytest.raises(ValueError, match=f"{p.name}: dataset GEO_LAT has"):
        read_cses(p)


def test_wrong_width(files, tmp_path):
    p = _copy(files[0], tmp_path)
    with h5py.File(p) as f:
        spec = f["A133_P"][()]
    _replace(p, "A133_P", spec[:, :512])
    with pytest.raises(ValueError, match=rf"{p.name}: A133_P has shape .*expected \(N, 1024\)"):
        read_cses(p)


def test_bad_freq(files, tmp_path):
    p = _copy(files[0], tmp_path)
    _replace(p, "FREQ", np.arange(512, dtype=np.float32)[None, :])
    with pytest.raises(ValueError, match=f"{p.name}: FREQ has 512 values"):
        read_cses(p)


def test_bad_arguments(files, tmp_path):
    with pytest.raises(ValueError, match="component"):
        read_cses(files, component="W")
    with pytest.raises(ValueError, match="selects no bin"):
        read_cses(files, frequency_range=(30_000, 40_000))
    with pytest.raises(FileNotFoundError):
        read_cses(tmp_path / "nothing_*.h5")


# --- FREQ: bin edges or bin centres ------------------------------------------------------


def test_freq_edges_and_centres_map_to_one_convention(files, tmp_path):
    edges = read_cses(files[0])
    assert edges.attrs["freq_in_files"] == "edges"
    np.testing.assert_array_equal(edges.frequency.values, np.arange(1024) * 25.0)
    assert edges.frequency.attrs["bin_width"] == 25.0
    assert "lower bin edge" in edges.frequency.attrs["convention"]

    centred = _copy(files[0], tmp_path, "123450")
    _replace(centred, "FREQ", (12.5 + 25.0 * np.arange(1024, dtype=np.float32))[None, :])
    cen = read_cses(centred, frequency_range=(1000, 12_500))
    assert cen.attrs["freq_in_files"] == "centres"
    sub = edges.sel(frequency=slice(1000, 12_500))
    np.testing.assert_array_equal(cen.frequency.values, sub.frequency.values)
    np.testing.assert_array_equal(cen.psd.values, sub.psd.values)

    # all 1025 edges (0 ... 25 600 Hz) are the lower edges plus the last one
    (tmp_path / "full").mkdir()
    full = _copy(files[0], tmp_path / "full")
    _replace(full, "FREQ", (25.0 * np.arange(1025, dtype=np.float32))[None, :])
    f = read_cses(full)
    assert f.attrs["freq_in_files"] == "edges" and f.sizes["frequency"] == 1024
    np.testing.assert_array_equal(f.frequency.values, edges.frequency.values)

    # files of both kinds in one cube
    other = _copy(files[1], tmp_path, "123461")
    both = read_cses([centred, other])
    assert both.attrs["freq_in_files"] == "centres+edges"
    np.testing.assert_array_equal(both.frequency.values, edges.frequency.values)


def test_freq_with_another_offset_is_kept(files, tmp_path):
    p = _copy(files[0], tmp_path)
    _replace(p, "FREQ", (5.0 + 25.0 * np.arange(1024, dtype=np.float32))[None, :])
    sat = read_cses(p)
    assert sat.attrs["freq_in_files"] == "other"
    assert float(sat.frequency[0]) == 5.0


# --- broken files: refused (naming file and dataset) or masked ------------------------------


def _rewrite(path, name, change):
    """Apply ``change`` to a dataset's values in place (same dtype and shape)."""
    with h5py.File(path, "r+") as f:
        x = f[name][()]
        change(x)
        f[name][...] = x


@pytest.mark.parametrize(
    "change,how",
    [
        (lambda t: t.__setitem__(slice(None), t[::-1]), "goes back"),
        (lambda t: t.__setitem__(7, t[6]), "repeats"),
    ],
    ids=["reversed", "duplicated"],
)
def test_utc_time_not_increasing_is_refused(files, tmp_path, change, how):
    p = _copy(files[0], tmp_path)
    _rewrite(p, "UTC_TIME", change)
    with pytest.raises(ValueError, match=f"{p.name}: dataset UTC_TIME is not strictly.*{how}"):
        read_cses(p)


def test_the_same_half_orbit_twice_is_refused(files, tmp_path):
    with pytest.raises(ValueError, match=f"{files[0].name}: the same file is given twice"):
        read_cses([files[0], files[1], files[0]])
    twin = _copy(files[0], tmp_path, "999990")  # the same half-orbit under another name
    with pytest.raises(ValueError, match=r"UTC_TIME overlaps .*same half-orbit") as e:
        read_cses([files[0], twin])
    assert twin.name in str(e.value) and files[0].name in str(e.value)


def test_spectra_outside_valid_range_read_as_nan(files, tmp_path):
    p = _copy(files[0], tmp_path)
    with h5py.File(p, "r") as f:
        _, hi = f["A133_P"].attrs["ValidRange"]

    def spoil(x):
        x[2, 10] = -1.0
        x[3, 20] = np.inf
        x[4, 30] = -np.inf
        x[5, 40] = 2 * hi

    _rewrite(p, "A133_P", spoil)
    v = read_cses(p).psd.values
    assert np.isnan(v[[2, 3, 4, 5], [10, 20, 30, 40]]).all()
    assert np.isfinite(v[2, 11]) and np.isfinite(v[5, 39])
    assert np.isfinite(v).sum() == v.size - 4
    assert np.isnan(read_cses(p, log10=True).psd.values[[2, 3, 4, 5], [10, 20, 30, 40]]).all()


@pytest.mark.parametrize(
    "dtype,match",
    [(np.complex64, "complex"), ("S4", "not numbers")],
    ids=["complex", "strings"],
)
def test_spectra_not_real_numbers_are_refused(files, tmp_path, dtype, match):
    p = _copy(files[0], tmp_path)
    with h5py.File(p) as f:
        spec = f["A133_P"][()]
    _replace(p, "A133_P", spec.astype(dtype))
    with pytest.raises(ValueError, match=f"{p.name}: dataset A133_P holds .*{match}") as e:
        read_cses(p)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "name,value",
    [
        ("GEO_LAT", 650.0),
        ("GEO_LAT", -650.0),
        ("GEO_LON", 400.0),
        ("GEO_LON", -200.0),
        ("MAG_LAT", 91.0),
        ("GEO_LAT", np.inf),
    ],
)
def test_impossible_coordinates_are_refused(files, tmp_path, name, value):
    p = _copy(files[0], tmp_path)
    _rewrite(p, name, lambda x: x.__setitem__((9, 0), value))
    with pytest.raises(ValueError, match=f"{p.name}: dataset {name} holds .*row 9.*impossible"):
        read_cses(p)


def test_longitude_0_360_is_accepted(files, tmp_path):
    p = _copy(files[0], tmp_path)
    _rewrite(p, "GEO_LON", lambda x: np.mod(x, 360.0, out=x))
    assert float(read_cses(p).longitude.max()) <= 360.0


@pytest.mark.parametrize("value", ["abc", b"x1", 3.5, -2])
def test_orbitnum_not_an_orbit_number(files, tmp_path, value):
    p = _copy(files[0], tmp_path)
    with h5py.File(p, "r+") as f:
        f.attrs["ORBITNUM"] = value
    with pytest.raises(ValueError, match=f"{p.name}: global attribute ORBITNUM") as e:
        read_cses(p)
    assert "\n" not in str(e.value)


def test_orbitnum_as_digit_string_is_read(files, tmp_path):
    p = _copy(files[0], tmp_path)
    with h5py.File(p, "r+") as f:
        f.attrs["ORBITNUM"] = "20794"
    assert int(read_cses(p).orbit[0]) == 20794


def test_string_typed_track_is_refused(files, tmp_path):
    p = _copy(files[0], tmp_path)
    with h5py.File(p) as f:
        lat = f["GEO_LAT"][()]
    _replace(p, "GEO_LAT", lat.astype("S8"))
    with pytest.raises(ValueError, match=f"{p.name}: dataset GEO_LAT holds .*not numbers"):
        read_cses(p)

"""catalogue: exact netCDF round trips, CF compliance, atomic writes, validation."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xspecseg
from cf_checker import cf_findings
from xspecseg.catalogue import (
    PROVENANCE,
    VARIABLES,
    CatalogueError,
    cf_catalogue,
    empty_catalogue,
    merge_catalogues,
    open_catalogue,
    validate_catalogue,
    write_catalogue,
)
from xspecseg.events import EVENT_CUT_KEYS

PROVENANCE_ATTRS = {"model": "odm_unet", "threshold": 0.5, "input_cube": "cses_2021.zarr"}
HISTORY_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ xspecseg \S+: \S.*$")


def full_catalogue(n: int = 25, seed: int = 0, *, iar: bool = True, unit: str = "ns") -> xr.Dataset:
    """Every known variable, with NaN/NaT/"" holes and times on whole ``unit``."""
    rng = np.random.default_rng(seed)
    per = np.timedelta64(1, unit).astype("timedelta64[ns]").astype(np.int64)
    start = np.datetime64("2021-11-01", "ns") + (
        rng.integers(0, 365 * 86400 * 10**9 // per, n) * per
    ).astype("timedelta64[ns]")
    dur = (rng.integers(10**9 // per, 3600 * 10**9 // per, n) * per).astype("timedelta64[ns]")
    fmin = rng.uniform(0, 5000, n)
    fmax = fmin + rng.uniform(100, 3000, n)
    lat = rng.uniform(-70, 70, n)
    cat = xr.Dataset(
        {
            "start_time": ("event", start),
            "end_time": ("event", start + dur),
            "peak_time": ("event", start + (dur // 3 // per) * per),
            "f_min": ("event", fmin),
            "f_max": ("event", fmax),
            "f_peak": ("event", (fmin + fmax) / 2),
            "area_pixels": ("event", rng.integers(1, 5000, n)),
            "mean_probability": ("event", rng.uniform(0.5, 0.9, n)),
            "max_probability": ("event", rng.uniform(0.9, 1.0, n)),
            "peak_psd": ("event", 10 ** rng.uniform(-3, 1, n)),
            "impulsiveness": ("event", rng.uniform(0.0, 0.8, n)),
            "contrast": ("event", rng.uniform(0.0, 2.0, n)),
            "core_contrast": ("event", rng.uniform(0.0, 1.0, n)),
            "spread": ("event", rng.uniform(0.0, 1.0, n)),
            "isolation_frequency": ("event", rng.uniform(-1.0, 2.0, n)),
            "isolation_time": ("event", rng.uniform(-1.0, 2.0, n)),
            "fill": ("event", rng.uniform(0.1, 1.0, n)),
            "event_score": ("event", rng.normal(0.0, 2.0, n)),
            "component": ("event", rng.choice(["Ex", "Ey", "Ez"], n)),
            "latitude": ("event", lat),
            "longitude": ("event", rng.uniform(-180, 180, n)),
            "magnetic_latitude": ("event", rng.uniform(-80, 80, n)),
            "season": ("event", rng.choice(["DJF", "MAM", "JJA", "SON"], n)),
            "hemisphere": ("event", np.where(lat >= 0, "N", "S")),
            "orbit": ("event", rng.integers(20000, 30000, n)),
            "orbit_direction": ("event", rng.choice(["ascending", "descending"], n)),
        },
        attrs={"psd_units": "mV2 m-2 Hz-1"},
    )
    if n:
        cat["peak_time"][0] = np.datetime64("NaT", "ns")
        cat["magnetic_latitude"][-1] = np.nan
        cat["impulsiveness"][-1] = np.nan  # events under three rows
        cat["season"][-1] = ""
    if iar:
        ff = np.sort(rng.uniform(0.5, 6.0, (n, 5)), axis=1)
        ff[:, 3:][rng.random((n, 2)) < 0.5] = np.nan
        cat["fringe_frequency"] = (("event", "fringe"), ff)
        cat["delta_f"] = ("event", rng.uniform(0.4, 1.5, n))
        cat["n_fringes"] = ("event", np.isfinite(ff).sum(axis=1))
    return cat


def expected_on_disk(cat, path, attrs=None) -> xr.Dataset:
    """What open_catalogue must return: cf_catalogue's dataset, with the write's timestamps."""
    exp = cf_catalogue(cat, attrs)
    with xr.open_dataset(path) as f:
        exp.attrs["date_created"] = f.attrs["date_created"]
        exp.attrs["history"] = f.attrs["history"]
    return exp


def test_round_trip_full_is_identical(tmp_path):
    cat = full_catalogue()
    path = write_catalogue(cat, tmp_path / "events.nc", attrs=PROVENANCE_ATTRS)
    got = open_catalogue(path)
    xr.testing.assert_equal(got, cat)  # data, dtypes of times and strings
    xr.testing.assert_identical(got, expected_on_disk(cat, path, PROVENANCE_ATTRS))
    for name in ("start_time", "peak_time"):
        assert got[name].dtype == np.dtype("datetime64[ns]")
    assert np.isnat(got.peak_time.values[0])
    for name in ("component", "season", "hemisphere", "orbit_direction"):
        assert got[name].dtype.kind == "U"
    assert got.area_pixels.dtype == np.int64 and got.orbit.dtype == np.int64
    assert list(got.data_vars) == list(cat.data_vars)


def test_cf_attributes_and_provenance(tmp_path):
    cat = full_catalogue(5)
    cat.attrs.update(model="from-cat", history="2020-01-01 made by hand")
    path = write_catalogue(cat, tmp_path / "e.nc", attrs={"threshold": 0.7})
    got = open_catalogue(path)
    a = got.attrs
    assert a["Conventions"] == "CF-1.10"
    assert a["xspecseg_version"] == xspecseg.__version__
    assert a["model"] == "from-cat" and a["threshold"] == 0.7
    assert a["input_cube"] == "unknown"
    assert a["featureType"] == "point"
    assert a["title"] and a["source"]
    assert a["history"].startswith("2020-01-01 made by hand\n")
    last = a["history"].splitlines()[-1]
    assert HISTORY_LINE.match(last) and last.endswith(
        f"xspecseg {xspecseg.__version__}: write_catalogue"
    )
    created = dt.datetime.fromisoformat(a["date_created"].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 600
    assert got.peak_time.attrs["standard_name"] == "time"
    # nanosecond times (not whole microseconds) keep the exact int64 encoding
    assert got.peak_time.encoding["units"].startswith("nanoseconds since 1970-01-01")
    assert got.peak_time.encoding["dtype"] == np.dtype("int64")
    assert got.latitude.attrs == {
        "standard_name": "latitude",
        "units": "degrees_north",
        "long_name": "geodetic latitude",
    }
    assert got.longitude.attrs["units"] == "degrees_east"
    # not a geographic latitude: CF's degrees_north would make it one
    assert got.magnetic_latitude.attrs["units"] == "degrees"
    assert "AACGM-v2" in got.magnetic_latitude.attrs["long_name"]
    assert got.n_fringes.attrs["long_name"] and got.n_fringes.dtype == np.int64
    for f in ("f_min", "f_max", "f_peak", "delta_f", "fringe_frequency"):
        assert got[f].attrs["units"] == "Hz"
    assert got.peak_psd.attrs["units"] == "mV2 m-2 Hz-1"
    for name, (_, cf) in VARIABLES.items():
        assert cf.items() <= got[name].attrs.items() or name.endswith("_time")


def test_zero_events_round_trip(tmp_path):
    for iar in (False, True):
        cat = empty_catalogue(iar=iar)
        path = write_catalogue(cat, tmp_path / f"empty{iar}.nc")
        got = open_catalogue(path)
        assert got.sizes["event"] == 0
        xr.testing.assert_identical(got, expected_on_disk(cat, path))
        assert {k: got[k].dtype for k in got} == {k: cat[k].dtype for k in cat}


def test_minimal_and_extra_variables_kept(tmp_path):
    t = np.array(["2013-01-01T21:00:00.123456789", "2013-01-02T02:00"], dtype="datetime64[ns]")
    cat = xr.Dataset(
        {
            "peak_time": ("event", t),
            "component": ("event", np.array(["H", "D"], dtype=object)),
            "snr_db": ("event", [3.5, 7.0], {"long_name": "signal to noise", "units": "dB"}),
            "label": ("event", ["a", "bb"]),
        },
        coords={"event_id": ("event", [10, 11])},
        attrs={"station": "ESK"},
    )
    path = write_catalogue(cat, tmp_path / "m.nc")
    got = open_catalogue(path)
    assert "featureType" not in got.attrs  # no latitude/longitude: not a point DSG
    assert got.attrs["station"] == "ESK"
    assert got.snr_db.attrs == {"long_name": "signal to noise", "units": "dB"}
    assert got.label.values.tolist() == ["a", "bb"] and got.label.dtype.kind == "U"
    assert got.component.dtype.kind == "U"  # object strings come back as <U
    assert "event_id" in got.coords
    assert got.peak_time.values[0] == t[0]  # nanoseconds survive
    xr.testing.assert_equal(got, cat)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.integers(0, 30), st.integers(0, 2**32 - 1), st.booleans())
def test_round_trip_random(tmp_path, n, seed, iar):
    cat = full_catalogue(n, seed, iar=iar)
    path = write_catalogue(cat, tmp_path / "r.nc")
    xr.testing.assert_identical(open_catalogue(path), expected_on_disk(cat, path))


@pytest.mark.filterwarnings("ignore")
def test_compliance_checker_cf_1_10(tmp_path):
    pytest.importorskip("compliance_checker")
    cat = full_catalogue(40)
    cat["snr"] = ("event", np.ones(40), {"long_name": "signal to noise ratio", "units": "1"})
    cat = cat.assign_coords(event=np.arange(40))
    path = write_catalogue(cat, tmp_path / "iar.nc", attrs=PROVENANCE_ATTRS)
    assert cf_findings(path) == []
    # a CSES catalogue: no fringes, times on whole milliseconds (float seconds on disk)
    cses = full_catalogue(40, 1, iar=False, unit="ms")
    path = write_catalogue(cses, tmp_path / "cses.nc", attrs=PROVENANCE_ATTRS)
    with xr.open_dataset(path, decode_times=False) as raw:
        assert raw.peak_time.dtype == np.float64
    assert cf_findings(path) == []
    for iar in (True, False):
        empty = write_catalogue(empty_catalogue(iar=iar), tmp_path / f"empty_{iar}.nc")
        assert cf_findings(empty) == []


def test_failed_write_keeps_existing_file_and_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "events.nc"
    good = full_catalogue(5)
    write_catalogue(good, path)
    before = path.read_bytes()

    real = xr.Dataset.to_netcdf

    def crash(self, target, *args, **kwargs):
        real(self, target, *args, **kwargs)  # a complete temporary file exists...
        Path(target).write_bytes(b"partial")
        raise OSError("disk full")  # ...and then the write fails

    monkeypatch.setattr(xr.Dataset, "to_netcdf", crash)
    with pytest.raises(OSError, match="disk full"):
        write_catalogue(full_catalogue(9), path)
    with pytest.raises(OSError, match="disk full"):
        write_catalogue(good, tmp_path / "new.nc")
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.nc"]
    xr.testing.assert_equal(open_catalogue(path), good)


def test_unencodable_variable_fails_cleanly(tmp_path):
    cat = full_catalogue(3)
    cat["weird"] = ("event", np.array([1, "a", 2.0], dtype=object))
    with pytest.raises(Exception):  # noqa: B017 - whatever xarray raises for it
        write_catalogue(cat, tmp_path / "w.nc")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_and_respects_umask(tmp_path):
    path = tmp_path / "e.nc"
    write_catalogue(full_catalogue(3), path)
    open_catalogue(path)  # the reader must not hold the file open
    write_catalogue(full_catalogue(7, seed=1), path)
    assert open_catalogue(path).sizes["event"] == 7
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_catalogue(empty_catalogue(), tmp_path / "nope" / "e.nc")


def test_empty_catalogue_schema():
    cat = empty_catalogue()
    assert cat.sizes == {"event": 0}
    assert "fringe_frequency" not in cat
    assert cat.start_time.dtype == np.dtype("datetime64[ns]")
    assert cat.season.dtype.kind == "U" and cat.area_pixels.dtype == np.int64
    iar = empty_catalogue(iar=True)
    assert iar.fringe_frequency.dims == ("event", "fringe")
    assert list(empty_catalogue(variables=["peak_time", "f_peak"])) == ["peak_time", "f_peak"]
    with pytest.raises(KeyError):
        empty_catalogue(variables=["nonsense"])
    validate_catalogue(iar)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (xr.Dataset({"x": ("time", [1.0])}), "dimension 'event'"),
        (xr.Dataset({"start_time": ("event", [1.0])}), "start_time has dtype float64"),
        (xr.Dataset({"f_peak": ("event", ["1 Hz"])}), "f_peak has dtype"),
        (xr.Dataset({"area_pixels": ("event", [1.5])}), "area_pixels"),
        (xr.Dataset({"season": ("event", ["winter"])}), "season has values"),
        (xr.Dataset({"hemisphere": ("event", ["E"])}), "hemisphere has values"),
        (xr.Dataset({"component": ("event", np.array([1, 2], dtype=object))}), "non-strings"),
        (xr.Dataset({"fringe_frequency": ("event", [1.0])}), "fringe_frequency has dims"),
        (xr.Dataset({"f_peak": (("event", "x"), [[1.0]])}), "f_peak has dims"),
    ],
)
def test_validate_rejects(bad, match):
    with pytest.raises(CatalogueError, match=match):
        validate_catalogue(bad)
    with pytest.raises(CatalogueError):
        cf_catalogue(bad)


def test_validate_rejects_non_dataset():
    with pytest.raises(CatalogueError, match=r"xarray\.Dataset"):
        validate_catalogue(xr.DataArray([1.0], dims="event"))


def test_open_rejects_file_without_events(tmp_path):
    path = tmp_path / "cube.nc"
    xr.Dataset({"psd": ("time", [1.0])}).to_netcdf(path)
    with pytest.raises(CatalogueError, match="event"):
        open_catalogue(path)


@pytest.mark.parametrize("content", [b"", b"garbage, not netCDF\n", b"\x89HDF\r\n\x1a\n"])
def test_open_rejects_empty_or_garbage_file_naming_it(tmp_path, content):
    path = tmp_path / "events.nc"
    path.write_bytes(content)
    with pytest.raises(CatalogueError, match=r"events\.nc is not a readable netCDF catalogue") as e:
        open_catalogue(path)
    assert "\n" not in str(e.value)
    with pytest.raises(FileNotFoundError, match="no catalogue at"):
        open_catalogue(tmp_path / "missing.nc")


@pytest.mark.parametrize(
    "error", [OSError(28, "No space left on device"), RuntimeError("NetCDF: HDF error")]
)
def test_failed_write_names_the_output_path(tmp_path, monkeypatch, error):
    def full_disk(self, target, *args, **kwargs):
        Path(target).write_bytes(b"partial")
        raise error

    monkeypatch.setattr(xr.Dataset, "to_netcdf", full_disk)
    path = tmp_path / "events.nc"
    with pytest.raises(OSError, match=f"cannot write the catalogue {path}: .*{error.args[-1]}"):
        write_catalogue(empty_catalogue(), path)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------
# time encoding
# ----------------------------------------------------------------------------------------
# numpy.ma casting the NaN fill value while netCDF4 masks the NaT: harmless
@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_whole_microsecond_times_are_float_seconds_and_round_trip(tmp_path, unit):
    import netCDF4

    cat = full_catalogue(30, 2, unit=unit)
    path = write_catalogue(cat, tmp_path / "e.nc")
    with netCDF4.Dataset(path) as nc:
        var = nc.variables["peak_time"]
        assert var.dtype == np.float64
        assert var.units.startswith("seconds since 1970-01-01")
        # what a CF tool reads (cftime), against pandas to the microsecond
        var.set_auto_mask(True)
        decoded = netCDF4.num2date(var[:], var.units, only_use_cftime_datetimes=False)
    got = open_catalogue(path)
    xr.testing.assert_identical(got, expected_on_disk(cat, path))
    want = pd.DatetimeIndex(cat.peak_time.values)
    for t, w in zip(np.ma.getdata(decoded)[1:], want[1:], strict=True):
        assert abs((pd.Timestamp(str(t)) - w).total_seconds()) < 1e-6
    assert np.ma.is_masked(decoded[0])  # NaT -> NaN -> masked


def test_older_nanosecond_catalogues_still_open(tmp_path):
    """A file written with the int64-nanosecond encoding of earlier versions reads exactly."""
    cat = full_catalogue(12, 5, iar=False)
    ds = cf_catalogue(cat)
    for name in ("start_time", "end_time", "peak_time"):
        ds[name].encoding = {
            "units": "nanoseconds since 1970-01-01T00:00:00Z",
            "calendar": "proleptic_gregorian",
            "dtype": np.dtype("int64"),
            "_FillValue": np.iinfo(np.int64).min,
        }
    ds["magnetic_latitude"].attrs["units"] = "degrees_north"  # what older files said
    path = tmp_path / "old.nc"
    ds.to_netcdf(path)
    got = open_catalogue(path)
    xr.testing.assert_equal(got, cat)
    assert got.peak_time.dtype == np.dtype("datetime64[ns]")


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(0, 20), st.integers(0, 2**32 - 1), st.sampled_from(["ns", "us", "ms"]))
def test_round_trip_random_resolution(tmp_path, n, seed, unit):
    cat = full_catalogue(n, seed, iar=False, unit=unit)
    path = write_catalogue(cat, tmp_path / "r.nc")
    xr.testing.assert_identical(open_catalogue(path), expected_on_disk(cat, path))


# ----------------------------------------------------------------------------------------
# provenance
# ----------------------------------------------------------------------------------------
MODEL_ATTRS = {
    "model": "cses-default",
    "model_architecture": "odm_unet",
    "model_sha256": "0123456789abcdef",
    "representation": '{"method": "log10_standardise"}',
    "threshold": 0.45,
    "min_pixels": 20,
    "connectivity": 2,
    "merge_frequency": 0.0,
    "fringes": 0,
    "max_duration": 180.0,
    "min_bandwidth": 1500.0,
    "station": "CSES",
    "inference_xspecseg_version": "0.1.0",
}


def test_schema_names_every_event_cut_and_the_new_variables():
    assert set(EVENT_CUT_KEYS) <= set(PROVENANCE)
    assert {"model", "model_architecture", "model_sha256", "representation"} <= set(PROVENANCE)
    assert list(empty_catalogue(iar=True))[-3:] == ["delta_f", "n_fringes", "fringe_frequency"]
    assert "n_fringes" not in empty_catalogue()


def test_provenance_and_cuts_survive_write_and_open(tmp_path):
    cat = full_catalogue(6, iar=False, unit="ms").assign_attrs(MODEL_ATTRS)
    got = open_catalogue(write_catalogue(cat, tmp_path / "e.nc"))
    for key, value in MODEL_ATTRS.items():
        assert got.attrs[key] == value, key
    # a cut not applied has no attribute
    assert "max_impulsiveness" not in got.attrs and "min_mean_probability" not in got.attrs
    assert got.attrs["xspecseg_version"] == xspecseg.__version__


def test_event_coordinate_has_a_long_name(tmp_path):
    cat = full_catalogue(4).assign_coords(event=np.arange(4))
    got = open_catalogue(write_catalogue(cat, tmp_path / "e.nc"))
    assert got.event.attrs["long_name"]


# ----------------------------------------------------------------------------------------
# merge_catalogues
# ----------------------------------------------------------------------------------------
def test_merge_concatenates_and_keeps_provenance(tmp_path):
    a = full_catalogue(7, 1).assign_attrs(MODEL_ATTRS, station="ESK", history="h1")
    b = full_catalogue(5, 2).assign_attrs(MODEL_ATTRS, station="LER", history="h2")
    b = b.isel(fringe=slice(0, 3))  # fewer fringe columns: padded with NaN
    merged = merge_catalogues([a, b])
    # independent reference: the rows of both, via pandas
    want = pd.concat(
        [
            a.drop_vars("fringe_frequency").to_dataframe(),
            b.drop_vars("fringe_frequency").to_dataframe(),
        ],
        ignore_index=True,
    )
    got = merged.drop_vars("fringe_frequency").to_dataframe().reset_index(drop=True)
    pd.testing.assert_frame_equal(got[want.columns], want)
    ff = merged.fringe_frequency.values
    np.testing.assert_array_equal(ff[:7], a.fringe_frequency.values)
    np.testing.assert_array_equal(ff[7:, :3], b.fringe_frequency.values)
    assert np.isnan(ff[7:, 3:]).all()
    for key in PROVENANCE:
        if key in MODEL_ATTRS:
            assert merged.attrs[key] == MODEL_ATTRS[key]
    assert merged.attrs["station"] == "ESK; LER"
    lines = merged.attrs["history"].splitlines()
    assert lines[:2] == ["h1", "h2"] and HISTORY_LINE.match(lines[-1])
    assert "merge_catalogues" in lines[-1]
    back = open_catalogue(write_catalogue(merged, tmp_path / "m.nc"))
    assert back.attrs["model_sha256"] == MODEL_ATTRS["model_sha256"]
    assert back.sizes["event"] == 12


@pytest.mark.parametrize(
    ("key", "value"),
    [("model_sha256", "fedcba9876543210"), ("threshold", 0.6), ("max_duration", 120.0)],
)
def test_merge_refuses_or_flags_other_models_and_settings(tmp_path, key, value):
    a = full_catalogue(3, 1, iar=False).assign_attrs(MODEL_ATTRS)
    b = full_catalogue(4, 2, iar=False).assign_attrs({**MODEL_ATTRS, key: value})
    with pytest.raises(CatalogueError, match=f"{key}: {MODEL_ATTRS[key]} vs {value}"):
        merge_catalogues([a, b])
    flagged = merge_catalogues([a, b], mixed="flag")
    assert flagged.attrs["mixed_provenance"] == key
    assert flagged.attrs[key] == f"{MODEL_ATTRS[key]}; {value}"
    got = open_catalogue(write_catalogue(flagged, tmp_path / "f.nc"))
    assert got.attrs[key] == f"{MODEL_ATTRS[key]}; {value}"
    assert got.sizes["event"] == 7


def test_merge_refuses_a_cut_applied_to_one_catalogue_only():
    a = full_catalogue(3, 1, iar=False).assign_attrs(MODEL_ATTRS)
    b_attrs = {k: v for k, v in MODEL_ATTRS.items() if k != "max_duration"}
    b = full_catalogue(3, 2, iar=False).assign_attrs(b_attrs)
    with pytest.raises(CatalogueError, match=r"max_duration: 180\.0 vs none"):
        merge_catalogues([a, b])


def test_merge_fills_missing_known_variables_and_renumbers_events():
    a = full_catalogue(3, 1, iar=False).assign_coords(event=np.arange(3))
    b = full_catalogue(2, 2, iar=False).drop_vars(["magnetic_latitude", "season"])
    b = b.assign_coords(event=np.arange(2))
    merged = merge_catalogues([a, b])
    assert merged.event.values.tolist() == [0, 1, 2, 3, 4]
    assert np.isnan(merged.magnetic_latitude.values[3:]).all()
    assert merged.season.values[3:].tolist() == ["", ""]
    with pytest.raises(CatalogueError, match="'orbit' is in some of the catalogues only"):
        merge_catalogues([a, b.drop_vars("orbit")])
    xr.testing.assert_identical(
        merge_catalogues([empty_catalogue()]).drop_attrs(), empty_catalogue()
    )


def test_a_merge_of_mixed_catalogues_stays_mixed():
    a = full_catalogue(2, 1, iar=False).assign_attrs(MODEL_ATTRS)
    b = full_catalogue(2, 2, iar=False).assign_attrs({**MODEL_ATTRS, "model": "other"})
    ab = merge_catalogues([a, b], mixed="flag")
    twice = merge_catalogues([ab, ab])  # the same mix twice: nothing new to refuse
    assert twice.attrs["mixed_provenance"] == "model" and twice.sizes["event"] == 8
    with pytest.raises(CatalogueError, match="model"):
        merge_catalogues([ab, a])
    again = merge_catalogues([ab, a], mixed="flag")
    assert again.attrs["mixed_provenance"] == "model"
    assert again.attrs["model"] == "cses-default; other"

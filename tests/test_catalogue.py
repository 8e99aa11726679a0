"""catalogue: exact netCDF round trips, CF compliance, atomic writes, validation."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xspecseg
from xspecseg.catalogue import (
    VARIABLES,
    CatalogueError,
    cf_catalogue,
    empty_catalogue,
    open_catalogue,
    validate_catalogue,
    write_catalogue,
)

PROVENANCE = {"model": "odm_unet", "threshold": 0.5, "input_cube": "cses_2021.zarr"}


def full_catalogue(n: int = 25, seed: int = 0, *, iar: bool = True) -> xr.Dataset:
    """Every known variable, with NaN/NaT/"" holes and nanosecond times."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2021-11-01", "ns") + rng.integers(0, 365 * 86400 * 10**9, n).astype(
        "timedelta64[ns]"
    )
    dur = rng.integers(10**9, 3600 * 10**9, n).astype("timedelta64[ns]")
    fmin = rng.uniform(0, 5000, n)
    fmax = fmin + rng.uniform(100, 3000, n)
    lat = rng.uniform(-70, 70, n)
    cat = xr.Dataset(
        {
            "start_time": ("event", start),
            "end_time": ("event", start + dur),
            "peak_time": ("event", start + dur // 3),
            "f_min": ("event", fmin),
            "f_max": ("event", fmax),
            "f_peak": ("event", (fmin + fmax) / 2),
            "area_pixels": ("event", rng.integers(1, 5000, n)),
            "mean_probability": ("event", rng.uniform(0.5, 0.9, n)),
            "max_probability": ("event", rng.uniform(0.9, 1.0, n)),
            "peak_psd": ("event", 10 ** rng.uniform(-3, 1, n)),
            "impulsiveness": ("event", rng.uniform(0.0, 0.8, n)),
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
    path = write_catalogue(cat, tmp_path / "events.nc", attrs=PROVENANCE)
    got = open_catalogue(path)
    xr.testing.assert_equal(got, cat)  # data, dtypes of times and strings
    xr.testing.assert_identical(got, expected_on_disk(cat, path, PROVENANCE))
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
    assert "write_catalogue" in a["history"].splitlines()[-1]
    created = dt.datetime.fromisoformat(a["date_created"].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 600
    assert got.peak_time.attrs["standard_name"] == "time"
    assert got.peak_time.encoding["units"].startswith("nanoseconds since 1970-01-01")
    assert got.latitude.attrs == {
        "standard_name": "latitude",
        "units": "degrees_north",
        "long_name": "geodetic latitude",
    }
    assert got.longitude.attrs["units"] == "degrees_east"
    assert got.magnetic_latitude.attrs["units"] == "degrees_north"
    assert "AACGM-v2" in got.magnetic_latitude.attrs["long_name"]
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


def _high_priority_failures(path: Path, tmp_path: Path) -> list:
    from compliance_checker.runner import CheckSuite, ComplianceChecker

    CheckSuite.load_all_available_checkers()
    report = tmp_path / f"{path.stem}.json"
    ComplianceChecker.run_checker(
        str(path), ["cf:1.10"], 0, "normal", output_filename=str(report), output_format="json"
    )
    result = json.loads(report.read_text())["cf:1.10"]
    return [
        (r["name"], r["msgs"]) for r in result["high_priorities"] if r["value"][0] < r["value"][1]
    ]


@pytest.mark.filterwarnings("ignore")
def test_compliance_checker_cf_1_10(tmp_path):
    pytest.importorskip("compliance_checker")
    cat = full_catalogue(40)
    cat["snr"] = ("event", np.ones(40), {"long_name": "signal to noise ratio", "units": "1"})
    path = write_catalogue(cat, tmp_path / "events.nc", attrs=PROVENANCE)
    assert _high_priority_failures(path, tmp_path) == []
    empty = write_catalogue(empty_catalogue(iar=True), tmp_path / "empty.nc")
    assert _high_priority_failures(empty, tmp_path) == []


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

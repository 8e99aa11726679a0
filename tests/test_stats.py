"""stats: every distribution equals an independent pandas count on random catalogues."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from xspecseg.catalogue import empty_catalogue
from xspecseg.stats import (
    frequency_distribution,
    local_time_occurrence,
    maglat_distribution,
    monthly_occurrence,
    seasonal_distribution,
)

SEASONS = ["DJF", "MAM", "JJA", "SON"]
MLAT_BINS = np.array([-90, -80, -70, -58, -40, 0, 40, 58, 70, 80, 90], dtype=float)
F_BINS = np.arange(0.0, 12_500.1, 500.0)


def random_catalogue(n: int, seed: int, *, with_season: bool = True) -> xr.Dataset:
    """A catalogue with the awkward cases: NaN/NaT keys, "" labels, values outside bins."""
    rng = np.random.default_rng(seed)
    t = np.datetime64("2021-11-01", "ns") + rng.integers(0, 400 * 86400, n).astype(
        "timedelta64[s]"
    ).astype("timedelta64[ns]")
    t[rng.random(n) < 0.05] = np.datetime64("NaT", "ns")
    lat = rng.uniform(-80, 80, n)
    mlat = rng.uniform(-95, 95, n)  # some beyond the bins
    mlat[rng.random(n) < 0.1] = np.nan
    mlat[rng.random(n) < 0.1] = 58.0  # on an edge
    f = rng.uniform(-100, 13_000, n)
    f[rng.random(n) < 0.05] = np.nan
    ds = xr.Dataset(
        {
            "peak_time": ("event", t),
            "latitude": ("event", lat),
            "longitude": ("event", rng.uniform(-180, 180, n)),
            "magnetic_latitude": ("event", mlat),
            "f_peak": ("event", f),
            "hemisphere": ("event", rng.choice(["N", "S", ""], n, p=[0.55, 0.4, 0.05])),
        }
    )
    if with_season:
        ds["season"] = ("event", rng.choice([*SEASONS, ""], n, p=[0.2, 0.3, 0.25, 0.2, 0.05]))
    return ds


def season_from_time(t: pd.Series) -> pd.Series:
    m = pd.DatetimeIndex(t).month
    table = {12: "DJF", 1: "DJF", 2: "DJF", 3: "MAM", 4: "MAM", 5: "MAM"}
    table |= {6: "JJA", 7: "JJA", 8: "JJA", 9: "SON", 10: "SON", 11: "SON"}
    return pd.Series(m).map(table)


def binned_counts(values, bins, right=True) -> pd.Series:
    return pd.cut(pd.Series(values, dtype=float), bins, right=right).value_counts(sort=False)


cats = st.tuples(st.integers(0, 80), st.integers(0, 2**32 - 1))


@settings(max_examples=25, deadline=None)
@given(cats, st.booleans())
def test_seasonal_matches_crosstab(size_seed, with_season):
    n, seed = size_seed
    cat = random_catalogue(n, seed, with_season=with_season)
    out = seasonal_distribution(cat)
    season = pd.Series(cat.season.values) if with_season else season_from_time(cat.peak_time.values)
    hemi = pd.Series(cat.hemisphere.values)
    want = (
        pd.crosstab(season, hemi, dropna=True)
        .reindex(index=SEASONS, columns=["N", "S"], fill_value=0)
        .fillna(0)
        .astype(int)
    )
    assert out["count"].dims == ("season", "hemisphere")
    assert out.season.values.tolist() == SEASONS
    assert out.hemisphere.values.tolist() == ["N", "S"]
    assert out["count"].dtype == np.int64
    np.testing.assert_array_equal(out["count"].values, want.to_numpy())
    total = want.to_numpy().sum()
    np.testing.assert_allclose(
        out["fraction"].values, want.to_numpy() / total if total else np.zeros((4, 2))
    )


@settings(max_examples=25, deadline=None)
@given(cats)
def test_maglat_matches_pd_cut(size_seed):
    cat = random_catalogue(*size_seed)
    out = maglat_distribution(cat, MLAT_BINS)
    want = binned_counts(cat.magnetic_latitude.values, MLAT_BINS)
    assert out["count"].dims == ("magnetic_latitude_bins",)
    assert list(out.magnetic_latitude_bins.values) == list(want.index)
    np.testing.assert_array_equal(out["count"].values, want.to_numpy())

    by = maglat_distribution(cat, MLAT_BINS, by_season=True)
    cut = pd.cut(pd.Series(cat.magnetic_latitude.values), MLAT_BINS)
    want2 = (
        pd.crosstab(pd.Series(cat.season.values), cut, dropna=False)
        .reindex(index=SEASONS, columns=want.index, fill_value=0)
        .fillna(0)
    )
    assert by["count"].dims == ("season", "magnetic_latitude_bins")
    np.testing.assert_array_equal(by["count"].values, want2.to_numpy().astype(int))
    np.testing.assert_array_equal(
        by["count"].sum("season").values,
        out["count"].values
        - (
            # events with no season are counted in the plain distribution only
            binned_counts(
                cat.magnetic_latitude.values[cat.season.values == ""], MLAT_BINS
            ).to_numpy()
        ),
    )


def test_maglat_labels_as_groupby_bins():
    cat = random_catalogue(200, 1)
    out = maglat_distribution(cat, MLAT_BINS)
    gb = cat.magnetic_latitude.groupby_bins(cat.magnetic_latitude, MLAT_BINS).count()
    assert out.magnetic_latitude_bins.values.tolist() == gb.magnetic_latitude_bins.values.tolist()
    np.testing.assert_array_equal(out["count"].values, gb.fillna(0).values)
    # int bins: equal bins over [-90, 90]
    six = maglat_distribution(cat, 6)
    assert six.sizes["magnetic_latitude_bins"] == 6
    assert six.magnetic_latitude_bins.values[0] == pd.Interval(-90.0, -60.0)


@settings(max_examples=25, deadline=None)
@given(cats)
def test_frequency_matches_pd_cut(size_seed):
    cat = random_catalogue(*size_seed)
    out = frequency_distribution(cat, F_BINS)
    want = binned_counts(cat.f_peak.values, F_BINS)
    assert out["count"].dims == ("f_peak_bins",)
    assert list(out.f_peak_bins.values) == list(want.index)
    np.testing.assert_array_equal(out["count"].values, want.to_numpy())
    lowest = frequency_distribution(cat, F_BINS, include_lowest=True)
    want = pd.cut(pd.Series(cat.f_peak.values), F_BINS, include_lowest=True).value_counts(
        sort=False
    )
    np.testing.assert_array_equal(lowest["count"].values, want.to_numpy())


@settings(max_examples=25, deadline=None)
@given(cats)
def test_monthly_matches_value_counts(size_seed):
    cat = random_catalogue(*size_seed)
    out = monthly_occurrence(cat)
    months = pd.DatetimeIndex(cat.peak_time.values).month.dropna()
    want = pd.Series(months).value_counts().reindex(range(1, 13), fill_value=0)
    assert out.month.values.tolist() == list(range(1, 13))
    np.testing.assert_array_equal(out["count"].values, want.to_numpy())
    exposure = np.arange(12.0)  # January unobserved
    rated = monthly_occurrence(cat, exposure)
    assert np.isnan(rated["rate"].values[0])
    np.testing.assert_allclose(rated["rate"].values[1:], want.to_numpy()[1:] / exposure[1:])


def test_monthly_exposure_forms():
    cat = random_catalogue(50, 2)
    arr = monthly_occurrence(cat, np.full(12, 30.0))
    ser = monthly_occurrence(cat, pd.Series(30.0, index=range(1, 13)))
    dct = monthly_occurrence(cat, dict.fromkeys(range(1, 13), 30.0))
    dar = monthly_occurrence(
        cat, xr.DataArray(np.full(12, 30.0), dims="month").assign_coords(month=np.arange(1, 13))
    )
    for o in (ser, dct, dar):
        xr.testing.assert_allclose(o["rate"], arr["rate"])
    with pytest.raises(ValueError, match="12 values"):
        monthly_occurrence(cat, [1.0, 2.0])


@settings(max_examples=25, deadline=None)
@given(cats, st.sampled_from([24, 8, [0.0, 6.0, 18.0, 24.0]]))
def test_local_time_matches_pandas(size_seed, bins):
    cat = random_catalogue(*size_seed)
    out = local_time_occurrence(cat, bins)
    t = pd.DatetimeIndex(cat.peak_time.values)
    ut = (t - t.normalize()).total_seconds().to_numpy() / 3600.0
    lt = np.mod(ut + cat.longitude.values / 15.0, 24.0)
    edges = np.linspace(0, 24, bins + 1) if isinstance(bins, int) else bins
    want = binned_counts(lt, edges, right=False)
    assert out["count"].dims == ("local_time_bins",)
    assert list(out.local_time_bins.values) == list(want.index)
    np.testing.assert_array_equal(out["count"].values, want.to_numpy())


def test_local_time_fixed_station():
    cat = random_catalogue(100, 3).drop_vars("longitude")
    with pytest.raises(KeyError, match="longitude"):
        local_time_occurrence(cat)
    out = local_time_occurrence(cat, longitude=-3.2)
    t = pd.DatetimeIndex(cat.peak_time.values)
    lt = np.mod((t - t.normalize()).total_seconds().to_numpy() / 3600.0 - 3.2 / 15, 24)
    np.testing.assert_array_equal(
        out["count"].values, binned_counts(lt, np.arange(25.0), right=False).to_numpy()
    )
    cat.attrs["longitude"] = -3.2
    xr.testing.assert_identical(local_time_occurrence(cat), out)


@pytest.mark.parametrize("iar", [False, True])
def test_zero_events_give_zeros(iar):
    cat = empty_catalogue(iar=iar)
    results = [
        seasonal_distribution(cat),
        maglat_distribution(cat, MLAT_BINS),
        maglat_distribution(cat, MLAT_BINS, by_season=True),
        frequency_distribution(cat, F_BINS),
        monthly_occurrence(cat, np.ones(12)),
        local_time_occurrence(cat),
    ]
    for r in results:
        assert int(r["count"].sum()) == 0
        assert r["count"].dtype == np.int64
    assert results[0]["count"].shape == (4, 2)
    assert (results[0]["fraction"] == 0).all()
    assert results[1]["count"].shape == (len(MLAT_BINS) - 1,)
    assert results[2]["count"].shape == (4, len(MLAT_BINS) - 1)
    assert results[4]["count"].shape == (12,)
    assert results[5]["count"].shape == (24,)
    # same labels as with events
    full = maglat_distribution(random_catalogue(30, 0), MLAT_BINS)
    assert (
        results[1].magnetic_latitude_bins.values.tolist()
        == full.magnetic_latitude_bins.values.tolist()
    )


def test_all_events_outside_bins_give_zeros():
    cat = random_catalogue(10, 4)
    cat["magnetic_latitude"][:] = 100.0
    assert int(maglat_distribution(cat, MLAT_BINS)["count"].sum()) == 0


def test_paper_counts_reproduced():
    """The ODM_Unet paper's per-season north/south split (SCIENCE.md, seed 003)."""
    paper = {"MAM": (80, 62), "JJA": (71, 53), "SON": (79, 50), "DJF": (36, 22)}
    season, hemi = [], []
    for s, (north, south) in paper.items():
        season += [s] * (north + south)
        hemi += ["N"] * north + ["S"] * south
    cat = xr.Dataset({"season": ("event", season), "hemisphere": ("event", hemi)})
    out = seasonal_distribution(cat)
    assert int(out["count"].sum()) == 453
    assert out["count"].sel(season="MAM").values.tolist() == [80, 62]
    assert round(float(out["fraction"].sel(hemisphere="N").sum()), 2) == 0.59


def test_errors():
    with pytest.raises(ValueError, match="event"):
        seasonal_distribution(xr.Dataset({"x": ("time", [1])}))
    cat = random_catalogue(5, 0).drop_vars("magnetic_latitude")
    with pytest.raises(KeyError, match="add_geomag_variables"):
        maglat_distribution(cat, MLAT_BINS)
    with pytest.raises(TypeError, match="edges"):
        frequency_distribution(cat, 10)
    with pytest.raises(ValueError, match="increasing"):
        frequency_distribution(cat, [0, 2, 1])


def test_dask_backed_catalogue():
    cat = random_catalogue(60, 5).chunk(event=20)
    out = seasonal_distribution(cat)
    np.testing.assert_array_equal(
        out["count"].values, seasonal_distribution(cat.compute())["count"].values
    )
    np.testing.assert_array_equal(
        maglat_distribution(cat, MLAT_BINS)["count"].values,
        maglat_distribution(cat.compute(), MLAT_BINS)["count"].values,
    )


# ----------------------------------------------------------------------------------------
# distributions: the stats.nc Dataset
# ----------------------------------------------------------------------------------------
def _cses_catalogue(n: int, seed: int) -> xr.Dataset:
    cat = random_catalogue(n, seed)
    rng = np.random.default_rng(seed)
    cat["f_peak"] = ("event", rng.uniform(0, 26_000, n))
    cat["orbit"] = ("event", rng.integers(20_000, 30_000, n))
    cat.attrs.update(
        model="cses-default",
        model_sha256="0123456789abcdef",
        threshold=0.45,
        max_duration=180.0,
        history="2024-01-01T00:00:00Z xspecseg 0.1.0: write_catalogue",
        featureType="point",
    )
    return cat


def _iar_catalogue(n: int, seed: int) -> xr.Dataset:
    cat = random_catalogue(n, seed).drop_vars("longitude")
    rng = np.random.default_rng(seed)
    cat["f_peak"] = ("event", rng.uniform(0, 10, n))
    cat["delta_f"] = ("event", rng.uniform(0.4, 1.5, n))
    cat.attrs.update(station="ESK", component="H", longitude=-3.2, model="iar-default")
    return cat


@settings(max_examples=15, deadline=None)
@given(cats, st.booleans())
def test_distributions_match_pandas_on_fixed_bins(size_seed, cses):
    from xspecseg.stats import FREQUENCY_EDGES, MAGLAT_EDGES, distributions

    cat = _cses_catalogue(*size_seed) if cses else _iar_catalogue(*size_seed)
    ds = distributions(cat, source="events.nc")
    kind = "cses" if cses else "iar"
    assert ds.attrs["frequency_bins"] == kind
    for dim, edges, values, name in [
        ("f_peak_bins", FREQUENCY_EDGES[kind], cat.f_peak.values, "frequency_count"),
        ("magnetic_latitude_bins", MAGLAT_EDGES, cat.magnetic_latitude.values, "maglat_count"),
    ]:
        want = pd.cut(pd.Series(values, dtype=float), edges, include_lowest=True)
        np.testing.assert_array_equal(ds[name].values, want.value_counts(sort=False).to_numpy())
        # numeric centres, CF bounds that are the edges themselves
        assert ds[dim].dtype == np.float64
        np.testing.assert_allclose(ds[dim].values, (edges[:-1] + edges[1:]) / 2)
        bounds = ds[ds[dim].attrs["bounds"]]
        assert bounds.dims == (dim, "nv")
        np.testing.assert_array_equal(bounds.values[:, 0], edges[:-1])
        np.testing.assert_array_equal(bounds.values[:, 1], edges[1:])
    np.testing.assert_array_equal(
        ds["seasonal_count"].values, seasonal_distribution(cat)["count"].values
    )
    np.testing.assert_array_equal(ds["monthly_count"].values, monthly_occurrence(cat)["count"])
    np.testing.assert_array_equal(
        ds["local_time_count"].values, local_time_occurrence(cat)["count"].values
    )


def test_distributions_bins_do_not_depend_on_the_data():
    from xspecseg.stats import distributions

    low = _cses_catalogue(50, 1)
    high = low.copy()
    high["f_peak"] = low.f_peak * 0.1  # a different largest peak
    a, b = distributions(low), distributions(high)
    xr.testing.assert_identical(a.f_peak_bins, b.f_peak_bins)
    xr.testing.assert_identical(a.f_peak_bins_bounds, b.f_peak_bins_bounds)
    assert distributions(empty_catalogue()).f_peak_bins.size == a.f_peak_bins.size
    assert distributions(empty_catalogue(iar=True)).f_peak_bins.values.max() < 10


def test_distributions_attrs_provenance_and_history():
    from xspecseg import __version__
    from xspecseg.stats import distributions

    cat = _cses_catalogue(40, 3)
    ds = distributions(cat, source="events.nc")
    a = ds.attrs
    assert a["Conventions"] == "CF-1.10" and a["title"]
    for key in ("model", "model_sha256", "threshold", "max_duration"):
        assert a[key] == cat.attrs[key]
    assert "featureType" not in a  # a property of the catalogue, not of its counts
    lines = a["history"].splitlines()
    assert lines[0] == cat.attrs["history"]
    assert lines[1].endswith(f" xspecseg {__version__}: distributions of events.nc")
    assert a["source_catalogue"] == "events.nc"
    assert a["n_events"] == 40
    t = pd.DatetimeIndex(cat.peak_time.values).dropna()
    assert a["time_coverage_start"] == t.min().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert a["time_coverage_end"] == t.max().strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in ds.variables:
        if name.endswith("_bounds") or name == "hemisphere" or name == "season":
            continue
        assert ds[name].attrs.get("long_name"), name
    assert ds.magnetic_latitude_bins.attrs["units"] == "degrees"


def test_each_distribution_says_what_it_counted():
    cat = _iar_catalogue(30, 4)
    for out in (
        seasonal_distribution(cat),
        maglat_distribution(cat, MLAT_BINS),
        frequency_distribution(cat, [0, 5, 10]),
        monthly_occurrence(cat),
        local_time_occurrence(cat),
    ):
        assert out.attrs["station"] == "ESK" and out.attrs["component"] == "H"
        assert out.attrs["n_events"] == 30
        assert out.attrs["time_coverage_start"] <= out.attrs["time_coverage_end"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_stats_file_round_trip_and_cf_compliance(tmp_path):
    pytest.importorskip("compliance_checker")
    from cf_checker import cf_findings
    from xspecseg.stats import distributions, open_distributions, write_distributions

    for name, cat in [
        ("cses", _cses_catalogue(60, 5)),
        ("iar", _iar_catalogue(60, 6)),
        ("empty", empty_catalogue()),
    ]:
        ds = distributions(cat, source=f"{name}.nc")
        path = write_distributions(ds, tmp_path / f"{name}_stats.nc")
        xr.testing.assert_identical(open_distributions(path), ds)
        with xr.open_dataset(path) as raw:
            # CF coordinate variables are numeric: the labels are auxiliary coordinates
            assert "season" not in raw.variables and raw.season_label.dims == ("season",)
        assert cf_findings(path) == [], name


def test_written_distributions_respect_the_umask_and_leave_no_temporary(tmp_path):
    import os

    from xspecseg.stats import distributions, write_distributions

    path = write_distributions(distributions(empty_catalogue(iar=True)), tmp_path / "s.nc")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["s.nc"]

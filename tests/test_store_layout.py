"""Stores read cleanly with plain xarray, and xspecseg's bookkeeping stays out of the data.

``xr.open_zarr(store)`` on a cube or probability store shows the data and coordinates only,
without any warning (consolidated metadata, kept current by every write; strings stored
as zarr's variable-length type), while ``xs.open_cube``/``xs.open_probability`` still read
the commit flags in ``_xspecseg/`` and never present an uncommitted chunk as data. Stores
of xspecseg <= 0.1 (flags at the top level, no consolidated metadata) are read as they
are and moved to the new layout by the next write.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

import xspecseg as xs
import xspecseg._store as store_mod
from xspecseg._store import FLAG
from xspecseg.testing import chunk_indices, random_waveform

SMALL = xs.CubeConfig(sampling_rate=10.0, block_seconds=600.0, nperseg=1024, noverlap=512,
                      band=(0.1, 2.0), fmax=4.0)  # fmt: skip
DAY = 144  # blocks a day in SMALL
OPEN = (
    "import sys, json, xarray as xr\n"
    "out = {}\n"
    "for path in sys.argv[1:]:\n"
    "    ds = xr.open_zarr(path)\n"
    "    print(ds)\n"
    "    ds.load()\n"
    "    out[path] = {'data': sorted(ds.data_vars), 'coords': sorted(ds.coords),\n"
    "                 'sizes': dict(ds.sizes)}\n"
    "print('RESULT', json.dumps(out))\n"
)


def open_with_warnings_as_errors(*stores: Path) -> dict:
    """``python -W error``: open every store with plain xarray and load it; return the
    data variables, coordinates and sizes it saw in each."""
    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", OPEN, *map(str, stores)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def plain(store: Path) -> xr.Dataset:
    """``xr.open_zarr`` with every warning an error, loaded."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return xr.open_zarr(store).load()


@pytest.fixture(scope="module")
def cube() -> xr.Dataset:
    """Two days, computed once."""
    wave = random_waveform(hours=48, sampling_rate=10.0, chunk_seconds=86400)
    return xs.build_cube(wave, SMALL).compute().chunk({"time": DAY})


def probability(n: int = 1500) -> xr.DataArray:
    """Probabilities with string coordinates of numpy's fixed-width unicode type: a
    scalar component and a time-dependent orbit direction."""
    t = np.datetime64("2020-01-01", "ns") + np.arange(n) * np.timedelta64(100, "s")
    direction = np.where(np.arange(n) // 250 % 2, "ascending", "descending")
    return xr.DataArray(
        np.random.default_rng(5).random((n, 6)).astype(np.float32),
        dims=("time", "frequency"),
        coords={"time": t, "frequency": np.arange(6.0), "component": "H+D",
                "orbit_direction": ("time", direction)},
        name="probability", attrs={"model": "m", "image_unit": "none"},
    ).chunk({"time": 500})  # fmt: skip


def to_legacy(store: Path, *, moved: tuple[str, ...] = ("chunk_complete", "chunk_start")):
    """Lay a store out as xspecseg <= 0.1 wrote it: the bookkeeping arrays ``moved`` at the
    top level (where xarray reads them as data), no consolidated metadata."""
    for name in moved:
        os.replace(store / "_xspecseg" / name, store / name)
    if len(moved) == 2:
        shutil.rmtree(store / "_xspecseg")
    root = json.loads((store / "zarr.json").read_text())
    root.pop("consolidated_metadata", None)
    (store / "zarr.json").write_text(json.dumps(root))


# ----------------------------------------------------------------------------------------
# plain xarray sees the data, and only the data
# ----------------------------------------------------------------------------------------
def test_cube_store_opens_cleanly_with_plain_xarray_after_writes_and_appends(tmp_path, cube):
    store = tmp_path / "c.zarr"
    xs.write_cube(cube.isel(time=slice(0, DAY)), store, progress=False)
    seen = open_with_warnings_as_errors(store)[str(store)]
    assert seen["data"] == ["psd", "valid_fraction"]
    assert seen["coords"] == ["component", "frequency", "time"]
    assert seen["sizes"]["time"] == DAY
    # the append shows at once: the consolidated metadata follow every write
    assert xs.write_cube(cube, store, progress=False) == [np.datetime64("2020-01-02")]
    ds = plain(store)
    assert sorted(ds.data_vars) == ["psd", "valid_fraction"] and ds.sizes["time"] == 2 * DAY
    np.testing.assert_array_equal(ds.psd.values, cube.psd.values)
    np.testing.assert_array_equal(ds.valid_fraction.values, cube.valid_fraction.values)
    assert [str(c) for c in ds.component.values] == ["H", "D"]
    # provenance: the configuration, the version and a history line per write
    for key in SMALL.to_attrs():
        assert key in ds.attrs, key
    assert ds.attrs["xspecseg_version"] == xs.__version__
    lines = ds.attrs["history"].splitlines()
    assert "build_cube" in lines[0] and len(lines) == 3
    assert all(f"xspecseg {xs.__version__}: write_cube wrote 1 chunk(s)" in x for x in lines[1:])


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_probability_store_opens_cleanly_with_plain_xarray(tmp_path, dtype):
    store = tmp_path / "p.zarr"
    prob = probability()
    xs.write_probability(prob.isel(time=slice(0, 1000)), store, dtype=dtype, progress=False)
    assert chunk_indices(store, xs.write_probability(prob, store, dtype=dtype, progress=False)) == [
        2
    ]
    seen = open_with_warnings_as_errors(store)[str(store)]
    assert seen["data"] == ["probability"]
    assert seen["coords"] == ["component", "frequency", "orbit_direction", "time"]
    ds = plain(store)
    tol = 0.5 / 254 + 1e-6 if dtype == "uint8" else 0.0
    np.testing.assert_allclose(ds.probability.values, prob.values, rtol=0, atol=tol)
    assert [str(x) for x in ds.orbit_direction.values] == [str(x) for x in prob.orbit_direction.values]  # fmt: skip
    assert str(ds.component.values) == "H+D"
    # the same through xspecseg, committed chunks only
    back = xs.open_probability(store, incomplete="raise")
    np.testing.assert_allclose(back.values, prob.values, rtol=0, atol=tol)


@pytest.mark.parametrize("what", ["cube", "probability"])
def test_a_half_written_chunk_is_never_data_through_xspecseg(tmp_path, cube, what):
    """A chunk written but not committed (what a killed writer leaves) reads as missing
    through xspecseg; plain xarray still lists only the data variables."""
    store = tmp_path / f"{what}.zarr"
    if what == "cube":
        xs.write_cube(cube, store, progress=False)
    else:
        xs.write_probability(probability(), store, progress=False)
    zarr.open_group(store, mode="r+")[FLAG][1] = 0
    assert sorted(plain(store).data_vars) == (
        ["psd", "valid_fraction"] if what == "cube" else ["probability"]
    )
    with pytest.warns(UserWarning, match="1 of .* not completely written"):
        got = xs.open_cube(store) if what == "cube" else xs.open_probability(store)
    if what == "cube":
        assert np.isnan(got.psd.values[:, DAY:]).all()
        assert (got.valid_fraction.values[:, DAY:] == 0).all()
        np.testing.assert_array_equal(got.psd.values[:, :DAY], cube.psd.values[:, :DAY])
    else:
        assert np.isnan(got.values[500:1000]).all()
        np.testing.assert_array_equal(got.values[:500], probability().values[:500])
        np.testing.assert_array_equal(got.values[1000:], probability().values[1000:])
    with pytest.raises(ValueError, match="not completely written"):
        xs.open_cube(store, incomplete="raise") if what == "cube" else xs.open_probability(
            store, incomplete="raise"
        )


def test_an_unfinished_append_stays_invisible_to_plain_xarray(tmp_path, cube, monkeypatch):
    """Plain xarray sees the store as the last finished write left it."""
    store = tmp_path / "c.zarr"
    xs.write_cube(cube.isel(time=slice(0, DAY)), store, progress=False)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed after the store grew")

    monkeypatch.setattr(store_mod, "_write_missing", killed)
    with pytest.raises(KeyboardInterrupt):
        xs.write_cube(cube, store, progress=False)
    monkeypatch.undo()
    ds = plain(store)
    assert ds.sizes["time"] == DAY
    np.testing.assert_array_equal(ds.psd.values, cube.psd.values[:, :DAY])
    with pytest.warns(UserWarning, match="not completely written"):
        assert np.isnan(xs.open_cube(store).psd.values[:, DAY:]).all()
    assert xs.write_cube(cube, store, progress=False) == [np.datetime64("2020-01-02")]
    np.testing.assert_array_equal(plain(store).psd.values, cube.psd.values)


# ----------------------------------------------------------------------------------------
# stores written by xspecseg <= 0.1
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "moved", [("chunk_complete", "chunk_start"), ("chunk_start",)], ids=["legacy", "half-moved"]
)
def test_a_legacy_store_is_read_and_the_next_write_moves_its_bookkeeping(tmp_path, cube, moved):
    store = tmp_path / "c.zarr"
    xs.write_cube(cube, store, progress=False)
    zarr.open_group(store, mode="r+")[FLAG][1] = 0
    to_legacy(store, moved=moved)
    if len(moved) == 2:  # what plain xarray made of such a store
        old = xr.open_zarr(store, consolidated=False)
        assert {"chunk_complete", "chunk_start"} <= set(old.variables)
    with pytest.warns(UserWarning, match="1 of 2 chunk"):
        got = xs.open_cube(store)
    assert sorted(got.data_vars) == ["psd", "valid_fraction"]
    np.testing.assert_array_equal(got.psd.values[:, :DAY], cube.psd.values[:, :DAY])
    assert np.isnan(got.psd.values[:, DAY:]).all()
    # the resume finishes day 2 and moves the bookkeeping into _xspecseg/
    assert xs.write_cube(cube, store, progress=False) == [np.datetime64("2020-01-02")]
    assert not (store / "chunk_complete").exists() and not (store / "chunk_start").exists()
    assert (store / "_xspecseg" / "chunk_complete").is_dir()
    seen = open_with_warnings_as_errors(store)[str(store)]
    assert seen["data"] == ["psd", "valid_fraction"]
    np.testing.assert_array_equal(xs.open_cube(store, incomplete="raise").psd.values,
                                  cube.psd.values)  # fmt: skip


def test_verify_with_repair_moves_a_legacy_stores_bookkeeping(tmp_path, cube):
    store = tmp_path / "c.zarr"
    xs.write_cube(cube, store, progress=False)
    to_legacy(store)
    assert xs.cube.verify_cube(store) == []  # reading changes nothing
    assert (store / "chunk_complete").is_dir()
    assert xs.cube.verify_cube(store, repair=True) == []
    assert sorted(plain(store).data_vars) == ["psd", "valid_fraction"]
    np.testing.assert_array_equal(xs.open_cube(store, incomplete="raise").psd.values,
                                  cube.psd.values)  # fmt: skip


# ----------------------------------------------------------------------------------------
# through the command line
# ----------------------------------------------------------------------------------------
def test_cli_stores_open_cleanly_and_name_the_model(tmp_path):
    import hashlib

    from xspecseg.cli import main

    wave, cube_store, prob_store = (tmp_path / n for n in ("w.zarr", "c.zarr", "p.zarr"))
    common = ["--workers", "1", "--no-progress"]
    assert main(["synth", "ground", "--days", "1", "-o", str(wave), "--workers", "1"]) == 0
    assert main(["cube", str(wave), "-o", str(cube_store), *common]) == 0
    argv = ["predict", str(cube_store), "-o", str(prob_store), "--model", "iar-default"]
    assert main([*argv, "--device", "cpu", *common]) == 0
    seen = open_with_warnings_as_errors(cube_store, prob_store)
    assert seen[str(cube_store)]["data"] == ["psd", "valid_fraction"]
    assert seen[str(prob_store)]["data"] == ["probability"]
    # which checkpoint made the probabilities, against the shipped files read here
    shipped = Path(xs.__file__).parent / "weights" / "iar-default"
    config = json.loads((shipped / "config.json").read_text())
    for attrs in (plain(prob_store).attrs, xs.open_probability(prob_store).attrs):
        assert attrs["model"] == "iar-default"
        assert attrs["model_architecture"] == config["name"] == "ensemble"
        sha = hashlib.sha256((shipped / "model.safetensors").read_bytes()).hexdigest()
        assert attrs["model_sha256"] == sha
        assert attrs["threshold"] == config["threshold"]
        assert json.loads(attrs["representation"]) == config["representation"]
        assert attrs["xspecseg_version"] == xs.__version__
        last = attrs["history"].splitlines()[-2:]
        assert "predict of component H+D with model iar-default" in last[0]
        assert f"xspecseg {xs.__version__}: write_probability wrote 1 chunk(s)" in last[1]


def test_a_legacy_probability_store_is_read_and_copies_into_a_clean_store(tmp_path):
    """0.1 stored the component of probabilities as fixed-width unicode; such a store
    reads as before, and a copy through xspecseg reads cleanly with plain xarray."""
    old, new = tmp_path / "old.zarr", tmp_path / "new.zarr"
    prob = probability()
    xs.write_probability(prob, old, progress=False)
    group = zarr.open_group(old, mode="r+", use_consolidated=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr's note on fixed-width unicode, as 0.1 wrote it
        fixed = group.create_array("component", shape=(), dtype="<U3", overwrite=True,
                                   dimension_names=[])  # fmt: skip
        fixed[...] = np.array("H+D")
        to_legacy(old)
        back = xs.open_probability(old)
    np.testing.assert_array_equal(back.values, prob.values)
    assert str(back.component.values) == "H+D"
    xs.write_probability(back, new, progress=False)
    seen = open_with_warnings_as_errors(new)[str(new)]
    assert seen["data"] == ["probability"] and "component" in seen["coords"]
    np.testing.assert_array_equal(plain(new).probability.values, prob.values)


@pytest.mark.parametrize("nchunks", [2, 8])
def test_a_write_opens_the_store_once_per_process_and_appends_see_the_new_shape(
    tmp_path, monkeypatch, nchunks
):
    """Chunk tasks share one opened group per write call (not one per chunk), and the
    next call (an append that grows the arrays) opens it again."""
    opened = []
    real = store_mod._open_writer_arrays

    def counted(path, names):
        opened.append(path)
        return real(path, names)

    monkeypatch.setattr(store_mod, "_open_writer_arrays", counted)
    n = 100 * nchunks
    t = np.datetime64("2020-01-01") + np.arange(n) * np.timedelta64(100, "s")
    values = np.random.default_rng(1).random((n, 5)).astype(np.float32)
    prob = xr.DataArray(
        values, dims=("time", "frequency"), coords={"time": t, "frequency": np.arange(5.0)},
        name="probability", attrs={"model": "m", "image_unit": "none"},
    ).chunk({"time": 100})  # fmt: skip
    store = tmp_path / "p.zarr"
    import dask

    with dask.config.set(scheduler="threads", num_workers=2):
        xs.write_probability(prob.isel(time=slice(0, n // 2)), store, progress=False)
        assert len(opened) == 1
        xs.write_probability(prob, store, progress=False)  # appends the second half
    assert len(opened) == 2
    got = xs.open_probability(store, incomplete="raise")
    np.testing.assert_array_equal(got.values, values)


@pytest.mark.parametrize("per_task", [1, 3, 10])
def test_chunks_written_several_to_a_task_are_each_committed(tmp_path, monkeypatch, per_task):
    """A task writing several chunks commits each as it goes: killed at the fifth chunk,
    the four before it are data and the resume writes the rest, skipping the committed
    ones, into the values of a single write."""
    t = np.datetime64("2020-01-01", "ns") + np.arange(28) * np.timedelta64(1, "h")
    values = np.random.default_rng(3).random((28, 3)).astype(np.float32)
    ds = xr.Dataset({"p": (("time", "f"), values)}, coords={"time": t, "f": [1.0, 2.0, 3.0]})
    ds = ds.chunk({"time": 4})  # 7 chunks
    real = store_mod._write_chunk
    calls = []

    def killed_at_the_fifth(blocks, path, names, axes, t0, index, **kwargs):
        calls.append(index)
        if len(calls) == 5:
            raise KeyboardInterrupt("killed")
        return real(blocks, path, names, axes, t0, index, **kwargs)

    monkeypatch.setattr(store_mod, "_write_chunk", killed_at_the_fifth)
    store = tmp_path / "s.zarr"
    import dask

    with dask.config.set(scheduler="synchronous"), pytest.raises(KeyboardInterrupt):
        store_mod.write_committed(ds, store, what="example", progress=False,
                                  chunks_per_task=per_task)  # fmt: skip
    committed = np.flatnonzero(np.asarray(zarr.open_group(store, mode="r")[FLAG][:]) == 1)
    assert sorted(committed) == sorted(calls[:4])
    monkeypatch.setattr(store_mod, "_write_chunk", real)
    with dask.config.set(scheduler="synchronous"):
        again = store_mod.write_committed(ds, store, what="example", progress=False,
                                          chunks_per_task=per_task)  # fmt: skip
    assert sorted(again) == sorted(set(range(7)) - set(committed))
    np.testing.assert_array_equal(xr.open_zarr(store)["p"].values, values)


def test_chunks_per_task_must_be_a_positive_integer(tmp_path):
    t = np.datetime64("2020-01-01", "ns") + np.arange(4) * np.timedelta64(1, "h")
    ds = xr.Dataset({"p": (("time",), np.ones(4))}, coords={"time": t}).chunk({"time": 2})
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match="chunks_per_task"):
            store_mod.write_committed(ds, tmp_path / "s.zarr", what="example",
                                      progress=False, chunks_per_task=bad)  # fmt: skip
    assert not (tmp_path / "s.zarr").exists()


def test_the_progress_bar_counts_chunks_when_tasks_write_several(tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    t = np.datetime64("2020-01-01", "ns") + np.arange(28) * np.timedelta64(1, "h")
    ds = xr.Dataset({"p": (("time", "f"), np.ones((28, 2)))}, coords={"time": t, "f": [1.0, 2.0]})
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1,
                            dashboard_address=None) as client:  # fmt: skip
        written = store_mod.write_committed(ds.chunk({"time": 4}), tmp_path / "s.zarr",
                                            what="example", client=client, chunks_per_task=3)  # fmt: skip
    assert written == list(range(7))
    err = capsys.readouterr().err
    assert "7/7" in err and "chunk" in err, err

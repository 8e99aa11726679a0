"""The command line, end to end on small synthetic data."""

from __future__ import annotations

import argparse
import logging
import sys

import numpy as np
import pytest

import xspecseg as xs
import xspecseg.cluster
from xspecseg.cli import build_parser, main


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return dict(sub.choices)


def test_every_subcommand_has_help(capsys):
    subcommands = _subcommands()
    assert {"cube", "predict", "events", "stats", "plot", "synth", "demo", "train"} <= set(
        subcommands
    )
    for name in subcommands:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "usage: xspecseg" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_help_describes_every_option_with_its_default_and_an_example(name):
    parser = _subcommands()[name]
    assert parser.description and len(parser.description) > 40
    text = parser.format_help()
    assert "examples:" in text and f"\n  xspecseg {name} " in text
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue
        what = f"{name} {'/'.join(action.option_strings) or action.dest}"
        assert action.help and action.help.strip(), f"{what} has no help"
        shown = action.default is not None and action.default is not False
        if action.option_strings and shown and action.default != argparse.SUPPRESS:
            assert "default" in formatter._get_help_string(action), f"{what}: no default"


def test_train_scheduler_is_now_lr_schedule(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--scheduler", "cosine_warm_restarts", "-o", str(tmp_path / "m")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--scheduler is now --lr-schedule" in err
    args = build_parser().parse_args(["train", "--lr-schedule", "cosine_warm_restarts", "-o", "m"])
    assert args.lr_schedule == "cosine_warm_restarts" and not hasattr(args, "scheduler")


def test_one_meaning_per_component_spelling():
    """``--component``: the one component (or sum) to read; ``--components``: several."""
    for name, parser in _subcommands().items():
        for action in parser._actions:
            if "--component" in action.option_strings:
                assert action.nargs is None, name
            if "--components" in action.option_strings:
                assert action.nargs == "+", name


def _no_local_cluster(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a LocalCluster was started for a small job")

    monkeypatch.setattr(xspecseg.cluster, "local_cluster", refuse)


def test_small_chain_runs_in_process_and_resumes(tmp_path, capsys, monkeypatch):
    _no_local_cluster(monkeypatch)
    wave_path = tmp_path / "wave.zarr"
    store = tmp_path / "cube.zarr"
    assert main(["synth", "ground", "--days", "1", "-o", str(wave_path), "--no-progress"]) == 0
    assert wave_path.exists()
    args = ["cube", str(wave_path), "-o", str(store), "--no-progress"]
    assert main(args) == 0
    assert "wrote 1 day(s)" in capsys.readouterr().out
    cube = xs.open_cube(store)
    direct = xs.build_cube(xs.synth.ground_station(start="2013-01-01", days=1, seed=0))
    np.testing.assert_allclose(cube.psd.values, direct.psd.values, rtol=1e-5)
    assert main(args) == 0
    assert "wrote 0 day(s)" in capsys.readouterr().out
    prob, events = tmp_path / "prob.zarr", tmp_path / "events.nc"
    assert main(["predict", str(store), "-o", str(prob), "--model", "iar-default",
                 "--no-progress"]) == 0  # fmt: skip
    assert xs.open_probability(prob, incomplete="raise").sizes["time"] == 864
    # on a terminal, events and stats show progress bars on stderr; results go to stdout
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["events", str(prob), "--cube", str(store), "-o", str(events)]) == 0
    out = capsys.readouterr()
    assert "event(s) ->" in out.out and "events <- prob.zarr" in out.err
    assert main(["stats", str(events), "-o", str(tmp_path / "stats.nc")]) == 0
    out = capsys.readouterr()
    assert "distributions ->" in out.out and "stats <- events.nc" in out.err


def test_quiet_silences_info_logs(stores, tmp_path, capsys, caplog, monkeypatch):
    from xspecseg.models import get_model, save

    ckpt = save(get_model("unet", base_channels=2, depth=1), tmp_path / "m", config={})
    argv = ["predict", str(stores[0]), "--model", str(ckpt)]

    def info(records):
        return [r for r in records if r.name.startswith("xspecseg") and r.levelno == logging.INFO]

    assert main([*argv, "-o", str(tmp_path / "p1.zarr"), "--no-progress"]) == 0
    said = info(caplog.records)
    assert any("in this process" in r.getMessage() for r in said)
    assert "in this process" in capsys.readouterr().err
    caplog.clear()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # where bars would show
    assert main(["-q", *argv, "-o", str(tmp_path / "p2.zarr")]) == 0
    assert not info(caplog.records)
    err = capsys.readouterr().err
    assert "in this process" not in err and "probability ->" not in err  # no log, no bar
    assert main([*argv, "-o", str(tmp_path / "p3.zarr"), "-q", "--no-progress"]) == 0
    assert not info(caplog.records)


def test_two_workers_start_a_local_cluster(stores, tmp_path, monkeypatch, capsys):
    from xspecseg.models import get_model, save

    started = []
    real = xspecseg.cluster.local_cluster

    def spy(n_workers, **kwargs):
        started.append((n_workers, kwargs.get("io_threads", 0)))
        return real(n_workers, **kwargs)

    monkeypatch.setattr(xspecseg.cluster, "local_cluster", spy)
    ckpt = save(get_model("unet", base_channels=2, depth=1), tmp_path / "m", config={})
    out = tmp_path / "p.zarr"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # with its progress bar
    argv = ["predict", str(stores[0]), "-o", str(out), "--model", str(ckpt)]
    assert main([*argv, "--workers", "2"]) == 0
    assert started == [(2, 1)]  # an I/O thread beside each worker's network lane
    assert xs.open_probability(out, incomplete="raise").sizes["time"] == 48
    err = capsys.readouterr().err
    assert "starting a LocalCluster of 2 worker process(es)" in err
    assert "probability -> p.zarr" in err and "task" in err


def test_workers_below_one_is_refused_before_any_work(stores, tmp_path, capsys):
    argv = ["predict", str(stores[0]), "-o", str(tmp_path / "p.zarr"), "--model", "iar-default"]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--workers", "0"])
    assert exc.value.code == 2
    assert "argument --workers: must be at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "p.zarr").exists()


def test_cube_errors_are_reported_not_raised(tmp_path, capsys):
    code = main(["cube", str(tmp_path / "missing.xyz"), "-o", str(tmp_path / "c.zarr")])
    assert code == 2
    assert "error" in capsys.readouterr().err


def test_synth_cses_writes_readable_half_orbits(tmp_path, capsys):
    out = tmp_path / "orbits"
    assert main(["synth", "cses", "--days", "0.1", "--seed", "3", "-o", str(out)]) == 0
    files = sorted(out.glob("CSES_01_EFD_3_L02_A1_*.h5"))
    assert files and "half-orbit file(s)" in capsys.readouterr().out
    sat = xs.io.read_cses(files)
    assert sat.psd.dims == ("time", "frequency") and sat.sizes["frequency"] == 1024
    assert set(np.unique(sat.orbit_direction.values)) <= {"ascending", "descending"}
    assert main(["synth", "ground", "--days", "1.5", "-o", str(tmp_path / "w.zarr")]) == 2


# -- errors in what the user gave: one line naming the file, key or option, exit status 2 -----


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A one-day, one-component cube store and a probability store made from it."""
    import dask
    import xarray as xr

    from xspecseg.config import CubeConfig
    from xspecseg.models import get_model

    out = tmp_path_factory.mktemp("stores")
    cfg = CubeConfig(sampling_rate=1.0, block_seconds=1800, nperseg=64, band=None)
    t = np.datetime64("2020-01-01", "ns") + np.arange(48) * np.timedelta64(1800, "s")
    rng = np.random.default_rng(0)
    cube = xr.Dataset(
        {
            "psd": (
                ("component", "time", "frequency"),
                rng.random((1, 48, 33), np.float32) + 0.1,
                {"units": "pT2 Hz-1"},
            ),
            "valid_fraction": (("component", "time"), np.ones((1, 48), np.float32)),
        },
        coords={"component": ["H"], "time": t, "frequency": np.arange(33) / 64},
        attrs={**cfg.to_attrs(), "xspecseg_version": xs.__version__, "station": "TEST"},
    )
    with dask.config.set(scheduler="synchronous"):
        xs.write_cube(cube, out / "cube.zarr", progress=False)
        psd = xs.select_component(xs.open_cube(out / "cube.zarr"), "H")
        prob = xs.predict(psd, get_model("unet", base_channels=2, depth=1).eval())
        xs.write_probability(prob, out / "prob.zarr", progress=False)
    return out / "cube.zarr", out / "prob.zarr"


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def _broken_copy(store, tmp_path, which: str, text: str = "{broken"):
    import shutil

    copy = tmp_path / store.name
    shutil.copytree(store, copy)
    (copy / which).write_text(text)
    return copy


@pytest.mark.parametrize("which", ["zarr.json", "psd/zarr.json", "time/zarr.json"])
@pytest.mark.parametrize("text", ["{broken", "", "[]"])
def test_broken_zarr_json_names_the_file(stores, tmp_path, capsys, which, text):
    cube = _broken_copy(stores[0], tmp_path, which, text)
    for argv in (
        ["plot", str(cube), "-o", str(tmp_path / "q.png")],
        ["predict", str(cube), "-o", str(tmp_path / "p.zarr"), "--model", "iar-default"],
    ):
        assert main(argv) == 2
        err = _error(capsys)
        assert err.startswith(f"xspecseg {argv[0]}: error: {cube / which}: broken zarr metadata")


def test_broken_probability_store_names_the_file(stores, tmp_path, capsys):
    prob = _broken_copy(stores[1], tmp_path, "probability/zarr.json")
    assert main(["events", str(prob), "-o", str(tmp_path / "e.nc")]) == 2
    assert f"{prob / 'probability' / 'zarr.json'}: broken zarr metadata" in _error(capsys)


@pytest.mark.parametrize("content", [b"", b"not a netCDF file\n"])
def test_stats_on_an_empty_or_garbage_file(tmp_path, capsys, content):
    bad = tmp_path / "events.nc"
    bad.write_bytes(content)
    assert main(["stats", str(bad), "-o", str(tmp_path / "s.nc")]) == 2
    assert f"stats: error: {bad} is not a readable netCDF catalogue" in _error(capsys)


def test_stats_on_a_catalogue_without_times(tmp_path, capsys):
    import xarray as xr

    from xspecseg.catalogue import write_catalogue

    path = write_catalogue(xr.Dataset({"f_peak": ("event", [1.0, 2.0])}), tmp_path / "c.nc")
    assert main(["stats", str(path), "-o", str(tmp_path / "s.nc")]) == 2
    err = _error(capsys)
    assert f"stats: error: {path}: " in err and "peak_time" in err


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), RuntimeError("NetCDF: HDF error")])  # fmt: skip
def test_events_onto_a_full_disk_names_the_output(stores, tmp_path, capsys, monkeypatch, error):
    import xarray as xr

    def full_disk(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(xr.Dataset, "to_netcdf", full_disk)
    out = tmp_path / "events.nc"
    assert main(["events", str(stores[1]), "-o", str(out)]) == 2
    err = _error(capsys)
    assert f"events: error: cannot write the catalogue {out}: " in err and error.args[-1] in err


def test_events_given_a_cube_store(stores, tmp_path, capsys):
    assert main(["events", str(stores[0]), "-o", str(tmp_path / "e.nc")]) == 2
    err = _error(capsys)
    assert f"{stores[0]}: this is a cube store" in err and "xspecseg predict" in err


def test_plot_outside_the_data_says_the_time_range(stores, tmp_path, capsys):
    argv = ["plot", str(stores[0]), "-o", str(tmp_path / "q.png")]
    assert main([*argv, "--start", "2030-01-01", "--end", "2030-01-02"]) == 2
    err = _error(capsys)
    assert "select no data" in err and "2020-01-01T00:00:00 to 2020-01-01T23:30:00" in err
    assert main([*argv, "--start", "2020-01-01T06:00", "--probability", str(stores[1])]) == 0


def test_synth_onto_an_existing_output_names_the_option_before_any_cluster(
    tmp_path, capsys, monkeypatch
):
    def no_cluster(*args, **kwargs):
        raise AssertionError("a Dask cluster was started")

    monkeypatch.setattr(xspecseg.cluster, "dask_client", no_cluster)
    monkeypatch.setattr(xspecseg.cluster, "local_cluster", no_cluster)
    out = tmp_path / "wave.zarr"
    out.mkdir()
    assert main(["synth", "ground", "--days", "1", "-o", str(out), "--workers", "2"]) == 2
    err = _error(capsys)
    assert f"{out} exists; pass --overwrite" in err and "overwrite=True" not in err


def test_checkpoint_with_negative_base_channels(stores, tmp_path, capsys):
    import json

    from xspecseg.models import get_model, save

    ckpt = save(get_model("unet", base_channels=2, depth=1), tmp_path / "m", config={})
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg["kwargs"]["base_channels"] = -3
    (ckpt / "config.json").write_text(json.dumps(cfg))
    argv = ["predict", str(stores[0]), "-o", str(tmp_path / "p.zarr"), "--model", str(ckpt)]
    assert main(argv) == 2
    assert "key 'base_channels' = -3" in _error(capsys)


# -- stats: the CF distributions file -------------------------------------------------------


def _small_catalogue(path, n: int = 24):
    """A catalogue of ``n`` IAR-like events over a year (peaks 0-10 Hz), written to ``path``."""
    import xarray as xr

    from xspecseg.catalogue import write_catalogue

    rng = np.random.default_rng(5)
    t = np.datetime64("2021-01-01", "ns") + (np.arange(n) * 15).astype("timedelta64[D]")
    mlat = rng.uniform(-80, 80, n)
    cat = xr.Dataset(
        {
            "peak_time": ("event", t),
            "start_time": ("event", t - np.timedelta64(10, "m")),
            "end_time": ("event", t + np.timedelta64(10, "m")),
            "f_peak": ("event", rng.uniform(0, 10, n)),
            "magnetic_latitude": ("event", mlat),
            "latitude": ("event", mlat + 2.0),
            "longitude": ("event", rng.uniform(-180, 180, n)),
            "hemisphere": ("event", np.where(mlat >= 0, "N", "S")),
        }
    )
    return write_catalogue(cat, path, attrs={"model": "iar-default", "threshold": 0.5})


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_stats_writes_a_cf_clean_file_on_fixed_bins(tmp_path, capsys):
    pytest.importorskip("compliance_checker")
    import xarray as xr

    from cf_checker import cf_findings
    from xspecseg.stats import FREQUENCY_EDGES, MAGLAT_EDGES, open_distributions

    def centres(edges):
        return (edges[:-1] + edges[1:]) / 2

    events = _small_catalogue(tmp_path / "events.nc")
    out, plots = tmp_path / "stats.nc", tmp_path / "figures"
    assert main(["stats", str(events), "-o", str(out), "--plots", str(plots)]) == 0
    printed = capsys.readouterr().out
    assert "DJF" in printed and f"distributions -> {out.resolve()}" in printed
    assert cf_findings(out) == []
    ds = open_distributions(out)
    # peaks below 20 Hz: the catalogue's kind is iar, whatever the peaks themselves
    assert ds.attrs["frequency_bins"] == "iar" and ds.attrs["source_catalogue"] == str(events)
    np.testing.assert_allclose(ds["f_peak_bins"].values, centres(FREQUENCY_EDGES["iar"]))
    np.testing.assert_allclose(ds["magnetic_latitude_bins"].values, centres(MAGLAT_EDGES))
    assert int(ds["frequency_count"].sum()) == int(ds["seasonal_count"].sum()) == 24
    with xr.open_dataset(out) as raw:  # numeric bin centres with CF bounds on disk
        assert raw["f_peak_bins"].attrs["bounds"] == "f_peak_bins_bounds"
        assert "iar-default" in raw.attrs["model"] and "distributions of" in raw.history
    assert sorted(p.name for p in plots.iterdir()) == [
        "event_map.png", "frequency_histogram.png", "maglat_histogram.png",
        "seasonal_counts.png",
    ]  # fmt: skip

    # --kind and --maglat-step choose other fixed bins; the file stays clean
    other = tmp_path / "cses.nc"
    argv = ["stats", str(events), "-o", str(other), "--kind", "cses", "--maglat-step", "4"]
    assert main(argv) == 0
    assert cf_findings(other) == []
    ds = open_distributions(other)
    assert ds.attrs["frequency_bins"] == "cses"
    np.testing.assert_allclose(ds["f_peak_bins"].values, centres(FREQUENCY_EDGES["cses"]))
    np.testing.assert_allclose(
        ds["magnetic_latitude_bins"].values, centres(np.arange(-90.0, 92.0, 4.0))
    )
    with pytest.raises(SystemExit):
        main(["stats", str(events), "-o", str(other), "--frequency-bins", "20"])
    with pytest.raises(SystemExit):
        main(["stats", str(events), "-o", str(other), "--maglat-step", "0"])


# -- plot: default titles, normalised colours, CSES half-orbits with their events -----------


def _drawn(monkeypatch, name: str) -> list:
    """The figures ``xspecseg.plot.<name>`` returns while the CLI runs."""
    import xspecseg.plot

    figures, real = [], getattr(xspecseg.plot, name)

    def spy(*args, **kwargs):
        figures.append(real(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(xspecseg.plot, name, spy)
    return figures


def _colour_label(fig) -> str:
    return next(ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>")


def test_plot_has_the_librarys_title_and_normalises_on_request(stores, tmp_path, monkeypatch):
    figures = _drawn(monkeypatch, "quicklook")
    png = tmp_path / "q.png"
    assert main(["plot", str(stores[0]), "-o", str(png), "--start", "2020-01-01T06:00"]) == 0
    # the station, component and period drawn: not the path of the store
    title = figures[-1]._suptitle.get_text()
    assert title.startswith("TEST H, 2020-01-01") and str(stores[0]) not in title
    assert "06:00" in title and _colour_label(figures[-1]).startswith("log10 PSD")
    assert main(["plot", str(stores[0]), "-o", str(png), "--normalise", "frequency"]) == 0
    assert _colour_label(figures[-1]) == "log10 PSD minus its median per frequency"
    assert png.stat().st_size > 1000


@pytest.fixture(scope="module")
def half_orbits(tmp_path_factory):
    """Synthetic CSES half-orbit files and a catalogue of two events in the first one."""
    import xarray as xr

    from xspecseg.catalogue import write_catalogue

    root = tmp_path_factory.mktemp("cses")
    assert main(["-q", "synth", "cses", "--days", "0.1", "-o", str(root / "orbits"),
                 "--no-progress"]) == 0  # fmt: skip
    files = sorted((root / "orbits").glob("*.h5"))
    t = xs.io.read_cses(files[0])["time"].values
    cat = xr.Dataset(
        {
            "start_time": ("event", t[[10, 200]]),
            "end_time": ("event", t[[40, 260]]),
            "peak_time": ("event", t[[20, 230]]),
            "f_min": ("event", [2000.0, 9000.0]),
            "f_max": ("event", [5000.0, 12000.0]),
        }
    )
    return files, write_catalogue(cat, root / "events.nc")


def test_plot_boxes_a_catalogues_events_on_a_half_orbit(half_orbits, tmp_path, monkeypatch):
    files, events = half_orbits
    figures = _drawn(monkeypatch, "plot_halforbit")
    png = tmp_path / "orbit.png"
    argv = ["plot", str(files[0]), "--catalogue", str(events), "-o", str(png)]
    assert main([*argv, "--normalise", "frequency"]) == 0
    fig = figures[-1]
    assert len(fig.event_boxes) == 2 and all(b in fig.axes[0].patches for b in fig.event_boxes)
    title = fig.axes[0].get_title()
    assert title.startswith("CSES-01 EFD VLF Z, ") and "orbit " in title
    assert title.endswith("; 2 event(s)") and str(files[0]) not in title
    assert _colour_label(fig) == "log10 PSD minus its median per frequency"
    assert png.stat().st_size > 1000


def test_plot_catalogue_needs_one_half_orbit(half_orbits, stores, tmp_path, capsys):
    files, events = half_orbits
    png = str(tmp_path / "q.png")
    assert len(files) > 1
    assert main(["plot", *map(str, files), "--catalogue", str(events), "-o", png]) == 2
    err = _error(capsys)
    assert f"--catalogue draws one half-orbit: CSES EFD Z from {files[0]} holds" in err
    assert main(["plot", str(stores[0]), "--catalogue", str(events), "-o", png]) == 2
    assert "has no 'orbit' coordinate" in _error(capsys)


# -- a missing optional package: one line naming the extra ------------------------------------


def test_a_missing_extra_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    # distributed not importable, as without the cluster extra: an explicit --workers 2
    # needs it, and says which extra brings it
    monkeypatch.setitem(sys.modules, "distributed", None)
    argv = ["synth", "ground", "--days", "1", "-o", str(tmp_path / "w.zarr"), "--workers", "2"]
    assert main(argv) == 2
    err = _error(capsys)
    assert err.startswith("xspecseg synth: error: No module named 'distributed'")
    assert "pip install 'xspecseg[cluster]'" in err
    assert not (tmp_path / "w.zarr").exists()


def test_broken_bookkeeping_metadata_names_the_file(stores, tmp_path, capsys):
    which = "_xspecseg/chunk_complete/zarr.json"
    assert (stores[0] / which).is_file()
    cube = _broken_copy(stores[0], tmp_path, which)
    for argv in (
        ["plot", str(cube), "-o", str(tmp_path / "q.png")],
        ["predict", str(cube), "-o", str(tmp_path / "p.zarr"), "--model", "iar-default"],
    ):
        assert main(argv) == 2
        err = _error(capsys)
        assert err.startswith(f"xspecseg {argv[0]}: error: {cube / which}: broken zarr metadata")

"""The command line, end to end on small synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

import xspecseg as xs
from xspecseg.cli import build_parser, main


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"cube", "synth", "demo"} <= set(sub.choices)
    for name in sub.choices:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "usage: xspecseg" in capsys.readouterr().out


def test_synth_ground_then_cube_then_resume(tmp_path, capsys):
    wave_path = tmp_path / "wave.zarr"
    store = tmp_path / "cube.zarr"
    assert main(["synth", "ground", "--days", "1", "-o", str(wave_path), "--workers", "1"]) == 0
    assert wave_path.exists()
    args = ["cube", str(wave_path), "-o", str(store), "--workers", "1", "--no-progress"]
    assert main(args) == 0
    assert "wrote 1 day(s)" in capsys.readouterr().out
    cube = xs.open_cube(store)
    direct = xs.build_cube(xs.synth.ground_station(start="2013-01-01", days=1, seed=0))
    np.testing.assert_allclose(cube.psd.values, direct.psd.values, rtol=1e-5)
    assert main(args) == 0
    assert "wrote 0 day(s)" in capsys.readouterr().out


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
    import xspecseg.cli as cli

    def no_cluster(*args, **kwargs):
        raise AssertionError("a Dask cluster was started")

    monkeypatch.setattr(cli, "dask_client", no_cluster)
    monkeypatch.setattr(cli, "local_cluster", no_cluster)
    out = tmp_path / "wave.zarr"
    out.mkdir()
    assert main(["synth", "ground", "--days", "1", "-o", str(out)]) == 2
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

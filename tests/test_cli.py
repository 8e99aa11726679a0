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

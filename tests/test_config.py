"""CubeConfig: every bad value is a one-line ValueError naming the key and the value."""

from __future__ import annotations

import numpy as np
import pytest

import xspecseg as xs

NAN, INF = float("nan"), float("inf")

BAD = [
    (dict(sampling_rate=0), r"sampling_rate must be a finite positive number \(Hz\), got 0"),
    (dict(sampling_rate=-100.0), r"sampling_rate must be a finite positive .* got -100"),
    (dict(sampling_rate=NAN), r"sampling_rate must be a finite number, got nan"),
    (dict(sampling_rate=INF), r"sampling_rate must be a finite number, got inf"),
    (dict(sampling_rate="100"), r"sampling_rate must be a number, got '100'"),
    (dict(band=[0.5]), r"band must be two corner frequencies \[low, high\] in Hz, got \[0\.5\]"),
    (dict(band=[0.5, 5.0, 9.0]), r"band must be two .* got \[0\.5, 5\.0, 9\.0\]"),
    (dict(band="0.5,10"), r"band must be two .* got '0\.5,10'"),
    (dict(band=(5.0, 1.0)), r"band=\[5\.0, 1\.0\] must satisfy 0 < low < high"),
    (dict(band=(2.0, 2.0)), r"band=\[2\.0, 2\.0\] must satisfy"),
    (dict(band=(0.0, 5.0)), r"band=\[0\.0, 5\.0\] must satisfy"),
    (dict(band=(0.5, 50.0)), r"band=\[0\.5, 50\.0\] must satisfy .* sampling_rate/2 = 50\.0"),
    (dict(band=(NAN, 5.0)), r"band low corner must be a finite number, got nan"),
    (dict(block_seconds=NAN), r"block_seconds must be a finite number, got nan"),
    (dict(block_seconds=0.0), r"block_seconds must be a finite positive number, got 0\.0"),
    (dict(block_seconds=7.0), r"86400 / block_seconds = .* tile a UTC day .*block_seconds=7"),
    (dict(block_seconds=0.005), r"not a whole number of samples \(block_seconds=0\.005"),
    (dict(nperseg="4096"), r"nperseg must be a whole number of samples, got '4096'"),
    (dict(nperseg=4096.5), r"nperseg must be a whole number of samples, got 4096\.5"),
    (dict(nperseg=True), r"nperseg must be a whole number of samples, got True"),
    (dict(nperseg=20_000), r"nperseg=20000 must be in 1\.\.block_samples=10000"),
    (dict(noverlap=4096), r"noverlap=4096 must be in 0\.\.nperseg-1 \(nperseg=4096\)"),
    (dict(noverlap=5000), r"noverlap=5000 must be in 0\.\.nperseg-1"),
    (dict(noverlap=-1), r"noverlap=-1 must be in 0\.\.nperseg-1"),
    (dict(noverlap=NAN), r"noverlap must be a whole number of samples, got nan"),
    (dict(nfft=2048), r"nfft=2048 must be >= nperseg=4096"),
    (dict(nfft=4096.5), r"nfft must be a whole number of samples, got 4096\.5"),
    (dict(order=0), r"order must be a whole number >= 1, got 0"),
    (dict(order=2.5), r"order must be a whole number, got 2\.5"),
    (dict(fmin=NAN), r"fmin must be a finite number, got nan"),
    (dict(fmin=-1.0), r"fmin=-1\.0 must be in 0 \.\. sampling_rate/2 = 50\.0 Hz"),
    (dict(fmax=INF), r"fmax must be a finite number, got inf"),
    (dict(fmax=70.0), r"fmax=70\.0 must be in fmin=0\.0 \.\. sampling_rate/2 = 50\.0 Hz"),
    (dict(fmin=5.0, fmax=4.0), r"fmax=4\.0 must be in fmin=5\.0"),
    (
        dict(fmin=0.5, fmax=0.51),
        r"no frequency bin in fmin=0\.5 \.\. fmax=0\.51 Hz: the nearest bins are 0\.488281 "
        r"and 0\.512695 Hz \(spacing sampling_rate/nfft = 0\.0244141 Hz\)",
    ),
    (dict(detrend="quadratic"), r"detrend must be 'constant', 'linear' or False, got 'quadr"),
    (dict(window="nope"), r"window='nope' is not a scipy\.signal window"),
    (dict(saturation=NAN), r"saturation must be a finite number, got nan"),
    (dict(saturation=0.0), r"saturation must be positive, got 0\.0"),
    (dict(resample="yes"), r"resample must be true or false, got 'yes'"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[str(c) for c, _ in BAD])
def test_bad_values_are_one_line_errors_naming_key_and_value(change, message):
    with pytest.raises(ValueError, match=message) as err:
        xs.CubeConfig.preset("iar", **change)
    assert "\n" not in str(err.value)


def _toml_value(v) -> str:
    if isinstance(v, float) and np.isnan(v):
        return "nan"
    if isinstance(v, float) and np.isinf(v):
        return "inf"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(e) for e in v) + "]"
    return repr(v)


@pytest.mark.parametrize(("change", "message"), BAD, ids=[str(c) for c, _ in BAD])
def test_bad_values_in_toml_files_name_the_file(tmp_path, change, message):
    path = tmp_path / "cube.toml"
    lines = ["[cube]", 'preset = "iar"'] + [f"{k} = {_toml_value(v)}" for k, v in change.items()]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=message) as err:
        xs.CubeConfig.from_toml(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


def test_cli_reads_toml_through_the_same_checks(tmp_path):
    from xspecseg.cli import _config

    path = tmp_path / "c.toml"
    path.write_text('preset = "iar"\nband = [0.5, 5.0, 9.0]\n')
    args = type("Args", (), {"config": str(path), "preset": "iar"})()
    with pytest.raises(ValueError, match=r"band must be two corner frequencies"):
        _config(args)


def test_whole_number_floats_are_accepted_and_normalised():
    cfg = xs.CubeConfig.preset("iar", nperseg=4096.0, noverlap=np.int64(1024), order=4.0)
    assert (cfg.nperseg, cfg.noverlap, cfg.order) == (4096, 1024, 4)
    assert all(type(v) is int for v in (cfg.nperseg, cfg.noverlap, cfg.nfft, cfg.order))
    cfg = xs.CubeConfig.preset("iar", sampling_rate=np.float32(100.0), band=np.array([1, 8]))
    assert cfg.sampling_rate == 100.0 and cfg.band == (1.0, 8.0)
    assert xs.CubeConfig(window=["kaiser", 8.0]).window == ("kaiser", 8.0)


def test_frequency_crop_snaps_inward_to_whole_bins():
    cfg = xs.CubeConfig.preset("iar")
    df = 100.0 / 4096
    # fmax = 10 Hz lies between bins 409 and 410: it snaps down
    f = cfg.frequencies()
    assert f.size == 410 and f[-1] == pytest.approx(409 * df)
    # fmin between bins snaps up to the next bin
    f = xs.CubeConfig.preset("iar", fmin=0.5).frequencies()
    assert f[0] == pytest.approx(21 * df) and f[0] > 0.5 and f[0] - df < 0.5
    # a bound on a bin up to round-off keeps that bin
    f = xs.CubeConfig.preset("iar", fmin=21 * df * (1 + 1e-12), fmax=30 * df * (1 - 1e-12))
    assert f.frequencies()[0] == pytest.approx(21 * df) and f.frequencies().size == 10


def test_resample_option():
    cfg = xs.CubeConfig.preset("iar", resample=True)
    assert cfg.resample is True and cfg.sampling_rate == 100.0
    assert cfg.to_attrs()["resample"] == 1
    assert xs.CubeConfig.preset("iar").to_attrs()["resample"] == 0
    assert xs.CubeConfig(resample=np.bool_(True)).resample is True


def test_resample_in_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[cube]\npreset = "iar"\nresample = true\n')
    cfg = xs.CubeConfig.from_toml(path)
    assert cfg == xs.CubeConfig.preset("iar", resample=True)


def test_calibration_table_given_as_a_mapping():
    table = {"frequency": [0.01, 20.0], "magnitude": [1.0, 4.0], "units": "nT"}
    cfg = xs.CubeConfig.preset("iar", calibration=table)
    assert cfg.calibration == xs.TabulatedResponse([0.01, 20.0], [1.0, 4.0], "nT")
    assert cfg == xs.CubeConfig.preset("iar", calibration=dict(table))
    assert cfg.to_attrs()["calibration"] == (
        '{"frequency": [0.01, 20.0], "magnitude": [1.0, 4.0], "units": "nT"}'
    )
    with pytest.raises(ValueError, match=r"calibration: unknown key 'colour'"):
        xs.CubeConfig.preset("iar", calibration={**table, "colour": 1})
    # a table that stops short of the crop (0 .. 10 Hz) is refused with the config
    with pytest.raises(ValueError, match=r"covers 0\.01 \.\. 5 Hz, not 5\.00488 Hz"):
        xs.CubeConfig.preset("iar", calibration={**table, "frequency": [0.01, 5.0]})


def test_calibration_string_form_still_resolves(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        '[cube]\npreset = "iar"\ncalibration = "xspecseg.io:sierra_nevada_calibration"\n'
    )
    cfg = xs.CubeConfig.from_toml(path)
    assert cfg.calibration is xs.io.sierra_nevada_calibration
    assert cfg.to_attrs()["calibration"] == "xspecseg.io.raw:sierra_nevada_calibration"

"""Calibrations given as data: poles and zeros against SciPy, tables against an independent
log-log interpolation, and the TOML forms through a cube and a cube store."""

from __future__ import annotations

import importlib
import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.signal as ss
import xarray as xr

import xspecseg as xs
from xspecseg.calibration import PoleZeroResponse, TabulatedResponse, calibration_from_config
from xspecseg.testing import SMALL_CUBE, random_waveform

# a search coil seen from the recorder: a zero pair, a resonance pair and a real pole
ZEROS = [0.0, -3.0 + 0.5j]
POLES = [-0.8 + 6.0j, -0.8 - 6.0j, -20.0]
GAIN = -250.0

# 10 Hz, 10-minute blocks: a day is 144 blocks; frequencies 0 .. 4 Hz in bins of 10/1024 Hz
SMALL = SMALL_CUBE
TABLE_F = [0.005, 0.1, 0.7, 2.0, 4.5]
TABLE_M = [30.0, 2.0, 9.0, 0.25, 0.3]


def loglog_reference(f: np.ndarray, table_f, table_m) -> np.ndarray:
    """``|S|`` linear in log-log between table points, from NumPy alone."""
    return np.exp(np.interp(np.log(f), np.log(table_f), np.log(table_m)))


# -- poles and zeros ---------------------------------------------------------------------
@pytest.mark.parametrize("unit_of_s", ["rad/s", "Hz"])
def test_pole_zero_equals_scipy_freqs_zpk(unit_of_s):
    f = np.logspace(-3, 2, 400)
    # SciPy's s is i*w: w = 2 pi f for poles and zeros in rad/s, w = f for them in Hz
    w = 2 * np.pi * f if unit_of_s == "rad/s" else f
    _, h = ss.freqs_zpk(ZEROS, POLES, GAIN, worN=w)
    resp = PoleZeroResponse(POLES, ZEROS, GAIN, units="nT", unit_of_s=unit_of_s)
    got = resp(f)
    assert got.dtype == np.float64 and got.shape == f.shape
    np.testing.assert_allclose(got, np.abs(h), rtol=1e-12)
    # [re, im] pairs (the TOML form) are the same response
    pairs = PoleZeroResponse(
        [[p.real, p.imag] for p in map(complex, POLES)],
        [[z.real, z.imag] for z in map(complex, ZEROS)],
        GAIN,
        units="nT",
        unit_of_s=unit_of_s,
    )
    assert pairs == resp and hash(pairs) == hash(resp)
    np.testing.assert_array_equal(pairs(f), got)


def test_pole_zero_keeps_many_poles_finite():
    # 40 poles at 1000 rad/s: the plain product of |s - p| overflows nothing in logs
    resp = PoleZeroResponse([-1000.0] * 40, [], 1000.0**40, units="nT")
    f = np.array([0.01, 1.0])
    np.testing.assert_allclose(resp(f), (1 + (2 * np.pi * f / 1000.0) ** 2) ** -20, rtol=1e-12)


def test_pole_zero_at_zero_frequency():
    coil = PoleZeroResponse([0.0], [], 1.0, units="nT", unit_of_s="Hz")
    assert coil([0.0])[0] == np.inf
    assert PoleZeroResponse([], [0.0], 1.0, units="nT")([0.0])[0] == 0.0


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (dict(gain=0.0), r"gain must be finite and non-zero, got 0\.0"),
        (dict(gain=float("nan")), r"gain must be finite"),
        (dict(unit_of_s="1/s"), r"unit_of_s must be 'rad/s' or 'Hz', got '1/s'"),
        (dict(poles=[[1.0, 2.0, 3.0]]), r"poles\[0\] must be \[re, im\]"),
        (dict(zeros=[[float("inf"), 0.0]]), r"zeros\[0\] must be finite"),
        (dict(units=""), r"units must name the physical unit"),
    ],
)
def test_pole_zero_refusals(kw, message):
    args = dict(poles=POLES, zeros=ZEROS, gain=GAIN, units="nT") | kw
    with pytest.raises(ValueError, match=message):
        PoleZeroResponse(**args)


# -- tables ------------------------------------------------------------------------------
def test_table_is_exact_at_its_points_and_log_log_between():
    table = TabulatedResponse(TABLE_F, TABLE_M, units="nT")
    np.testing.assert_array_equal(table(np.array(TABLE_F)), TABLE_M)
    f = np.geomspace(TABLE_F[0], TABLE_F[-1], 301)
    np.testing.assert_allclose(table(f), loglog_reference(f, TABLE_F, TABLE_M), rtol=1e-12)
    # between two points a power law through both: |S| = 2 f**-1.5 is followed exactly
    power = TabulatedResponse([0.1, 10.0], [2 * 0.1**-1.5, 2 * 10.0**-1.5], units="nT")
    np.testing.assert_allclose(power(f[f >= 0.1]), 2 * f[f >= 0.1] ** -1.5, rtol=1e-12)
    # any shape in, that shape out
    assert table(np.full((2, 3), 1.0)).shape == (2, 3)


def test_table_refuses_frequencies_outside_it():
    table = TabulatedResponse(TABLE_F, TABLE_M, units="nT")
    for f in (0.001, 5.0, -1.0, np.nan):
        with pytest.raises(ValueError, match=r"calibration table covers 0\.005 \.\. 4\.5 Hz"):
            table(np.array([0.1, f]))
    # a table end up to round-off is the end; 0 Hz is no point of a log axis: NaN
    got = table(np.array([0.0, TABLE_F[0] * (1 - 1e-12), TABLE_F[-1] * (1 + 1e-12)]))
    assert np.isnan(got[0]) and got[1] == TABLE_M[0] and got[2] == TABLE_M[-1]


NAN, INF = float("nan"), float("inf")
BAD_TABLES = [
    ([1.0, 1.0, 2.0], [1, 1, 1], r"strictly increasing: frequency\[1\] = 1\.0 follows"),
    ([2.0, 1.0], [1, 1], r"strictly increasing: frequency\[1\] = 1\.0"),
    ([0.0, 1.0], [1, 1], r"frequency\[0\] = 0\.0: every frequency must be finite and positive"),
    ([-1.0, 1.0], [1, 1], r"frequency\[0\] = -1\.0"),
    ([1.0, NAN], [1, 1], r"frequency\[1\] = nan"),
    ([1.0, INF], [1, 1], r"frequency\[1\] = inf"),
    ([1.0, 2.0], [1, 0], r"magnitude\[1\] = 0\.0: every magnitude must be finite and positive"),
    ([1.0, 2.0], [-3, 1], r"magnitude\[0\] = -3\.0"),
    ([1.0, 2.0], [1, INF], r"magnitude\[1\] = inf"),
    ([1.0, 2.0], [NAN, 1], r"magnitude\[0\] = nan"),
    ([1.0], [1], r"at least 2 points to interpolate, got 1"),
    ([], [], r"at least 2 points"),
    ([1.0, 2.0, 3.0], [1, 1], r"3 frequencies but 2 magnitudes"),
    ([1.0, "2"], [1, 1], r"frequency\[1\] must be a number, got '2'"),
    ("1,2", [1, 1], r"frequency must be a list of numbers"),
]


@pytest.mark.parametrize(("freq", "mag", "message"), BAD_TABLES)
def test_table_refusals(freq, mag, message):
    with pytest.raises(ValueError, match=message):
        TabulatedResponse(freq, mag, units="nT")


def test_responses_compare_by_value_hash_and_pickle():
    a = TabulatedResponse(TABLE_F, TABLE_M, units="nT")
    b = TabulatedResponse(np.array(TABLE_F), tuple(TABLE_M), "nT")
    assert a == b and hash(a) == hash(b) and a.frequency == tuple(TABLE_F)
    assert a != TabulatedResponse(TABLE_F, [*TABLE_M[:-1], 0.31], units="nT")
    assert a != TabulatedResponse(TABLE_F, TABLE_M, units="pT")
    cfg = xs.CubeConfig(**SMALL, fmin=0.05, calibration=a)
    same = xs.CubeConfig(**SMALL, fmin=0.05, calibration=b)
    # dask ships the config to its workers; a resumed store compares configs
    assert pickle.loads(pickle.dumps(cfg)) == cfg == same and len({cfg, same}) == 1
    pz = PoleZeroResponse(POLES, ZEROS, GAIN, "nT")
    assert pickle.loads(pickle.dumps(pz)) == pz


def test_config_refuses_a_table_that_misses_the_crop():
    table = TabulatedResponse([0.1, 3.0], [1.0, 1.0], units="nT")
    with pytest.raises(ValueError, match=r"covers 0\.1 \.\. 3 Hz, not 0\.0585938 Hz"):
        xs.CubeConfig(**SMALL, fmin=0.05, calibration=table)
    with pytest.raises(ValueError, match=r"covers 0\.1 \.\. 3 Hz, not 3\.00781 Hz"):
        xs.CubeConfig(**SMALL, fmin=0.1, calibration=table)
    # cropped inside the table: accepted; 0 Hz alone is left to the cube (NaN)
    inside = SMALL | dict(fmin=0.1, fmax=3.0)
    assert xs.CubeConfig(**inside, calibration=table).calibration is table
    whole = TabulatedResponse([0.005, 5.0], [1.0, 1.0], units="nT")
    assert np.isnan(whole(xs.CubeConfig(**SMALL, calibration=whole).frequencies())[0])


# -- the TOML forms ----------------------------------------------------------------------
def toml_config(tmp_path, calibration: str, name: str = "cube.toml"):
    head = "\n".join(f"{k} = {list(v) if isinstance(v, tuple) else v}" for k, v in SMALL.items())
    path = tmp_path / name
    path.write_text(f"[cube]\n{head}\nfmin = 0.05\n{calibration}\n")
    return path


def toml_list(values) -> str:
    return "[" + ", ".join(repr(float(v)) for v in values) + "]"


TABLE_TOML = (
    f"[cube.calibration]\nfrequency = {toml_list(TABLE_F)}\n"
    f'magnitude = {toml_list(TABLE_M)}\nunits = "nT"\n'
)
FILE_TOML = '[cube.calibration]\nfile = "sensor/resp.csv"\nunits = "nT"\n'
POLE_ZERO_TOML = (
    "[cube.calibration]\n"
    f"poles = [{', '.join(f'[{complex(p).real!r}, {complex(p).imag!r}]' for p in POLES)}]\n"
    f"zeros = [{', '.join(f'[{complex(z).real!r}, {complex(z).imag!r}]' for z in ZEROS)}]\n"
    f'gain = {GAIN!r}\nunits = "nT"\nunit_of_s = "Hz"\n'
)


def write_table_file(folder) -> None:
    (folder / "sensor").mkdir(exist_ok=True)
    rows = "\n".join(
        f"{f!r}, {m!r}" if i % 2 else f"{f!r}\t {m!r}  # blank-separated"
        for i, (f, m) in enumerate(zip(TABLE_F, TABLE_M, strict=True))
    )
    (folder / "sensor" / "resp.csv").write_text(f"# frequency (Hz), |S| (nT/V)\n\n{rows}\n")


def reference_gain(form: str, f: np.ndarray) -> np.ndarray:
    if form == "poles-zeros":
        _, h = ss.freqs_zpk(ZEROS, POLES, GAIN, worN=f)  # "Hz": s = i f
        return np.abs(h)
    return loglog_reference(f, TABLE_F, TABLE_M)


FORMS = {"table": TABLE_TOML, "file": FILE_TOML, "poles-zeros": POLE_ZERO_TOML}


@pytest.fixture(scope="module")
def wave() -> xr.DataArray:
    return random_waveform(hours=3, sampling_rate=10.0, chunk_seconds=3600.0)


@pytest.fixture(scope="module")
def raw_cube(wave) -> xr.Dataset:
    return xs.build_cube(wave, xs.CubeConfig(**SMALL, fmin=0.05)).compute()


@pytest.mark.parametrize("form", list(FORMS))
def test_toml_forms_calibrate_the_cube(tmp_path, monkeypatch, wave, raw_cube, form):
    write_table_file(tmp_path)
    path = toml_config(tmp_path, FORMS[form])
    monkeypatch.chdir(tmp_path / "sensor")  # a file is found from the TOML file's folder
    cfg = xs.CubeConfig.from_toml(path)
    assert cfg.calibration.units == "nT"
    cube = xs.build_cube(wave, cfg).compute()
    f = cube.frequency.values
    s2 = reference_gain(form, f) ** 2
    ok = raw_cube.valid_fraction.values > 0
    assert ok.sum() >= 18 and (cube.valid_fraction.values == raw_cube.valid_fraction.values).all()
    raw = raw_cube.psd.values.astype(np.float64)[ok]
    np.testing.assert_allclose(cube.psd.values[ok], raw * s2, rtol=2e-6)
    assert cube.psd.attrs["units"] == "nT2 Hz-1"
    # the attrs record the data, from which the same response is read back
    recorded = json.loads(cube.attrs["calibration"])
    assert calibration_from_config(recorded) == cfg.calibration


def test_table_file_and_inline_table_are_the_same_calibration(tmp_path):
    write_table_file(tmp_path)
    inline = xs.CubeConfig.from_toml(toml_config(tmp_path, TABLE_TOML, "a.toml"))
    from_file = xs.CubeConfig.from_toml(toml_config(tmp_path, FILE_TOML, "b.toml"))
    assert inline == from_file and inline.to_attrs() == from_file.to_attrs()


def test_data_forms_import_nothing(tmp_path, monkeypatch):
    write_table_file(tmp_path)
    from_toml = xs.CubeConfig.from_toml

    def refuse(name, package=None):
        raise RuntimeError(f"imported {name}")

    monkeypatch.setattr(importlib, "import_module", refuse)
    for form, text in FORMS.items():
        cfg = from_toml(toml_config(tmp_path, text, f"{form}.toml"))
        assert isinstance(cfg.calibration, TabulatedResponse | PoleZeroResponse)
    # the string form does import, through the function refused here
    code = toml_config(tmp_path, 'calibration = "xspecseg.io:sierra_nevada_calibration"')
    with pytest.raises(RuntimeError, match=r"imported xspecseg\.io"):
        from_toml(code)


BAD_TOML = [
    (TABLE_TOML + "colour = 3\n", r"unknown key 'colour' \(a table of frequency and magnitude"),
    (FILE_TOML + "frequency = [1.0, 2.0]\n", r"unknown key 'frequency' \(a table file takes"),
    (POLE_ZERO_TOML + "sensitivity = 3.0\n", r"unknown key 'sensitivity' \(poles and zeros"),
    ('[cube.calibration]\nfrequency = [1.0, 2.0]\nunits = "nT"\n', r"missing magnitude"),
    ("[cube.calibration]\npoles = []\nzeros = []\ngain = 1.0\n", r"missing units"),
    ('[cube.calibration]\nfile = "none.csv"\nunits = "nT"\n', r"none\.csv cannot be read"),
    ("calibration = 3", r'calibration must be "module:function" or a table'),
    ('calibration = "no_colon"', r"must be written 'package.module:function'"),
]


@pytest.mark.parametrize(("text", "message"), BAD_TOML)
def test_bad_calibrations_name_the_key_and_the_file(tmp_path, text, message):
    path = toml_config(tmp_path, text)
    with pytest.raises(ValueError, match=message) as err:
        xs.CubeConfig.from_toml(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("frequency, magnitude\n0.01, 1.0\n5.0, 1.0\n", r"line 1: 'frequency, magnitude' is not"),
        ("0.01, 1.0\n5.0, 1.0, 3.0\n", r"line 2: .* is not two numbers"),
        ("0.01, 1.0\n0.01, 2.0\n", r"resp\.csv: calibration table frequency must be strictly"),
        ("# nothing\n", r"at least 2 points"),
    ],
)
def test_bad_table_files_name_the_file_and_line(tmp_path, rows, message):
    (tmp_path / "sensor").mkdir()
    (tmp_path / "sensor" / "resp.csv").write_text(rows)
    with pytest.raises(ValueError, match=message) as err:
        xs.CubeConfig.from_toml(toml_config(tmp_path, FILE_TOML))
    assert "sensor/resp.csv" in str(err.value)


# -- a cube store keeps one calibration --------------------------------------------------
def test_store_refuses_an_append_with_another_table(tmp_path):
    wave = random_waveform(hours=48, sampling_rate=10.0, chunk_seconds=86400)
    first = xs.CubeConfig.from_toml(toml_config(tmp_path, TABLE_TOML, "a.toml"))
    store = tmp_path / "c.zarr"
    xs.write_cube(xs.build_cube(wave, first).isel(time=slice(0, 144)), store, progress=False)

    other = TABLE_TOML.replace(toml_list(TABLE_M), toml_list([*TABLE_M[:-1], 0.31]))
    changed = xs.CubeConfig.from_toml(toml_config(tmp_path, other, "b.toml"))
    with pytest.raises(ValueError, match=r"calibration: '\{\"frequency\".* in the store"):
        xs.write_cube(xs.build_cube(wave, changed), store, progress=False)

    # the same table read again, here from a file: accepted, the second day is appended
    write_table_file(tmp_path)
    same = xs.CubeConfig.from_toml(toml_config(tmp_path, FILE_TOML, "c.toml"))
    assert same is not first and same.calibration == first.calibration
    assert xs.write_cube(xs.build_cube(wave, same), store, progress=False) == [
        np.datetime64("2020-01-02")
    ]
    assert xs.open_cube(store).attrs["calibration"] == first.to_attrs()["calibration"]


# -- the user guide's examples load as they are written -----------------------------------
ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "user-guide" / "cubes.md"


def guide_section() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    return text.split("## Sensor calibration", 1)[1].split("\n## ", 1)[0]


def test_user_guide_calibration_examples_load(tmp_path, monkeypatch):
    section = guide_section()
    tomls = re.findall(r"^```toml\n(.*?)^```", section, re.S | re.M)
    python = re.findall(r"^```python\n(.*?)^```", section, re.S | re.M)
    assert len(tomls) == 4 and len(python) == 1
    monkeypatch.chdir(tmp_path)
    # the guide's way to tabulate the Sierra Nevada function, run where it is trusted
    exec(python[0], {"xs": xs})
    station = (ROOT / "examples" / "sierra_nevada.toml").read_text(encoding="utf-8")
    assert 'calibration = "xspecseg.io:sierra_nevada_calibration"' in station
    wide = "\n".join(f"{f!r}, 1.0" for f in (0.001, 1000.0))
    (tmp_path / "sensor_response.csv").write_text(wide)
    kinds = []
    for i, block in enumerate(tomls):
        if "[cube]\n" not in block:  # the Sierra Nevada file with its calibration replaced
            block = re.sub(r"^calibration = .*$", "", station, flags=re.M) + "\n" + block
        path = tmp_path / f"guide-{i}.toml"
        path.write_text(block)
        cfg = xs.CubeConfig.from_toml(path)
        kinds.append(type(cfg.calibration).__name__)
    table, pz = "TabulatedResponse", "PoleZeroResponse"
    assert kinds == [table, table, pz, table]
    # the tabulated Sierra Nevada curve is the function to the stated 0.06 %
    f = cfg.frequencies()
    ratio = cfg.calibration(f) / xs.io.sierra_nevada_calibration(f)
    assert cfg.calibration.units == "pT" and np.abs(ratio - 1).max() < 6e-4


def test_calibration_does_not_import_config():
    """One direction only: config imports calibration, never the reverse (no cycle)."""
    import ast

    import xspecseg.calibration
    import xspecseg.config

    tree = ast.parse(Path(xspecseg.calibration.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.level, node.module) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    } | {
        (0, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert (1, "config") not in imported and (0, "xspecseg.config") not in imported
    # the string form still resolves, and config's name is the same function
    assert xspecseg.config.resolve_callable is xspecseg.calibration.resolve_callable
    cal = calibration_from_config("xspecseg.io:sierra_nevada_calibration")
    assert cal is xs.io.sierra_nevada_calibration

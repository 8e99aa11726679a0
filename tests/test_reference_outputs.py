"""The shipped models' outputs against references stored before a refactor.

``tests/reference/*.npz`` hold the probabilities and the catalogue of ``iar-default`` on
one synthetic night and of ``cses-default`` on a few synthetic half-orbits, written by
``tests/reference/make_reference.py``. Restructuring the code must not move them:
probabilities within 1e-5 (at most 0.01 % of the sampled pixels within 1e-3: see
``_compare``), catalogues identical (times exact, floats to 1e-9 relative).
The probabilities are kept as a regular sample of pixels (every 7th row, every 5th
frequency) and their means along each axis at full resolution, which keeps the files
small and still sees any change that is not confined to a few unsampled pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import xspecseg as xs

REFERENCE = Path(__file__).resolve().parent / "reference"
CATALOGUE_VARS = (
    "start_time",
    "end_time",
    "peak_time",
    "f_min",
    "f_max",
    "f_peak",
    "area_pixels",
    "mean_probability",
    "max_probability",
    "peak_psd",
    "impulsiveness",
    "delta_f",
    "n_fringes",
    "fringe_frequency",
    "magnetic_latitude",
)


def iar_outputs():
    """``iar-default`` on the night 2013-03-02/03 of a synthetic station (seed 4321)."""
    wave = xs.synth.ground_station("2013-03-02", days=2, seed=4321, components=("H", "D"))
    cube = xs.build_cube(wave).sel(time=slice("2013-03-02T18:00", "2013-03-03T06:00"))
    cube = cube.sel(frequency=slice(None, 10.0)).compute()
    prob = xs.predict(cube, "iar-default").compute()
    cat = xs.extract_events(prob, psd=cube).compute()
    return prob, cat


def cses_outputs(tmp: Path):
    """``cses-default`` on the synthetic half-orbits of 2022-05-03 00:00-07:12 (seed 4321)."""
    files = xs.synth.cses_orbits(
        "2022-05-03", days=0.3, seed=4321, out_dir=tmp, components=("Z",), rate_scale=20
    )
    sat = xs.io.read_cses(files, component="Z")
    prob = xs.predict(sat.psd, "cses-default").compute()
    cat = xs.extract_events(prob, psd=sat.psd).compute()
    return prob, cat


def probability_summary(prob) -> dict[str, np.ndarray]:
    p = np.asarray(prob.values, np.float64)
    return {
        "probability_sample": p[::7, ::5].astype(np.float32),
        "probability_row_mean": np.nanmean(p, axis=1),
        "probability_column_mean": np.nanmean(p, axis=0),
    }


def _compare(ref: np.lib.npyio.NpzFile, prob, cat) -> None:
    for key, got in probability_summary(prob).items():
        # torch's CPU convolutions sum in an order that depends on the instruction set: the
        # same code and weights differ by up to 2e-6 between an AMD Zen 5 and an Intel Xeon,
        # and on an AMD EPYC by up to 1.1e-4 on 12 of the 268,755 sampled pixels of
        # cses-default (one small patch on a steep flank; the means to 1.4e-6). A change of
        # weights, representation or threshold moves many pixels and the means by far more.
        want = ref[key]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-3, equal_nan=True, err_msg=key)
        off = np.abs(np.nan_to_num(got - want)) > 1e-5
        allowed = int(1e-4 * off.size) if key == "probability_sample" else 0
        assert off.sum() <= allowed, f"{key}: {off.sum()} of {off.size} moved by more than 1e-5"
    stored = sorted(k[4:] for k in ref.files if k.startswith("cat_"))
    assert stored == sorted(v for v in CATALOGUE_VARS if v in cat)
    for v in stored:
        got, want = np.asarray(cat[v].values), ref[f"cat_{v}"]
        assert got.shape == want.shape, v
        if want.dtype.kind in "fc":
            atol = 1e-5 if "probability" in v else 0.0  # the CPU-dependent rounding above
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=atol, equal_nan=True, err_msg=v)
        else:
            np.testing.assert_array_equal(got, want, err_msg=v)


@pytest.mark.slow
def test_iar_default_outputs_are_unchanged():
    with np.load(REFERENCE / "iar_default.npz") as ref:
        _compare(ref, *iar_outputs())


@pytest.mark.slow
def test_cses_default_outputs_are_unchanged(tmp_path):
    with np.load(REFERENCE / "cses_default.npz") as ref:
        _compare(ref, *cses_outputs(tmp_path))

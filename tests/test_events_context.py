"""Event context properties and the logistic event score (xspecseg.events.context, .score)."""

from __future__ import annotations

import json
import warnings

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from xspecseg.events import (
    CONTEXT_VARIABLES,
    EVENT_CUT_KEYS,
    EventScore,
    event_context,
    extract_events,
    select_events,
)
from xspecseg.events.context import _column_median
from xspecseg.events.score import FEATURES

NO_CUTS = dict.fromkeys(EVENT_CUT_KEYS)


def _background(shape, seed=0):
    """A PSD that depends on frequency alone (so its per-frequency median is itself)."""
    rng = np.random.default_rng(seed)
    return np.tile(10.0 ** rng.uniform(-3, 1, shape[1]), (shape[0], 1))


def _nucleus(shape, centre, sigma, decades):
    """log10 gain of a Gaussian nucleus: ``decades`` at its centre, none beyond 3 sigma."""
    t, f = np.ogrid[: shape[0], : shape[1]]
    r2 = ((t - centre[0]) / sigma[0]) ** 2 + ((f - centre[1]) / sigma[1]) ** 2
    return np.where(r2 <= 9.0, decades * np.exp(-0.5 * r2), 0.0)


def test_context_of_a_flat_patch_is_its_gain():
    psd = _background((80, 50))
    psd[30:40, 20:28] *= 10.0**1.5
    prob = np.zeros(psd.shape)
    prob[30:40, 20:28] = 0.9
    ctx = event_context(psd, prob, 0.5, np.array([[30, 39, 20, 27]]))
    expected = {
        "contrast": 1.5,
        "core_contrast": 0.0,
        "spread": 0.0,
        "isolation_frequency": 1.5,
        "isolation_time": 1.5,
        "fill": 1.0,
    }
    for key, value in expected.items():
        assert ctx[key][0] == pytest.approx(value, abs=1e-12), key


def test_context_of_a_nucleus_against_its_known_log_gain():
    shape = (120, 60)
    gain = _nucleus(shape, (50, 30), (6.0, 4.0), 2.0)
    psd = _background(shape) * 10.0**gain
    box = (38, 62, 20, 40)
    prob = np.zeros(shape)
    inside = gain >= 0.5
    prob[inside] = 0.95
    r0, r1, c0, c1 = box
    ctx = event_context(psd, prob, 0.5, np.array([box]))
    # the nucleus covers under half the rows of every column: the median is the background
    values = gain[r0 : r1 + 1, c0 : c1 + 1][inside[r0 : r1 + 1, c0 : c1 + 1]]
    q50, q90 = np.percentile(values, [50, 90])
    assert ctx["contrast"][0] == pytest.approx(values.mean(), rel=1e-12)
    assert ctx["spread"][0] == pytest.approx(values.std(), rel=1e-12)
    assert ctx["core_contrast"][0] == pytest.approx(q90 - q50, rel=1e-12)
    assert ctx["fill"][0] == pytest.approx(inside[r0 : r1 + 1, c0 : c1 + 1].mean())
    dr, dc = (r1 - r0 + 1) // 2, (c1 - c0 + 1) // 2
    below = gain[r0 : r1 + 1, c0 - dc : c0].mean()
    above = gain[r0 : r1 + 1, c1 + 1 : c1 + 1 + dc].mean()
    before = gain[r0 - dr : r0, c0 : c1 + 1].mean()
    after = gain[r1 + 1 : r1 + 1 + dr, c0 : c1 + 1].mean()
    assert ctx["isolation_frequency"][0] == pytest.approx(values.mean() - max(below, above))
    assert ctx["isolation_time"][0] == pytest.approx(values.mean() - max(before, after))


def test_a_band_running_on_beyond_the_region_is_not_isolated_in_frequency():
    """Hiss the network marked only in part: the band continues above the region."""
    shape = (100, 60)
    psd = _background(shape)
    psd[40:60, 20:50] *= 10.0  # a band 30 bins wide
    prob = np.zeros(shape)
    prob[40:60, 20:30] = 0.9  # the network marked its lower third
    ctx = event_context(psd, prob, 0.5, np.array([[40, 59, 20, 29]]))
    assert ctx["contrast"][0] == pytest.approx(1.0)
    assert ctx["isolation_frequency"][0] == pytest.approx(0.0, abs=1e-12)
    assert ctx["isolation_time"][0] == pytest.approx(1.0)


@pytest.mark.parametrize("scale", [1e-6, 1e6])
def test_context_is_invariant_to_gain_and_to_any_spectral_tilt(scale):
    rng = np.random.default_rng(3)
    shape = (90, 40)
    psd = 10.0 ** rng.normal(0, 0.2, shape) * 10.0 ** _nucleus(shape, (45, 20), (5, 4), 1.5)
    prob = (10.0 ** _nucleus(shape, (45, 20), (5, 4), 1.0) > 3).astype(float)
    boxes = np.array([[35, 55, 12, 28], [0, 10, 0, 5], [80, 89, 35, 39]])
    ref = event_context(psd, prob, 0.5, boxes)
    f = np.arange(1, shape[1] + 1, dtype=float)
    for other in (psd * scale, psd * f**-1.0, psd * scale * np.exp(np.sin(f))):
        got = event_context(other, prob, 0.5, boxes)
        for key in CONTEXT_VARIABLES:
            np.testing.assert_allclose(got[key], ref[key], atol=1e-9, err_msg=key)


def _cube(n_orbits=3, rows=70, bins=48, seed=1):
    """Half-orbits with their own background level and slope, a nucleus in some."""
    rng = np.random.default_rng(seed)
    blocks, probs, orbit, direction = [], [], [], []
    for k in range(n_orbits):
        psd = 10.0 ** rng.normal(0, 0.1, (rows, bins))
        psd *= 10.0 ** (k - 2.0) * np.arange(1, bins + 1) ** -(1.0 + k)
        prob = np.zeros((rows, bins))
        if k != 1:
            g = _nucleus((rows, bins), (20 + 10 * k, 24), (5, 4), 1.5)
            psd *= 10.0**g
            prob[g > 0.4] = 0.9
        blocks.append(psd)
        probs.append(prob)
        orbit += [100 + k // 2] * rows
        direction += ["ascending" if k % 2 == 0 else "descending"] * rows
    time = np.datetime64("2022-04-01", "ns") + np.arange(n_orbits * rows) * np.timedelta64(
        2048, "ms"
    )
    coords = {
        "time": time,
        "frequency": 12.5 + 25.0 * np.arange(bins),
        "orbit": ("time", np.array(orbit)),
        "orbit_direction": ("time", np.array(direction)),
    }
    psd = xr.DataArray(np.concatenate(blocks), dims=("time", "frequency"), coords=coords)
    prob = xr.DataArray(np.concatenate(probs), dims=("time", "frequency"), coords=coords)
    return psd, prob


def test_extract_events_measures_each_event_in_its_own_half_orbit():
    psd, prob = _cube()
    cat = extract_events(prob, psd=psd, threshold=0.5, min_pixels=5, context=True, **NO_CUTS)
    assert cat.sizes["event"] == 2
    for k in range(2):
        orbit = int(cat.orbit[k])
        rows = np.flatnonzero(
            (psd.orbit.values == orbit)
            & (psd.orbit_direction.values == cat.orbit_direction.values[k])
        )
        alone = extract_events(prob.isel(time=rows), psd=psd.isel(time=rows), threshold=0.5,
                               min_pixels=5, context=True, **NO_CUTS)  # fmt: skip
        for key in CONTEXT_VARIABLES:
            assert float(cat[key][k]) == pytest.approx(float(alone[key][0]), rel=1e-12), key
        assert cat[key].attrs["long_name"]


@pytest.mark.parametrize("chunk", [7, 33, 70, 1000])
def test_context_does_not_depend_on_the_chunking(chunk):
    psd, prob = _cube()
    whole = extract_events(prob, psd=psd, threshold=0.5, min_pixels=5, context=True, **NO_CUTS)
    lazy = extract_events(prob.chunk(time=chunk), psd=psd.chunk(time=chunk), threshold=0.5,
                          min_pixels=5, context=True, **NO_CUTS)  # fmt: skip
    assert isinstance(prob.chunk(time=chunk).data, da.Array)
    for key in CONTEXT_VARIABLES:
        np.testing.assert_array_equal(lazy[key].values, whole[key].values, err_msg=key)


def test_half_orbit_chunks_measure_context_while_labelling(monkeypatch):
    psd, prob = _cube()
    # a stripe across the border of the first two half-orbits (one orbit, so connected)
    prob = prob.copy()
    prob[60:80, 5:8] = 0.9
    whole = extract_events(prob, psd=psd, threshold=0.5, min_pixels=5, context=True, **NO_CUTS)
    assert whole.sizes["event"] == 3
    from xspecseg.events import context as context_module

    second_pass = []
    unit_results = context_module._unit_results

    def counted(prob, psd, boxes, *args, **kwargs):
        second_pass.append(sorted(boxes))
        return unit_results(prob, psd, boxes, *args, **kwargs)

    monkeypatch.setattr(context_module, "_unit_results", counted)
    lazy = extract_events(prob.chunk(time=70), psd=psd.chunk(time=70), threshold=0.5,
                          min_pixels=5, context=True, **NO_CUTS)  # fmt: skip
    for key in CONTEXT_VARIABLES:
        np.testing.assert_array_equal(lazy[key].values, whole[key].values, err_msg=key)
    # only the stripe across the border is read again: it lies in no one unit, so over
    # the rows of its box (60-79) and as many again on each side
    assert second_pass == [[(40, 100)]]


def test_units_measured_while_labelling_without_an_event_of_their_own():
    # the only region of the whole-unit chunk is smaller than min_pixels, and the one
    # event lies across two units: nothing measured in a chunk is an event
    psd, prob = _cube()
    prob = prob.copy()
    prob[:] = 0.0
    prob[10, 10] = 0.9
    prob[60:80, 5:8] = 0.9
    whole = extract_events(prob, psd=psd, threshold=0.5, min_pixels=5, context=True, **NO_CUTS)
    lazy = extract_events(prob.chunk(time=70), psd=psd.chunk(time=70), threshold=0.5,
                          min_pixels=5, context=True, **NO_CUTS)  # fmt: skip
    assert lazy.sizes["event"] == whole.sizes["event"] == 1
    for key in CONTEXT_VARIABLES:
        np.testing.assert_array_equal(lazy[key].values, whole[key].values, err_msg=key)


def test_context_is_measured_when_asked_or_when_the_model_scores():
    psd, prob = _cube()
    # by default only a model with an event score pays for the second pass over the PSD
    for cat in (extract_events(prob, threshold=0.5, min_pixels=5, **NO_CUTS),
                extract_events(prob, psd=psd, threshold=0.5, min_pixels=5, **NO_CUTS)):  # fmt: skip
        assert cat.sizes["event"] == 2
        assert not set(CONTEXT_VARIABLES) & set(cat.data_vars)
    with pytest.raises(ValueError, match="need psd"):
        extract_events(prob, threshold=0.5, min_pixels=5, context=True)
    # a model's score without its context (context=False) is neither computed nor cut on
    score = {"method": "logistic", "features": ["fill"], "center": [0.5], "scale": [0.2],
             "coef": [1.0], "intercept": 0.0}  # fmt: skip
    attrs = {"event_score": json.dumps(score), "min_event_score": 1e9}
    off = extract_events(prob.assign_attrs(attrs), psd=psd, threshold=0.5, min_pixels=5,
                         context=False)  # fmt: skip
    assert off.sizes["event"] == 2 and "event_score" not in off


# -- the event score -------------------------------------------------------------------------


def _events(n=400, seed=0):
    """Events whose truth depends on isolation and confidence; bandwidth is noise."""
    rng = np.random.default_rng(seed)
    iso = rng.normal(0, 1, n)
    mp = 1 / (1 + np.exp(-rng.normal(2, 1, n)))
    logit = 2.0 * iso + 1.0 * np.log(mp / (1 - mp)) - 2.0
    true = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    ds = xr.Dataset(
        {
            "isolation_frequency": ("event", iso),
            "mean_probability": ("event", mp),
            "f_min": ("event", np.full(n, 1000.0)),
            "f_max": ("event", 1000.0 + 10 ** rng.uniform(2, 4, n)),
        }
    )
    return ds, true


def test_event_score_is_scikit_learns_logistic_regression():
    sklearn = pytest.importorskip("sklearn.linear_model")
    ds, true = _events()
    features = ("isolation_frequency", "mean_probability", "bandwidth")
    score = EventScore.fit(ds, true, features=features, c=0.3)
    x = np.stack(
        [
            ds.isolation_frequency.values,
            np.log(ds.mean_probability.values / (1 - ds.mean_probability.values)),
            np.log10(ds.f_max.values - ds.f_min.values),
        ],
        axis=1,
    )
    z = (x - x.mean(0)) / x.std(0)
    ref = sklearn.LogisticRegression(C=0.3, tol=1e-12, max_iter=10_000).fit(z, true)
    np.testing.assert_allclose(score.coef, ref.coef_[0], rtol=1e-5, atol=1e-7)
    assert score.intercept == pytest.approx(float(ref.intercept_[0]), rel=1e-5)
    np.testing.assert_allclose(score(ds), ref.decision_function(z), rtol=1e-5, atol=1e-7)
    # the informative properties carry the weight, the noise almost none
    assert score.coef[0] > 1.0 and score.coef[1] > 0.3 and abs(score.coef[2]) < 0.2


def test_event_score_missing_property_counts_as_the_centre():
    ds, true = _events()
    score = EventScore.fit(ds, true, features=("isolation_frequency", "mean_probability"))
    one = ds.isel(event=[0])
    gone = one.assign(isolation_frequency=("event", [np.nan]))
    centred = one.assign(isolation_frequency=("event", [score.center[0]]))
    assert np.isfinite(score(gone)).all()
    assert score(gone)[0] == pytest.approx(score(centred)[0])


def test_event_score_round_trips_and_refuses_what_it_cannot_read():
    ds, true = _events()
    score = EventScore.fit(ds, true, features=("isolation_frequency", "mean_probability"))
    d = json.loads(json.dumps(score.to_dict()))
    assert EventScore.from_dict(d) == score
    bad = [
        {**d, "method": "pickle"},
        {**d, "features": ["isolation_frequency", "__import__('os')"]},
        {**d, "coef": [1.0]},
        {**d, "scale": [1.0, 0.0]},
        {**d, "center": [float("nan"), 0.0]},
        {k: v for k, v in d.items() if k != "intercept"},
        "not a dict",
    ]
    for b in bad:
        with pytest.raises(ValueError):
            EventScore.from_dict(b)
    with pytest.raises(ValueError, match="true and other"):
        EventScore.fit(ds, np.ones(ds.sizes["event"], bool))
    with pytest.raises(ValueError, match="needs the event property"):
        score(ds.drop_vars("isolation_frequency"))
    assert set(FEATURES) >= set(CONTEXT_VARIABLES)


def test_extract_events_applies_the_models_score_cut():
    psd, prob = _cube()
    cat = extract_events(prob, psd=psd, threshold=0.5, min_pixels=5, context=True, **NO_CUTS)
    true = np.array([True, False])
    score = EventScore.fit(
        xr.concat([cat, cat], "event"), np.r_[true, true], features=("contrast", "fill"), c=1.0
    )
    s = score(cat)
    attrs = {"event_score": json.dumps(score.to_dict()), "min_event_score": float(s.mean())}
    scored = extract_events(prob.assign_attrs(attrs), psd=psd, threshold=0.5, min_pixels=5)
    assert scored.sizes["event"] == int((s >= s.mean()).sum()) == 1
    np.testing.assert_allclose(scored.event_score.values, s[s >= s.mean()])
    assert scored.attrs["min_event_score"] == pytest.approx(s.mean())
    assert EventScore.from_dict(json.loads(scored.attrs["event_score"])) == score
    # the score reads the PSD's context: without the PSD the model's cut is not applied
    bare = extract_events(prob.assign_attrs(attrs), threshold=0.5, min_pixels=5)
    assert bare.sizes["event"] == 2 and "event_score" not in bare
    # asked for explicitly, a cut on a score the catalogue lacks is an error
    with pytest.raises(ValueError, match="event_score"):
        select_events(cat, min_event_score=0.0)
    assert select_events(scored, min_event_score=1e9).sizes["event"] == 0


def test_context_and_score_variables_are_catalogue_variables(tmp_path):
    from xspecseg.catalogue import VARIABLES, open_catalogue, write_catalogue

    for key, (long_name, units) in CONTEXT_VARIABLES.items():
        assert VARIABLES[key][0] == "float"
        assert VARIABLES[key][1]["long_name"] == long_name and VARIABLES[key][1]["units"] == units
    psd, prob = _cube()
    cat = extract_events(prob, psd=psd, threshold=0.5, min_pixels=5, context=True, **NO_CUTS)
    score = EventScore.fit(
        xr.concat([cat, cat], "event"), np.r_[True, False, True, False], features=("fill",)
    )
    attrs = {"event_score": json.dumps(score.to_dict()), "min_event_score": -1e9}
    cat = extract_events(prob.assign_attrs(attrs), psd=psd, threshold=0.5, min_pixels=5)
    back = open_catalogue(write_catalogue(cat, tmp_path / "c.nc"))
    for key in (*CONTEXT_VARIABLES, "event_score"):
        np.testing.assert_array_equal(back[key].values, cat[key].values, err_msg=key)
    assert EventScore.from_dict(json.loads(back.attrs["event_score"])) == score


@settings(max_examples=200, deadline=None)
@given(
    rows=st.integers(1, 40),
    cols=st.integers(1, 12),
    blank=st.sampled_from(["none", "rows", "ragged", "column"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_column_median_is_numpys_nanmedian_to_the_bit(rows, cols, blank, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (rows, cols))
    x[rng.uniform(size=x.shape) < 0.1] = np.round(x[0, 0], 1)  # ties
    x[rng.uniform(size=x.shape) < 0.05] = rng.choice([np.inf, -np.inf])
    if blank == "rows":
        x[rng.uniform(size=rows) < 0.3] = np.nan  # fill rows, gaps
    elif blank == "ragged":
        x[rng.uniform(size=x.shape) < 0.3] = np.nan
    elif blank == "column":
        x[:, rng.integers(cols)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy warns on all-NaN columns
        expected = np.nanmedian(x, axis=0)
    np.testing.assert_array_equal(_column_median(x), expected)

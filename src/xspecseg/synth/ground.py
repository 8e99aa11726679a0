"""Synthetic ground search-coil records with Ionospheric Alfvén Resonances and exact truth.

The generator works in the time-frequency domain. Every component-day is the overlap-add
of short frames (``frame_seconds`` long, hop half of that, sine window whose square sums to
one) of Gaussian noise whose spectrum is the *model PSD at the frame's centre time*::

    P(t, f) = B(t, f) + SR(t, f) + Pc1(t, f) + IAR(t, f)

so the expected power of every ingredient at every time and frequency is known in closed
form. :func:`iar_truth` evaluates the same model on a cube's grid, from the seeds kept in the
waveform's ``synth_params`` attribute, without generating a sample. Narrow lines (man-made
1 Hz harmonics), lightning impulses, gaps and clipping are added in the time domain.

Reproducibility: every random quantity comes from a generator seeded by
``(seed, stream, day)``: the noise of a day from its own day number (days since
1970-01-01), the IAR parameters of a night from the day number of its *evening*, so a day is
bit-identical whether generated alone or inside any longer window, and the two UTC days a
night spans agree on its fringes. The frame centred on each midnight is drawn from a stream
of its own and generated identically by both days it touches, so the waveform is continuous
across midnight.

What is modelled (defaults in :class:`GroundParams`):

- background: one-sided PSD ``A**2 * ((f**2 + fk**2) / (1 + fk**2)) ** (-slope/2)`` plus a
  white floor (``A`` = 1 pT/sqrt(Hz) at 1 Hz, slope 1.6, flat below ``fk`` = 0.3 Hz as a
  search coil's response is), times a diurnal factor peaking in the local afternoon and a
  day-to-day log-normal level that is smoothly interpolated between noons;
- Schumann resonances: Lorentzian bumps at 7.8, 14.3, 20.8 Hz whose strength follows the
  global thunderstorm clock (maximum near 16 UT);
- IARs at night (18-06 UT): 3-12 fringes ``f_n(t) = f0(t) + n * df(t)``, Gaussian in
  frequency with a width of about a quarter of ``df``, peak PSD ``contrast * B`` (contrast
  0.8-2, so a peak-to-trough ratio near 2), each fringe appearing and fading on its own;
  occurrence and ``df`` are highest around the winter solstice; some nights have none;
- Pc1 pearl pulsations: 0.5-2 Hz bands of rising-tone elements, mostly in the afternoon;
- man-made 1 Hz harmonics on some days, either continuous or pulsing on and off (the
  vertical stripes of the IAR paper's Fig. 1d);
- lightning impulses (heavy-tailed amplitudes, more on summer afternoons), whole missing
  hours (NaN) on some days, and clipping at ``saturation``.

Not modelled: geomagnetic-activity control of IAR occurrence, polarisation and the
correlation between components (each component has its own noise; the IAR, Pc1 and
Schumann PSDs are the same on every component).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import zlib
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
import scipy.fft
import xarray as xr

from .._timeaxis import NS_PER_S, regular_time_coords

__all__ = [
    "GroundParams",
    "disturbances",
    "ground_station",
    "iar_truth",
    "iar_truth_nights",
]

DAY_S = 86400
# RNG stream tags: the first word after the seed, so streams never collide.
_NIGHT, _DAY, _NOISE, _EDGE, _LEVEL = 1, 2, 3, 4, 5


@dataclasses.dataclass(frozen=True)
class GroundParams:
    """Physical parameters of :func:`ground_station` (all overridable as keywords).

    Times are UT hours, frequencies Hz, amplitudes pT, PSDs pT²/Hz.

    Parameters
    ----------
    background_amplitude : float
        Background amplitude spectral density at 1 Hz (pT/sqrt(Hz)).
    background_slope : float
        Spectral index ``a`` of the ``1/f**a`` background PSD.
    background_knee : float
        Below this frequency the background PSD flattens (search-coil roll-off).
    background_floor : float
        White PSD added everywhere (digitiser noise).
    background_diurnal_depth, background_peak_hour : float
        Diurnal factor ``1 + depth * cos(2 pi (h - peak) / 24)`` of the background.
    background_day_sigma : float
        Log-normal standard deviation of the day-to-day background level.
    schumann : bool
        Include the Schumann resonances.
    schumann_frequencies, schumann_psd, schumann_halfwidth : tuple of float
        Centre, peak PSD and Lorentzian half width of each mode.
    schumann_diurnal_depth, schumann_peak_hour : float
        Diurnal factor of the Schumann strength (global thunderstorm clock).
    iar : bool
        Include Ionospheric Alfvén Resonances.
    iar_rate_winter, iar_rate_summer : float
        Probability that a night has IARs at the seasonal maximum and minimum;
        the rate varies as a raised cosine of day of year peaking at ``iar_peak_doy``.
    iar_peak_doy : float
        Day of year of the occurrence (and spacing) maximum.
    iar_delta_f_winter, iar_delta_f_summer, iar_delta_f_sd : float
        Mean fringe spacing Δf at the seasonal maximum and minimum, and its night-to-night
        standard deviation.
    iar_delta_f_range : (float, float)
        Δf is clipped to this range at all times.
    iar_fringes : (int, int)
        Inclusive range of the number of fringes a night has.
    iar_fmin, iar_fmax : float
        Fringes fade out below ``iar_fmin`` and above ``iar_fmax``.
    iar_contrast : (float, float)
        Range of a night's fringe peak PSD relative to the background PSD.
    iar_width : (float, float)
        Range of the Gaussian fringe width (standard deviation) as a fraction of Δf.
    iar_start_hours, iar_end_hours : (float, float)
        Ranges of the UT hour the night's IARs start (evening) and end (morning).
    pc1_rate : float
        Mean number of Pc1 events a day (Poisson).
    pc1_peak_hour, pc1_hour_sd : float
        Start hours are normal around ``pc1_peak_hour`` (clipped to 06-20 UT).
    pc1_contrast : (float, float)
        Range of Pc1 peak PSD relative to the background.
    manmade_probability : float
        Probability that a day has man-made 1 Hz harmonics.
    manmade_frequency, manmade_amplitude : float
        Fundamental of the interference and the amplitude of each harmonic (pT).
    manmade_pulsing_fraction : float
        Fraction of man-made days where the source pulses on and off (vertical stripes)
        rather than running continuously.
    manmade_broadband_psd : float
        White PSD (pT²/Hz) the pulsing source adds while on: its sharp, jittery pulses
        make each burst a broadband stripe as well as a comb.
    lightning_rate : float
        Mean number of lightning impulses a day (before seasonal/diurnal modulation).
    lightning_scale, lightning_tail : float
        Impulse amplitudes are ``scale * (1 + Pareto(tail))`` pT.
    gap_probability : float
        Probability that a day has 1-3 whole missing hours (NaN).
    saturation : float or None
        Samples are clipped to ``±saturation`` pT; None disables clipping.
    frame_seconds : float
        Length of the synthesis frames; the hop is half of it.

    Examples
    --------
    >>> p = GroundParams(iar_rate_summer=0.1)
    >>> p.schumann_frequencies[0]
    7.8
    """

    background_amplitude: float = 1.0
    background_slope: float = 1.6
    background_knee: float = 0.3
    background_floor: float = 1e-3
    background_diurnal_depth: float = 0.35
    background_peak_hour: float = 13.0
    background_day_sigma: float = 0.15
    schumann: bool = True
    schumann_frequencies: tuple[float, ...] = (7.8, 14.3, 20.8)
    schumann_psd: tuple[float, ...] = (0.3, 0.15, 0.1)
    schumann_halfwidth: tuple[float, ...] = (0.8, 1.2, 1.7)
    schumann_diurnal_depth: float = 0.3
    schumann_peak_hour: float = 16.0
    iar: bool = True
    iar_rate_winter: float = 0.8
    iar_rate_summer: float = 0.2
    iar_peak_doy: float = 355.0
    iar_delta_f_winter: float = 0.75
    iar_delta_f_summer: float = 0.5
    iar_delta_f_sd: float = 0.1
    iar_delta_f_range: tuple[float, float] = (0.2, 1.2)
    iar_fringes: tuple[int, int] = (3, 12)
    iar_fmin: float = 0.5
    iar_fmax: float = 6.0
    iar_contrast: tuple[float, float] = (0.8, 2.0)
    iar_width: tuple[float, float] = (0.08, 0.13)
    iar_start_hours: tuple[float, float] = (18.0, 20.5)
    iar_end_hours: tuple[float, float] = (3.5, 6.0)
    pc1_rate: float = 0.5
    pc1_peak_hour: float = 14.0
    pc1_hour_sd: float = 2.5
    pc1_contrast: tuple[float, float] = (3.0, 10.0)
    manmade_probability: float = 0.1
    manmade_frequency: float = 1.0
    manmade_amplitude: float = 0.3
    manmade_pulsing_fraction: float = 0.6
    manmade_broadband_psd: float = 0.1
    lightning_rate: float = 300.0
    lightning_scale: float = 4.0
    lightning_tail: float = 1.5
    gap_probability: float = 0.05
    saturation: float | None = 50.0
    frame_seconds: float = 40.0

    def __post_init__(self) -> None:
        # JSON round trips give lists; keep the dataclass hashable and comparable
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list):
                object.__setattr__(self, f.name, tuple(v))
        if not 0 <= self.iar_rate_summer <= 1 or not 0 <= self.iar_rate_winter <= 1:
            raise ValueError("IAR rates must be probabilities")
        if not 18.0 <= self.iar_start_hours[0] <= self.iar_start_hours[1] < 24.0:
            raise ValueError("iar_start_hours must lie in 18-24 UT")
        if not 0.0 <= self.iar_end_hours[0] <= self.iar_end_hours[1] <= 6.0:
            raise ValueError("iar_end_hours must lie in 00-06 UT")
        lo, hi = self.iar_fringes
        if not 1 <= lo <= hi:
            raise ValueError("iar_fringes must be a range (lo, hi) with 1 <= lo <= hi")


def _params(overrides: dict[str, Any]) -> GroundParams:
    known = {f.name for f in dataclasses.fields(GroundParams)}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"unknown ground_station parameters: {sorted(unknown)}")
    return GroundParams(**overrides)


def _day_number(date: Any) -> int:
    d = np.datetime64(date, "ns")
    if d != d.astype("datetime64[D]"):
        raise ValueError(f"start must be a UTC midnight, got {date!r}")
    return int(d.astype("datetime64[D]").astype(np.int64))


def _comp_key(name: str) -> int:
    # stable across runs and independent of the order components were asked in
    return zlib.crc32(str(name).encode())


def _season_weight(day: np.ndarray | float, peak_doy: float) -> np.ndarray:
    """1 at day-of-year ``peak_doy``, 0 half a year away (raised cosine)."""
    d = np.asarray(day, dtype=np.int64).astype("datetime64[D]")
    doy = (d - d.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1
    return 0.5 * (1.0 + np.cos(2 * np.pi * (doy - peak_doy) / 365.2425))


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


# -- nights ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Night:
    evening: int  # day number of the evening
    p: float
    has_iar: bool
    t0: float  # absolute seconds since epoch
    t1: float
    ramp_in: float
    ramp_out: float
    df_mid: float
    df_coef: tuple[float, float, float, float, float]
    phi: tuple[float, float]
    contrast: float
    width: float
    n: np.ndarray  # harmonic numbers
    f_t0: np.ndarray
    f_t1: np.ndarray
    f_ramp: np.ndarray
    f_mod: np.ndarray
    f_period: np.ndarray
    f_phase: np.ndarray


@functools.lru_cache(maxsize=4096)
def _night(seed: int, evening: int, p: GroundParams) -> _Night:
    """Parameters of the night starting on day ``evening``, from that night's own RNG."""
    rng = np.random.default_rng([seed, _NIGHT, evening])
    # fixed draw order, independent of the outcome, so one parameter never shifts another
    w = float(_season_weight(evening, p.iar_peak_doy))
    prob = p.iar_rate_summer + (p.iar_rate_winter - p.iar_rate_summer) * w
    u_occ = rng.random()
    h0 = rng.uniform(*p.iar_start_hours)
    h1 = rng.uniform(*p.iar_end_hours)
    ramp_in, ramp_out = rng.uniform(1800, 5400, 2)
    df_mean = p.iar_delta_f_summer + (p.iar_delta_f_winter - p.iar_delta_f_summer) * w
    df_mid = float(np.clip(rng.normal(df_mean, p.iar_delta_f_sd), *p.iar_delta_f_range))
    # rise to a maximum in the night, a linear trend and a slow wiggle: a non-linear drift
    alpha = rng.uniform(-0.1, 0.35)
    beta = rng.uniform(-0.2, 0.2)
    gamma = rng.uniform(0.0, 0.08)
    nu = rng.uniform(0.5, 1.5)
    psi = rng.uniform(0, 2 * np.pi)
    phi0 = rng.uniform(0.1, 0.9)
    phi1 = rng.uniform(-0.2, 0.2)
    contrast = rng.uniform(*p.iar_contrast)
    width = rng.uniform(*p.iar_width)
    nfr = int(rng.integers(p.iar_fringes[0], p.iar_fringes[1] + 1))
    fmax_fr = p.iar_fringes[1]
    dur = (h1 + 24.0 - h0) * 3600.0
    f_start = rng.uniform(0.0, 0.3, fmax_fr) * dur
    f_end = rng.uniform(0.0, 0.3, fmax_fr) * dur
    f_ramp = rng.uniform(1200, 3600, fmax_fr)
    f_mod = rng.uniform(0.0, 0.4, fmax_fr)
    f_period = rng.uniform(1.5, 4.0, fmax_fr) * 3600.0
    f_phase = rng.uniform(0, 2 * np.pi, fmax_fr)

    t0 = evening * DAY_S + h0 * 3600.0
    t1 = (evening + 1) * DAY_S + h1 * 3600.0
    f0_mid = phi0 * df_mid
    n_min = max(1, int(np.ceil((p.iar_fmin - f0_mid) / df_mid)))
    return _Night(
        evening=evening,
        p=float(prob),
        has_iar=bool(u_occ < prob) and p.iar,
        t0=t0,
        t1=t1,
        ramp_in=float(ramp_in),
        ramp_out=float(ramp_out),
        df_mid=df_mid,
        df_coef=(alpha, beta, gamma, nu, psi),
        phi=(phi0, phi1),
        contrast=float(contrast),
        width=float(width),
        n=np.arange(n_min, n_min + nfr, dtype=float),
        f_t0=t0 + f_start[:nfr],
        f_t1=t1 - f_end[:nfr],
        f_ramp=f_ramp[:nfr],
        f_mod=f_mod[:nfr],
        f_period=f_period[:nfr],
        f_phase=f_phase[:nfr],
    )


def _night_df_f0(night: _Night, t: np.ndarray, p: GroundParams) -> tuple[np.ndarray, np.ndarray]:
    """Fringe spacing Δf(t) and offset f0(t) of a night, so ``f_n = f0 + n Δf``."""
    u = np.clip(2.0 * (t - 0.5 * (night.t0 + night.t1)) / (night.t1 - night.t0), -1.0, 1.0)
    alpha, beta, gamma, nu, psi = night.df_coef
    shape = 1.0 + alpha * (1.0 - u * u) + beta * u + gamma * np.sin(np.pi * nu * u + psi)
    df = np.clip(night.df_mid * shape, *p.iar_delta_f_range)
    f0 = (night.phi[0] + night.phi[1] * u) * df
    return df, f0


def _ramp(t: np.ndarray, t0: float, t1: float, r_in: float, r_out: float) -> np.ndarray:
    return _smoothstep((t - t0) / r_in) * _smoothstep((t1 - t) / r_out)


def _iar_relative(
    night: _Night, t: np.ndarray, f: np.ndarray, p: GroundParams, extra_sigma: float = 0.0
) -> np.ndarray:
    """IAR PSD divided by the background PSD ``B``, shape (t, f).

    ``extra_sigma`` (Hz) widens each fringe as the spectral windows of an estimator do,
    keeping its integrated power.
    """
    out = np.zeros((t.size, f.size))
    if not night.has_iar:
        return out
    sel = (t > night.t0) & (t < night.t1)
    if not sel.any():
        return out
    ts = t[sel]
    df, f0 = _night_df_f0(night, ts, p)
    env = _ramp(ts, night.t0, night.t1, night.ramp_in, night.ramp_out)
    sigma = night.width * df
    sig_eff = np.sqrt(sigma**2 + extra_sigma**2)
    fsel = f < p.iar_fmax + 1.0
    ff = f[fsel][None, :]
    acc = np.zeros((ts.size, ff.size))
    for i, n in enumerate(night.n):
        fn = f0 + n * df
        taper = _smoothstep((fn - (p.iar_fmin - 0.1)) / 0.2) * _smoothstep((p.iar_fmax - fn) / 0.5)
        vis = _ramp(ts, night.f_t0[i], night.f_t1[i], night.f_ramp[i], night.f_ramp[i])
        mod = (
            1.0 + night.f_mod[i] * np.sin(2 * np.pi * ts / night.f_period[i] + night.f_phase[i])
        ) / (1.0 + night.f_mod[i])
        amp = night.contrast * env * vis * mod * taper * sigma / sig_eff
        live = amp > 1e-4
        if not live.any():
            continue
        z = (ff - fn[live, None]) / sig_eff[live, None]
        acc[live] += amp[live, None] * np.exp(-0.5 * z * z)
    out[np.ix_(sel, fsel)] = acc
    return out


# -- days ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Day:
    day: int
    level: float  # log background level at this day's noon
    pc1: tuple[tuple[float, ...], ...]  # (t0, t1, f_base, rise, period, sweep, sigma, contrast)
    manmade: str  # "none", "continuous", "pulsing"
    manmade_on: tuple[tuple[float, float], ...]  # on intervals (s of day)
    manmade_phase: np.ndarray
    gap_hours: tuple[int, ...]
    lightning_t: np.ndarray  # seconds of day
    lightning_a: np.ndarray  # pT
    lightning_az: np.ndarray  # rad


@functools.lru_cache(maxsize=64)
def _level(seed: int, day: int) -> float:
    return float(np.random.default_rng([seed, _LEVEL, day]).standard_normal())


@functools.lru_cache(maxsize=64)
def _day(seed: int, day: int, p: GroundParams) -> _Day:
    """Events of one UTC day (shared by all components), from that day's own RNG."""
    rng = np.random.default_rng([seed, _DAY, day])
    # Pc1 pearl events, kept inside the day so that midnight never splits one
    n_pc1 = int(rng.poisson(p.pc1_rate))
    pc1 = []
    for _ in range(n_pc1):
        h = float(np.clip(rng.normal(p.pc1_peak_hour, p.pc1_hour_sd), 6.0, 20.0))
        dur = rng.uniform(0.5, 3.0) * 3600.0
        t0 = h * 3600.0
        t1 = min(t0 + dur, DAY_S - 600.0)
        pc1.append(
            (
                t0,
                t1,
                rng.uniform(0.6, 1.5),  # base frequency
                rng.uniform(0.1, 0.5),  # rise over the event
                rng.uniform(60.0, 200.0),  # pearl repetition period (s)
                rng.uniform(0.1, 0.3),  # frequency sweep of one rising-tone element
                rng.uniform(0.05, 0.1),  # band width (sd)
                rng.uniform(*p.pc1_contrast),
            )
        )
    # man-made interference
    u_mm, u_mode = rng.random(2)
    span0 = rng.uniform(0, 20) * 3600.0
    span1 = min(DAY_S, span0 + rng.uniform(2, 10) * 3600.0)
    # short bursts, one or two cube blocks long: the vertical stripes of the IAR paper's Fig. 1d
    on_d = rng.uniform(20, 200, 200)
    off_d = rng.uniform(60, 900, 200)
    phase = rng.uniform(0, 2 * np.pi, 64)
    mode = "none"
    on: list[tuple[float, float]] = []
    if u_mm < p.manmade_probability:
        if u_mode < p.manmade_pulsing_fraction:
            mode = "pulsing"
            t = span0
            for a, b in zip(on_d, off_d):
                if t >= span1:
                    break
                on.append((t, min(t + a, span1)))
                t += a + b
        else:
            mode = "continuous"
            on.append((span0, span1))
    # gaps: whole hours
    u_gap = rng.random()
    n_gap = int(rng.integers(1, 4))
    hours = rng.choice(24, 3, replace=False)
    gaps = tuple(sorted(int(h) for h in hours[:n_gap])) if u_gap < p.gap_probability else ()
    # lightning: more in summer and in the afternoon (thinning of a Poisson process)
    summer = float(_season_weight(day, 196.0))
    lam = p.lightning_rate * (0.5 + summer)
    n_max = int(rng.poisson(lam * 1.6))
    tl = rng.uniform(0, DAY_S, n_max)
    keep = rng.random(n_max) < (1.0 + 0.6 * np.cos(2 * np.pi * (tl / 3600.0 - 16.0) / 24.0)) / 1.6
    amp = p.lightning_scale * (1.0 + rng.pareto(p.lightning_tail, n_max))
    amp *= rng.choice([-1.0, 1.0], n_max)
    az = rng.uniform(0, 2 * np.pi, n_max)
    return _Day(
        day=day,
        level=_level(seed, day),
        pc1=tuple(pc1),
        manmade=mode,
        manmade_on=tuple(on),
        manmade_phase=phase,
        gap_hours=gaps,
        lightning_t=tl[keep],
        lightning_a=amp[keep],
        lightning_az=az[keep],
    )


def _background_shape(f: np.ndarray, p: GroundParams) -> np.ndarray:
    fk2 = p.background_knee**2
    s = ((f * f + fk2) / (1.0 + fk2)) ** (-0.5 * p.background_slope)
    return p.background_amplitude**2 * s + p.background_floor


def _background_env(t: np.ndarray, seed: int, p: GroundParams) -> np.ndarray:
    """Time factor of the background: diurnal cycle times a smooth day-to-day level."""
    h = (t % DAY_S) / 3600.0
    diurnal = 1.0 + p.background_diurnal_depth * np.cos(
        2 * np.pi * (h - p.background_peak_hour) / 24
    )
    if p.background_day_sigma == 0:
        return diurnal
    # level: per-day normal values at noon, cosine-interpolated between noons
    x = (t - 0.5 * DAY_S) / DAY_S
    d0 = np.floor(x).astype(np.int64)
    frac = x - d0
    w = 0.5 * (1.0 - np.cos(np.pi * frac))
    z = np.empty_like(t)
    for d in np.unique(d0):
        m = d0 == d
        z[m] = (1.0 - w[m]) * _level(seed, int(d)) + w[m] * _level(seed, int(d) + 1)
    return diurnal * np.exp(p.background_day_sigma * z)


def _schumann(t: np.ndarray, f: np.ndarray, p: GroundParams) -> np.ndarray:
    if not p.schumann:
        return np.zeros((t.size, f.size))
    h = (t % DAY_S) / 3600.0
    env = 1.0 + p.schumann_diurnal_depth * np.cos(2 * np.pi * (h - p.schumann_peak_hour) / 24)
    shape = np.zeros_like(f)
    for fc, a, g in zip(p.schumann_frequencies, p.schumann_psd, p.schumann_halfwidth):
        shape += a / (1.0 + ((f - fc) / g) ** 2)
    return env[:, None] * shape[None, :]


def _pc1(
    day: _Day, t: np.ndarray, f: np.ndarray, bshape: np.ndarray, env: np.ndarray
) -> np.ndarray:
    out = np.zeros((t.size, f.size))
    tod = t - day.day * DAY_S
    fsel = f < 3.5
    for t0, t1, fb, rise, period, sweep, sd, contrast in day.pc1:
        sel = (tod >= t0) & (tod <= t1)
        if not sel.any():
            continue
        ts = tod[sel]
        dur = t1 - t0
        e = np.sin(np.pi * (ts - t0) / dur) ** 2  # zero at both ends
        phase = ((ts - t0) / period) % 1.0
        fc = fb + rise * (ts - t0) / dur + sweep * phase  # rising-tone elements
        pearl = 0.4 + 0.6 * np.sin(np.pi * phase) ** 2
        z = (f[fsel][None, :] - fc[:, None]) / sd
        amp = contrast * e * pearl
        out[np.ix_(sel, fsel)] += amp[:, None] * np.exp(-0.5 * z * z) * bshape[fsel][None, :]
    return out * env[:, None]


def _model_psd(
    seed: int, t: np.ndarray, f: np.ndarray, p: GroundParams, day: _Day | None
) -> tuple[np.ndarray, np.ndarray]:
    """(non-IAR PSD, IAR PSD) at absolute times ``t`` (s since epoch) and frequencies ``f``.

    ``day`` supplies the Pc1 events; None leaves them out (they are zero at midnights).
    """
    bshape = _background_shape(f, p)
    env = _background_env(t, seed, p)
    base = env[:, None] * bshape[None, :] + _schumann(t, f, p)
    if day is not None and day.pc1:
        base += _pc1(day, t, f, bshape, env)
    iar = np.zeros_like(base)
    if p.iar:
        first = int(np.floor(t.min() / DAY_S)) - 1
        last = int(np.floor(t.max() / DAY_S))
        for e in range(first, last + 1):
            iar += _iar_relative(_night(seed, e, p), t, f, p)
        iar *= env[:, None] * bshape[None, :]
    return base, iar


# -- waveform --------------------------------------------------------------------------------


def _frame_scale(psd: np.ndarray, fs: float, nfft: int) -> np.ndarray:
    """Per-bin amplitude turning unit complex normals into frames whose PSD is ``psd``."""
    # E|X|^2 = nfft * fs * P / 2 for a one-sided PSD P; the extra 1/2 splits it over re/im
    scale = np.sqrt(psd * (0.25 * nfft * fs)).astype(np.float32)
    scale[:, 0] = 0.0  # no DC
    return scale


def _frame_noise(rng: np.random.Generator, scale: np.ndarray, nfft: int) -> np.ndarray:
    """Real frames of Gaussian noise with spectral amplitude ``scale`` (one row a frame)."""
    z = rng.standard_normal((*scale.shape, 2), dtype=np.float32).view(np.complex64)[..., 0]
    z *= scale
    return scipy.fft.irfft(z, n=nfft, axis=-1, workers=1)


def _sine_window(n: int) -> np.ndarray:
    # squares of two half-overlapping copies sum to exactly one
    return np.sin(np.pi * (np.arange(n) + 0.5) / n).astype(np.float32)


def _frame_geometry(fs: float, p: GroundParams) -> tuple[int, int]:
    hop = round(0.5 * p.frame_seconds * fs)
    if abs(hop - 0.5 * p.frame_seconds * fs) > 1e-6 or (DAY_S * round(fs)) % hop:
        raise ValueError(
            f"frame_seconds={p.frame_seconds} must give a whole-sample hop dividing a day"
        )
    return hop, 2 * hop


def _day_waveform(
    seed: int, day: int, p: GroundParams, fs: float, components: Sequence[str], dtype: str
) -> np.ndarray:
    """One UTC day, all components: the unit of work and of reproducibility."""
    n = round(DAY_S * fs)
    hop, nfft = _frame_geometry(fs, p)
    k = n // hop
    f = np.fft.rfftfreq(nfft, 1.0 / fs)
    t_frames = day * DAY_S + np.arange(1, k) * (hop / fs)
    ev = _day(seed, day, p)
    base, iar = _model_psd(seed, t_frames, f, p, ev)
    base += iar
    scale = _frame_scale(base, fs, nfft)
    del base, iar
    # the midnight frames: a single-row evaluation so both days compute identical bits
    edge = [
        _frame_scale(sum(_model_psd(seed, np.array([float(d * DAY_S)]), f, p, None)), fs, nfft)
        for d in (day, day + 1)
    ]
    win = _sine_window(nfft)
    out = np.empty((len(components), n), dtype=dtype)
    for ci, comp in enumerate(components):
        key = _comp_key(comp)
        y = np.empty((k + 1, nfft), np.float32)
        y[1:k] = _frame_noise(np.random.default_rng([seed, _NOISE, day, key]), scale, nfft)
        for row, d, e in ((0, day, edge[0]), (k, day + 1, edge[1])):
            y[row] = _frame_noise(np.random.default_rng([seed, _EDGE, d, key]), e, nfft)[0]
        y *= win
        x = (y[:-1, hop:] + y[1:, :hop]).reshape(-1).astype(np.float64)
        del y
        _add_manmade(x, ev, p, fs, np.random.default_rng([seed, _DAY, day, key]))
        _add_lightning(x, ev, comp, fs)
        if p.saturation is not None:
            np.clip(x, -p.saturation, p.saturation, out=x)
        for h in ev.gap_hours:
            x[round(h * 3600 * fs) : round((h + 1) * 3600 * fs)] = np.nan
        out[ci] = x
    return out


def _add_manmade(
    x: np.ndarray, ev: _Day, p: GroundParams, fs: float, rng: np.random.Generator
) -> None:
    if ev.manmade == "none":
        return
    if ev.manmade == "pulsing" and p.manmade_broadband_psd > 0:
        sd = np.sqrt(p.manmade_broadband_psd * fs / 2)
        for a, b in ev.manmade_on:
            i0, i1 = round(a * fs), round(b * fs)
            x[i0:i1] += sd * rng.standard_normal(i1 - i0)
    period = fs / p.manmade_frequency
    nh = int(min(len(ev.manmade_phase), np.floor(0.5 * fs / p.manmade_frequency - 1e-9)))
    kk = np.arange(1, nh + 1)[:, None]
    phase = ev.manmade_phase[:nh, None]
    if abs(period - round(period)) < 1e-9:
        # an exactly periodic waveform: one period, indexed by sample number modulo it
        m = round(period)
        tmpl = p.manmade_amplitude * np.cos(2 * np.pi * kk * np.arange(m) / m + phase).sum(0)
        for a, b in ev.manmade_on:
            i0, i1 = round(a * fs), round(b * fs)
            x[i0:i1] += tmpl[np.arange(i0, i1) % m]
    else:
        for a, b in ev.manmade_on:
            i0, i1 = round(a * fs), round(b * fs)
            tt = np.arange(i0, i1) / fs
            for j in range(nh):
                x[i0:i1] += p.manmade_amplitude * np.cos(
                    2 * np.pi * (j + 1) * p.manmade_frequency * tt + ev.manmade_phase[j]
                )


_SFERIC = np.exp(-np.arange(16) / 3.0) * np.cos(2 * np.pi * 0.12 * np.arange(16))


def _add_lightning(x: np.ndarray, ev: _Day, comp: str, fs: float) -> None:
    if ev.lightning_t.size == 0:
        return
    # the horizontal field of a distant stroke projects on H and D by its azimuth
    gain = {"H": np.cos(ev.lightning_az), "D": np.sin(ev.lightning_az)}.get(
        str(comp), np.cos(ev.lightning_az + _comp_key(comp) % 7)
    )
    i0 = np.round(ev.lightning_t * fs).astype(np.int64)
    idx = i0[:, None] + np.arange(_SFERIC.size)[None, :]
    val = (ev.lightning_a * gain)[:, None] * _SFERIC[None, :]
    ok = idx < x.size
    np.add.at(x, idx[ok], val[ok])


def ground_station(
    start: str | np.datetime64 = "2013-01-01",
    days: int = 30,
    seed: int = 0,
    *,
    station: str = "ESK",
    latitude: float = 55.3,
    longitude: float = -3.2,
    components: Sequence[str] = ("H", "D"),
    sampling_rate: float = 100.0,
    dtype: str = "float32",
    **params: Any,
) -> xr.DataArray:
    """A lazy synthetic search-coil record with IARs, Schumann resonances and disturbances.

    Parameters
    ----------
    start : str or datetime64
        First day, a UTC midnight.
    days : int
        Number of days.
    seed : int
        Seed of every random stream; a day's content depends only on (seed, date, params).
    station, latitude, longitude : str, float
        Station metadata (attrs); defaults are Eskdalemuir.
    components : sequence of str
        Component names; each has its own noise.
    sampling_rate : float
        Samples per second.
    dtype : str
        Output dtype.
    **params
        Overrides of :class:`GroundParams` fields.

    Returns
    -------
    xr.DataArray
        Dims ``(component, time)`` in pT, one Dask task and chunk per day (nothing is
        computed here). attrs: ``sampling_rate``, ``units``, ``station``, ``latitude``,
        ``longitude``, ``altitude_km``, ``start_time``, ``saturation`` and ``synth_params``
        (JSON of every generator parameter, read by :func:`iar_truth`).

    Examples
    --------
    >>> wave = ground_station("2013-02-14", days=2, seed=1)
    >>> wave.sizes["time"], wave.data.numblocks
    (17280000, (1, 2))
    """
    p = _params(params)
    fs = float(sampling_rate)
    day0 = _day_number(start)
    days = int(days)
    if days < 1:
        raise ValueError("days must be >= 1")
    n_day = round(DAY_S * fs)
    if abs(n_day - DAY_S * fs) > 1e-6:
        raise ValueError("sampling_rate must give a whole number of samples a day")
    _frame_geometry(fs, p)
    components = tuple(str(c) for c in components)
    ncomp = len(components)

    def block(block_id=None):
        return _day_waveform(seed, day0 + block_id[1], p, fs, components, dtype)

    token = json.dumps([seed, day0, days, fs, components, dtype, dataclasses.asdict(p)])
    data = da.map_blocks(
        block,
        chunks=((ncomp,), (n_day,) * days),
        dtype=np.dtype(dtype),
        meta=np.empty((0, 0), dtype=dtype),
        name=f"ground-station-{zlib.crc32(token.encode()):08x}-{len(token)}",
    )
    start_ns = np.datetime64(day0, "D").astype("datetime64[ns]")
    coords = regular_time_coords(start_ns, n_day * days, fs, chunks=n_day, components=components)
    synth = {
        "generator": "xspecseg.synth.ground_station",
        "seed": int(seed),
        "start": str(np.datetime64(day0, "D")),
        "days": days,
        "sampling_rate": fs,
        "components": list(components),
        **dataclasses.asdict(p),
    }
    attrs = {
        "sampling_rate": fs,
        "units": "pT",
        "station": station,
        "latitude": float(latitude),
        "longitude": float(longitude),
        "altitude_km": 0.24,
        "start_time": str(start_ns),
        "saturation": "none" if p.saturation is None else float(p.saturation),
        "synth_params": json.dumps(synth),
        "long_name": "synthetic search-coil magnetic field",
    }
    return xr.DataArray(data, coords=coords, dims=("component", "time"), name="b", attrs=attrs)


# -- truth -----------------------------------------------------------------------------------


def _synth_from_attrs(attrs: dict[str, Any]) -> tuple[int, GroundParams]:
    raw = attrs.get("synth_params")
    if raw is None:
        raise ValueError("the cube has no 'synth_params' attribute: not from ground_station?")
    sp = json.loads(raw) if isinstance(raw, str) else dict(raw)
    if sp.get("generator", "xspecseg.synth.ground_station") != "xspecseg.synth.ground_station":
        raise ValueError(f"synth_params come from {sp['generator']}, not ground_station")
    names = {f.name for f in dataclasses.fields(GroundParams)}
    return int(sp["seed"]), GroundParams(**{k: v for k, v in sp.items() if k in names})


@functools.lru_cache(maxsize=32)
def _window_sigma(name: str, n: int, fs: float) -> float:
    """RMS width (Hz) of a window's power response over its main lobe."""
    import scipy.signal

    w = _sine_window(n).astype(float) if name == "sine" else scipy.signal.get_window(name, n)
    over = 32
    r = np.abs(np.fft.rfft(w, over * n)) ** 2
    ff = np.fft.rfftfreq(over * n, 1.0 / fs)
    # main lobe: up to the first minimum
    k = int(np.argmax(np.diff(r) > 0)) + 1
    r, ff = r[:k], ff[:k]
    return float(np.sqrt(np.sum(r * ff**2) / np.sum(r)))


def iar_truth(cube: xr.Dataset | xr.DataArray, threshold: float = 0.5) -> xr.DataArray:
    """Where a cube built from :func:`ground_station` carries injected IAR power.

    The IAR and background PSDs are evaluated analytically at each block centre and
    frequency from the seeds in ``cube.attrs["synth_params"]`` (no waveform is made). The
    fringes are widened by the spectral windows of the synthesis frames and of the cube's
    Welch segments (Gaussian approximation, power kept).

    Parameters
    ----------
    cube : xr.Dataset or xr.DataArray
        Spectrogram cube (or its ``psd``) with coords ``time`` (block starts) and
        ``frequency`` and attrs ``synth_params``, ``block_seconds``, ``nperseg``,
        ``sampling_rate`` and ``window``.
    threshold : float
        A pixel is True where the expected IAR PSD is at least ``threshold`` times the
        expected non-IAR PSD (background + Schumann + Pc1) there. With the default 0.5 a
        truth pixel's expected PSD is at least 1.5 times what it would be without IARs.
        Pixels where the cube holds no data in any component (gaps: NaN PSD) are False.

    Returns
    -------
    xr.DataArray
        bool, dims ``(time, frequency)`` on the cube's grid, named ``iar_truth``. The
        same for every component (IAR power is injected equally in all).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> wave = ground_station("2013-02-14", days=2, seed=1, components=("H",))
    >>> t = np.arange("2013-02-14", "2013-02-16", np.timedelta64(100, "s"), dtype="M8[ns]")
    >>> grid = xr.Dataset(coords={"time": t, "frequency": np.linspace(0, 10, 410)},
    ...                   attrs={**wave.attrs, "block_seconds": 100.0, "nperseg": 4096})
    >>> iar_truth(grid).dims
    ('time', 'frequency')
    """
    attrs = cube.attrs
    seed, p = _synth_from_attrs(attrs)
    sp = json.loads(attrs["synth_params"])
    fs = float(attrs.get("sampling_rate", sp["sampling_rate"]))
    block = float(attrs.get("block_seconds", 100.0))
    nperseg = int(attrs.get("nperseg", 4096))
    window = attrs.get("window", "hann")
    _, nfft_synth = _frame_geometry(float(sp["sampling_rate"]), p)
    extra = np.hypot(
        _window_sigma("sine", nfft_synth, float(sp["sampling_rate"])),
        _window_sigma(str(window), nperseg, fs),
    )
    times = np.asarray(cube["time"].values).astype("datetime64[ns]").astype(np.int64)
    t = times / NS_PER_S + 0.5 * block
    f = np.asarray(cube["frequency"].values, dtype=float)
    mask = np.zeros((t.size, f.size), dtype=bool)
    if p.iar and t.size:
        # only blocks inside some night with IARs need the model
        first = int(np.floor(t.min() / DAY_S)) - 1
        last = int(np.floor(t.max() / DAY_S))
        for e in range(first, last + 1):
            night = _night(seed, e, p)
            if not night.has_iar:
                continue
            sel = np.flatnonzero((t > night.t0) & (t < night.t1))
            if sel.size == 0:
                continue
            ts = t[sel]
            rel = _iar_relative(night, ts, f, p, extra_sigma=extra)
            bshape = _background_shape(f, p)
            env = _background_env(ts, seed, p)
            b = env[:, None] * bshape[None, :]
            base = b + _schumann(ts, f, p)
            for d in np.unique(np.floor(ts / DAY_S).astype(np.int64)):
                ev = _day(seed, int(d), p)
                if ev.pc1:
                    m = np.floor(ts / DAY_S) == d
                    base[m] += _pc1(ev, ts[m], f, bshape, env[m])
            mask[sel] = rel * b >= threshold * base
    psd = cube.get("psd") if isinstance(cube, xr.Dataset) else cube
    if psd is not None and psd.size and "frequency" in psd.dims and "time" in psd.dims:
        # a gap records no IAR: no truth where no component holds data
        other = [d for d in psd.dims if d not in ("time", "frequency")]
        recorded = psd.notnull()
        if other:
            recorded = recorded.any(other)
        mask &= np.asarray(recorded.transpose("time", "frequency").values, dtype=bool)
    return xr.DataArray(
        mask,
        dims=("time", "frequency"),
        coords={"time": cube["time"].values, "frequency": f},
        name="iar_truth",
        attrs={
            "long_name": "injected IAR power above threshold x non-IAR PSD",
            "threshold": float(threshold),
        },
    )


def iar_truth_nights(
    start: str | np.datetime64 = "2013-01-01", days: int = 365, seed: int = 0, **params: Any
) -> xr.Dataset:
    """Per-night IAR parameters without generating a waveform (the fast path for statistics).

    One night per day of the window, named by its evening date (a night runs from that
    evening into the next morning).

    Parameters
    ----------
    start, days, seed, **params
        As for :func:`ground_station`.

    Returns
    -------
    xr.Dataset
        Dim ``night`` (datetime64 of the evening date): ``has_iar``, ``rate`` (the
        configured occurrence probability that night), ``start_time``/``end_time`` of the
        IAR interval, ``delta_f`` (median Δf through the night, Hz), ``delta_f_min``,
        ``delta_f_max``, ``f0`` (median offset), ``n_fringes``, ``f_lowest`` (median
        frequency of the lowest fringe), ``contrast`` and ``season`` (DJF/MAM/JJA/SON).
        Parameters of nights without IARs are what they would have been.

    Examples
    --------
    >>> nights = iar_truth_nights("2013-01-01", days=365, seed=0)
    >>> winter = nights.has_iar[nights.season == "DJF"].mean()
    >>> summer = nights.has_iar[nights.season == "JJA"].mean()
    >>> bool(winter > summer)
    True
    """
    p = _params(params)
    day0 = _day_number(start)
    rows = []
    for e in range(day0, day0 + int(days)):
        night = _night(seed, e, p)
        tt = np.linspace(night.t0, night.t1, 145)
        df, f0 = _night_df_f0(night, tt, p)
        rows.append(
            (
                night.has_iar,
                night.p,
                night.t0,
                night.t1,
                np.median(df),
                df.min(),
                df.max(),
                np.median(f0),
                night.n.size,
                np.median(f0 + night.n[0] * df),
                night.contrast,
            )
        )
    cols = list(zip(*rows)) if rows else [()] * 11
    dates = np.arange(day0, day0 + int(days)).astype("datetime64[D]").astype("datetime64[ns]")
    month = (dates.astype("datetime64[M]").astype(int) % 12) + 1
    season = np.array(
        ["DJF", "DJF", "MAM", "MAM", "MAM", "JJA", "JJA", "JJA", "SON", "SON", "SON", "DJF"]
    )[month - 1]

    def sec(x):
        return (np.asarray(x, float) * NS_PER_S).astype(np.int64).astype("datetime64[ns]")

    return xr.Dataset(
        {
            "has_iar": ("night", np.asarray(cols[0], bool)),
            "rate": ("night", np.asarray(cols[1], float)),
            "start_time": ("night", sec(cols[2])),
            "end_time": ("night", sec(cols[3])),
            "delta_f": ("night", np.asarray(cols[4], float), {"units": "Hz"}),
            "delta_f_min": ("night", np.asarray(cols[5], float), {"units": "Hz"}),
            "delta_f_max": ("night", np.asarray(cols[6], float), {"units": "Hz"}),
            "f0": ("night", np.asarray(cols[7], float), {"units": "Hz"}),
            "n_fringes": ("night", np.asarray(cols[8], int)),
            "f_lowest": ("night", np.asarray(cols[9], float), {"units": "Hz"}),
            "contrast": ("night", np.asarray(cols[10], float)),
            "season": ("night", season),
        },
        coords={"night": dates},
        attrs={"seed": int(seed), "synth_params": json.dumps(dataclasses.asdict(p))},
    )


def disturbances(
    start: str | np.datetime64 = "2013-01-01", days: int = 30, seed: int = 0, **params: Any
) -> xr.Dataset:
    """Per-day disturbance schedule of :func:`ground_station`, without a waveform.

    Returns
    -------
    xr.Dataset
        Dim ``day``: ``manmade`` ("none"/"continuous"/"pulsing"), ``manmade_seconds``
        (time the source is on), ``gap_hours`` (count of missing whole hours),
        ``gap_mask`` (day, hour) bool, ``pc1_events``, ``lightning``.

    Examples
    --------
    >>> dist = disturbances("2013-01-01", days=10, seed=0)
    >>> dist.gap_mask.dims
    ('day', 'hour')
    """
    p = _params(params)
    day0 = _day_number(start)
    evs = [_day(seed, d, p) for d in range(day0, day0 + int(days))]
    gm = np.zeros((len(evs), 24), bool)
    for i, ev in enumerate(evs):
        gm[i, list(ev.gap_hours)] = True
    dates = np.arange(day0, day0 + int(days)).astype("datetime64[D]").astype("datetime64[ns]")
    return xr.Dataset(
        {
            "manmade": ("day", np.array([ev.manmade for ev in evs], dtype=object)),
            "manmade_seconds": (
                "day",
                np.array([sum(b - a for a, b in ev.manmade_on) for ev in evs], float),
            ),
            "gap_hours": ("day", gm.sum(1)),
            "gap_mask": (("day", "hour"), gm),
            "pc1_events": ("day", np.array([len(ev.pc1) for ev in evs], int)),
            "lightning": ("day", np.array([ev.lightning_t.size for ev in evs], int)),
        },
        coords={"day": dates, "hour": np.arange(24)},
    )

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
  day-to-day log-normal level that is smoothly interpolated between noons; optionally the
  slope itself changes with the UT hour (a steep night background);
- Schumann resonances: Lorentzian bumps at 7.8, 14.3, 20.8 Hz whose strength follows the
  global thunderstorm clock (maximum near 16 UT);
- IARs at night (18-06 UT): 3-12 fringes ``f_n(t) = f0(t) + n * df(t)``, Gaussian in
  frequency with a width of about a quarter of ``df``, peak PSD ``contrast * B`` (contrast
  0.8-2, so a peak-to-trough ratio near 2), each fringe appearing and fading on its own;
  ``df`` drifts non-linearly (a rise to a maximum, a trend, a slow wiggle and optionally a
  smooth random walk); occurrence and ``df`` are highest around the winter solstice; some
  nights have none, and optionally some nights have them for only part of the night;
- Pc1 pearl pulsations: 0.5-2 Hz bands of rising-tone elements, mostly in the afternoon
  and optionally also at night;
- man-made harmonics on some days, either continuous or pulsing on and off (the vertical
  stripes of the IAR paper's Fig. 1d), at 1 Hz or a fundamental drawn per day, optionally
  at night;
- lightning impulses (heavy-tailed amplitudes, more on summer afternoons), optionally
  night-time sferic bursts (clusters of impulses: broadband vertical stripes), whole
  missing hours (NaN) on some days, optionally one component missing for a whole day, and
  clipping at ``saturation``;
- optionally storm hours: a night interval of elevated, irregularly pulsating (Pi-like)
  broadband noise with a possibly steeper spectrum, during which IARs are suppressed (they
  are favoured on quiet nights).

Every optional ingredient is off by default and draws from RNG streams of its own, so the
defaults give the same bits as before the options existed. :func:`randomised_ground_params`
draws a domain-randomised set of overrides (level, slope, Schumann, fringes, hard negatives).

Hard negatives (Pc1, man-made lines, lightning, sferic bursts, storm noise) never enter the
truth; the model-PSD ones (Pc1, storm) raise the non-IAR PSD that the truth compares with.

Not modelled: geomagnetic-activity control of IAR occurrence beyond storm hours,
polarisation and the correlation between components (each component has its own noise;
the IAR, Pc1, storm and Schumann PSDs are the same on every component).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import zlib
from collections.abc import Sequence
from typing import Any, Literal

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
    "randomised_ground_params",
]

DAY_S = 86400
# RNG stream tags: the first word after the seed, so streams never collide.
_NIGHT, _DAY, _NOISE, _EDGE, _LEVEL = 1, 2, 3, 4, 5
# streams of the optional ingredients: drawing from them never shifts an older stream
_STORM, _PC1N, _BURST, _MANMADE, _MISSING, _PARTIAL, _WALK, _RANDOM = 6, 7, 8, 9, 10, 11, 12, 13
_SLOPE, _FADE, _BAND, _PROFILE = 14, 15, 16, 17

#: Most harmonics a band night draws (10 Hz at the smallest spacing, 0.3 Hz).
_BAND_HARMONICS = 40

#: How a station's background passes from one UTC day to the next (see ``GroundParams``).
DayChange = Literal["smooth", "step"]


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
    background_slope_diurnal, background_slope_peak_hour : float
        The spectral index is ``slope + diurnal * cos(2 pi (h - peak) / 24)``: a positive
        ``diurnal`` with the default peak at 00 UT makes the night background steeper
        (more power just above the 0.5 Hz band edge, less above a few Hz). 0 = constant.
    background_slope_day_sd : float
        Standard deviation of a day's own change of the spectral index (each UTC day draws
        one, as the ground conditions and the sensor's temperature change from day to day;
        the index stays within 0.3-3.5). 0 (the default): the same index every day.
    background_day_change : {"smooth", "step"}
        How a day's level (``background_day_sigma``) and index change pass to the next
        day's: ``"smooth"`` moves from noon to noon, ``"step"`` holds each from 00 to 24 UT
        and changes at midnight, in the middle of a night (daily files processed apart, a
        gain or filter set anew each day).
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
    iar_delta_f_walk : float
        RMS (fraction of Δf) of a smooth random walk added to Δf's drift through the night
        (knots every 20 min); 0 = none.
    iar_delta_f_drift : float
        Exponent applied to the night's drift of Δf (its ratio to the mid-night value): 1
        keeps the drawn drift (Δf within about 0.6-1.6 times its mid-night value), 2 squares
        it, so that Δf changes by a factor of up to about 2.5 (median 1.8) through a night,
        as it follows the F-region density after sunset and before dawn.
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
    iar_partial_probability : float
        Probability that a night's IARs last only part of that interval: a sub-interval
        of ``iar_partial_fraction`` of its length, placed at random inside it.
    iar_partial_fraction : (float, float)
        Range of that fraction.
    iar_fade : (float, float)
        Range of the depth of a night's fading: all its fringes brighten and fade together
        (the resonator's reflection and the Alfvén-wave noise that drives it change within
        tens of minutes), their relative PSD multiplied by ``1 - depth * (1 + s(t)) / 2``,
        ``s`` a sum of three sines normalised to [-1, 1]. (0, 0), the default: no fading.
    iar_fade_minutes : (float, float)
        Range of the periods of those sines (minutes).
    iar_band_probability : float
        Share of IAR nights whose fringes fill a frequency band instead of being a fixed
        set of harmonics: the band holds the drawn count at the night's middle spacing,
        and as Δf shrinks more harmonics enter it (a resonator driven by band-limited
        noise), as Δf grows fewer. 0 (the default): every night a fixed set.
    iar_lorentzian_probability : float
        Share of IAR nights whose fringes are Lorentzian in frequency (the transmission of
        a Fabry–Pérot resonator of low finesse: each fringe's tails fill the troughs
        between it and its neighbours) instead of Gaussian. 0 (the default): all Gaussian.
    iar_lorentzian_width : (float, float)
        Range of a Lorentzian night's fringe half width at half maximum, as a fraction of
        Δf (0.25: the troughs between equal neighbours hold about 0.4 of a crest's IAR
        power, a finesse near 4).
    pc1_rate : float
        Mean number of Pc1 events a day (Poisson).
    pc1_peak_hour, pc1_hour_sd : float
        Start hours are normal around ``pc1_peak_hour`` (clipped to 06-20 UT).
    pc1_contrast : (float, float)
        Range of Pc1 peak PSD relative to the background.
    pc1_night_rate : float
        Mean number of night-time (18-05 UT) Pc1 rising-tone events a day (Poisson), kept
        within 0.5-2 Hz: hard negatives for the IAR detector. 0 = none.
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
    manmade_frequency_range : (float, float) or None
        When set, each man-made day draws its fundamental log-uniformly from this range
        (rounded to a whole number of samples per period) instead of ``manmade_frequency``.
    manmade_night_fraction : float
        Fraction of man-made days whose source runs at night (starting 18-04 UT).
    manmade_harmonic_fmax : float or None
        Highest harmonic frequency (Hz); None: up to the Nyquist frequency (64 at most).
    lightning_rate : float
        Mean number of lightning impulses a day (before seasonal/diurnal modulation).
    lightning_scale, lightning_tail : float
        Impulse amplitudes are ``scale * (1 + Pareto(tail))`` pT.
    sferic_burst_rate : float
        Mean number of night-time (18-06 UT) sferic bursts a day (Poisson): clusters of
        30-300 impulses within 5-120 s from one azimuth, broadband vertical stripes. 0 = none.
    sferic_burst_scale : float
        Impulse amplitudes in a burst are ``scale * (1 + Pareto(lightning_tail))`` pT.
    storm_probability : float
        Probability that a night has storm hours: elevated broadband noise with irregular
        (Pi-like) pulsations, starting 17-04 UT. 0 = never.
    storm_hours : (float, float)
        Range of a storm's duration (hours).
    storm_level : (float, float)
        Range (log-uniform) of the storm noise PSD relative to the background at 1 Hz.
    storm_slope : (float, float)
        Range of how much steeper the storm noise spectrum is than the background.
    storm_iar_suppression : float
        Fraction of the IAR PSD removed during storm hours (1: no IARs then).
    gap_probability : float
        Probability that a day has 1-3 whole missing hours (NaN).
    missing_component_probability : float
        Probability that one component (of those generated) is NaN for a whole day.
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
    background_slope_diurnal: float = 0.0
    background_slope_peak_hour: float = 0.0
    background_slope_day_sd: float = 0.0
    background_day_change: DayChange = "smooth"
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
    iar_delta_f_walk: float = 0.0
    iar_delta_f_drift: float = 1.0
    iar_fringes: tuple[int, int] = (3, 12)
    iar_fmin: float = 0.5
    iar_fmax: float = 6.0
    iar_contrast: tuple[float, float] = (0.8, 2.0)
    iar_width: tuple[float, float] = (0.08, 0.13)
    iar_start_hours: tuple[float, float] = (18.0, 20.5)
    iar_end_hours: tuple[float, float] = (3.5, 6.0)
    iar_partial_probability: float = 0.0
    iar_partial_fraction: tuple[float, float] = (0.25, 0.6)
    iar_fade: tuple[float, float] = (0.0, 0.0)
    iar_fade_minutes: tuple[float, float] = (30.0, 120.0)
    iar_band_probability: float = 0.0
    iar_lorentzian_probability: float = 0.0
    iar_lorentzian_width: tuple[float, float] = (0.05, 0.25)
    pc1_rate: float = 0.5
    pc1_peak_hour: float = 14.0
    pc1_hour_sd: float = 2.5
    pc1_contrast: tuple[float, float] = (3.0, 10.0)
    pc1_night_rate: float = 0.0
    manmade_probability: float = 0.1
    manmade_frequency: float = 1.0
    manmade_amplitude: float = 0.3
    manmade_pulsing_fraction: float = 0.6
    manmade_broadband_psd: float = 0.1
    manmade_frequency_range: tuple[float, float] | None = None
    manmade_night_fraction: float = 0.0
    manmade_harmonic_fmax: float | None = None
    lightning_rate: float = 300.0
    lightning_scale: float = 4.0
    lightning_tail: float = 1.5
    sferic_burst_rate: float = 0.0
    sferic_burst_scale: float = 10.0
    storm_probability: float = 0.0
    storm_hours: tuple[float, float] = (1.0, 5.0)
    storm_level: tuple[float, float] = (3.0, 30.0)
    storm_slope: tuple[float, float] = (0.0, 1.0)
    storm_iar_suppression: float = 1.0
    gap_probability: float = 0.05
    missing_component_probability: float = 0.0
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
        probs = (
            "iar_band_probability",
            "iar_lorentzian_probability",
            "iar_partial_probability",
            "manmade_night_fraction",
            "storm_probability",
            "storm_iar_suppression",
            "missing_component_probability",
        )
        for name in probs:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in 0-1")
        for name in ("pc1_night_rate", "sferic_burst_rate", "iar_delta_f_walk"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if not self.iar_delta_f_drift > 0:
            raise ValueError("iar_delta_f_drift must be > 0")
        if self.background_slope_day_sd < 0:
            raise ValueError("background_slope_day_sd must be >= 0")
        if self.background_day_change not in ("smooth", "step"):
            raise ValueError(
                f"background_day_change must be 'smooth' or 'step', got "
                f"{self.background_day_change!r}"
            )
        if not 0.0 <= self.iar_fade[0] <= self.iar_fade[1] <= 1.0:
            raise ValueError("iar_fade must be a range (lo, hi) with 0 <= lo <= hi <= 1")
        if not 0.0 < self.iar_fade_minutes[0] <= self.iar_fade_minutes[1]:
            raise ValueError("iar_fade_minutes must be a range (lo, hi) with 0 < lo <= hi")
        if not 0.0 < self.iar_lorentzian_width[0] <= self.iar_lorentzian_width[1]:
            raise ValueError("iar_lorentzian_width must be a range (lo, hi) with 0 < lo <= hi")
        rng = self.manmade_frequency_range
        if rng is not None and not 0 < rng[0] <= rng[1]:
            raise ValueError("manmade_frequency_range must be (lo, hi) with 0 < lo <= hi")


def _params(overrides: dict[str, Any]) -> GroundParams:
    known = {f.name for f in dataclasses.fields(GroundParams)}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"unknown ground_station parameters: {sorted(unknown)}")
    return GroundParams(**overrides)


def randomised_ground_params(seed: int) -> dict[str, Any]:
    """One domain-randomised set of :class:`GroundParams` overrides, deterministic in ``seed``.

    For training detectors that must work on real and independent records: every station
    property the default world fixes is drawn, and hard negatives (night-time look-alikes
    that are never in the truth) are switched on with substantial probability. Ranges
    (U: uniform, logU: log-uniform; "w.p.": with probability):

    - absolute level: ``k`` = logU(1e-3, 1e3) times today's (a station may record fT, pT or
      nT); every absolute amplitude scales by ``k`` (``background_amplitude``,
      ``manmade_amplitude``, ``lightning_scale``, ``sferic_burst_scale``, ``saturation``)
      and every absolute PSD by ``k**2`` (``background_floor``, ``schumann_psd``,
      ``manmade_broadband_psd``), each also with its own spread of at most 10x;
    - background: slope α U(0.5, 3); its diurnal change U(-0.5, 1) (kept so the slope
      stays within 0.3-3.5; positive: steeper at night), peaking at 22-02 UT; knee
      U(0.15, 0.45) Hz; diurnal depth U(0, 0.6); day-to-day sigma U(0.05, 0.4); steep
      nights leave a ridge just above the 0.5 Hz band-pass edge;
    - Schumann: PSD factor logU(0.2, 5), half width (1/Q) factor U(0.6, 1.6), centres
      jittered by up to ±0.4 Hz;
    - IARs: rates winter U(0.3, 1), summer U(0, winter) (IAR-free nights stay common);
      fringe count range within 2-10; Δf in 0.3-1.5 Hz (clip range (0.3, 1.5)); Δf random
      walk U(0, 0.1) w.p. 0.5; fringe width (fraction of Δf) within 0.06-0.2; contrast
      within 0.3-2 (peak-to-trough about 1.3-3); ``iar_fmax`` U(5, 10) Hz (fringes may cross
      the first Schumann mode); start 18-23 UT, end 01-06 UT; partial nights w.p. U(0, 0.5);
    - hard negatives: night Pc1 rate U(0.5, 3) a day w.p. 0.6 (daytime rate U(0, 1.5));
      man-made days w.p. U(0.1, 0.7), pulsing fraction U(0.3, 1), fundamental 1 Hz (w.p. 0.4)
      or drawn per day within 0.5-5 Hz, at night w.p. U(0.2, 0.8), harmonics up to U(10, 50)
      Hz; sferic bursts U(1, 15) a day w.p. 0.6; storm nights w.p. U(0.1, 0.5) (w.p. 0.7,
      else none), storm level within 2-100x, up to 1.5 steeper, IAR suppression U(0.6, 1);
      lightning logU(30, 3000) a day, tail U(1.2, 2.5); gap days U(0, 0.2); a missing
      component w.p. U(0, 0.2) a day; clipping off w.p. 0.4, else at ``k`` x logU(30, 500).

    Examples
    --------
    >>> over = randomised_ground_params(7)
    >>> over == randomised_ground_params(7)
    True
    >>> p = GroundParams(**over)
    >>> 0.5 <= p.background_slope <= 3.0 and 2 <= p.iar_fringes[0] <= p.iar_fringes[1] <= 10
    True
    >>> wave = ground_station("2013-01-10", days=1, seed=3, components=("H",), **over)
    """
    rng = np.random.default_rng([int(seed), _RANDOM])
    k = float(10.0 ** rng.uniform(-3.0, 3.0))
    out = _random_background(rng, k)
    out.update(_random_iar(rng))
    out.update(_random_negatives(rng, k))
    return out


def _logu(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _maybe(rng: np.random.Generator, prob: float, lo: float, hi: float) -> float:
    """U(lo, hi) with probability ``prob``, else 0 (always two draws)."""
    u, v = rng.random(), float(rng.uniform(lo, hi))
    return v if u < prob else 0.0


def _random_background(rng: np.random.Generator, k: float) -> dict[str, Any]:
    d = GroundParams()
    slope = float(rng.uniform(0.5, 3.0))
    lo = max(-0.5, 0.3 - slope, slope - 3.5)
    hi = min(1.0, 3.5 - slope, slope - 0.3)
    sch = _logu(rng, 0.2, 5.0)
    hw = float(rng.uniform(0.6, 1.6))
    jitter = np.clip(rng.normal(0.0, 0.15, 3), -0.4, 0.4)
    return {
        "background_amplitude": k,
        "background_slope": slope,
        "background_slope_diurnal": float(rng.uniform(lo, hi)),
        "background_slope_peak_hour": float(rng.uniform(-2.0, 2.0) % 24.0),
        "background_knee": float(rng.uniform(0.15, 0.45)),
        "background_floor": d.background_floor * k * k * _logu(rng, 0.1, 10.0),
        "background_diurnal_depth": float(rng.uniform(0.0, 0.6)),
        "background_peak_hour": float(rng.uniform(10.0, 16.0)),
        "background_day_sigma": float(rng.uniform(0.05, 0.4)),
        "schumann_frequencies": tuple(float(f + j) for f, j in zip(d.schumann_frequencies, jitter)),
        "schumann_psd": tuple(float(a * sch * k * k) for a in d.schumann_psd),
        "schumann_halfwidth": tuple(float(g * hw) for g in d.schumann_halfwidth),
        "schumann_diurnal_depth": float(rng.uniform(0.1, 0.5)),
    }


def _random_iar(rng: np.random.Generator) -> dict[str, Any]:
    winter = float(rng.uniform(0.3, 1.0))
    df_w = float(rng.uniform(0.4, 1.4))
    n_lo = int(rng.integers(2, 7))
    n_hi = int(rng.integers(n_lo, 11))
    c_lo = float(rng.uniform(0.3, 1.2))
    w_lo = float(rng.uniform(0.06, 0.12))
    s_lo = float(rng.uniform(18.0, 21.0))
    e_lo = float(rng.uniform(1.0, 4.5))
    walk = _maybe(rng, 0.5, 0.0, 0.1)
    return {
        "iar_rate_winter": winter,
        "iar_rate_summer": float(rng.uniform(0.0, winter)),
        "iar_delta_f_winter": df_w,
        "iar_delta_f_summer": float(rng.uniform(0.3, df_w)),
        "iar_delta_f_sd": float(rng.uniform(0.03, 0.15)),
        "iar_delta_f_range": (0.3, 1.5),
        "iar_delta_f_walk": walk,
        "iar_fringes": (n_lo, n_hi),
        "iar_fmax": float(rng.uniform(5.0, 10.0)),
        "iar_contrast": (c_lo, float(rng.uniform(c_lo, 2.0))),
        "iar_width": (w_lo, float(rng.uniform(w_lo, 0.2))),
        "iar_start_hours": (s_lo, float(rng.uniform(s_lo, 23.0))),
        "iar_end_hours": (e_lo, float(rng.uniform(e_lo, 6.0))),
        "iar_partial_probability": float(rng.uniform(0.0, 0.5)),
    }


def _random_negatives(rng: np.random.Generator, k: float) -> dict[str, Any]:
    d = GroundParams()
    pc1_lo = float(rng.uniform(1.5, 5.0))
    f_lo = _logu(rng, 0.5, 2.0)
    f_hi = min(5.0, f_lo * float(rng.uniform(1.0, 2.5)))
    storm_lo = _logu(rng, 2.0, 10.0)
    mm_fixed = rng.random() < 0.4
    clip = rng.random() >= 0.4
    sat = k * _logu(rng, 30.0, 500.0)
    return {
        "pc1_rate": float(rng.uniform(0.0, 1.5)),
        "pc1_peak_hour": float(rng.uniform(11.0, 17.0)),
        "pc1_contrast": (pc1_lo, pc1_lo * float(rng.uniform(1.5, 3.0))),
        "pc1_night_rate": _maybe(rng, 0.6, 0.5, 3.0),
        "manmade_probability": float(rng.uniform(0.1, 0.7)),
        "manmade_pulsing_fraction": float(rng.uniform(0.3, 1.0)),
        "manmade_frequency_range": (1.0, 1.0) if mm_fixed else (f_lo, f_hi),
        "manmade_night_fraction": float(rng.uniform(0.2, 0.8)),
        "manmade_harmonic_fmax": float(rng.uniform(10.0, 50.0)),
        "manmade_amplitude": d.manmade_amplitude * k * _logu(rng, 0.2, 5.0),
        "manmade_broadband_psd": d.manmade_broadband_psd * k * k * _logu(rng, 0.1, 3.0),
        "sferic_burst_rate": _maybe(rng, 0.6, 1.0, 15.0),
        "sferic_burst_scale": d.sferic_burst_scale * k * _logu(rng, 0.3, 3.0),
        "storm_probability": _maybe(rng, 0.7, 0.1, 0.5),
        "storm_level": (storm_lo, storm_lo * _logu(rng, 1.5, 10.0)),
        "storm_slope": (0.0, float(rng.uniform(0.0, 1.5))),
        "storm_iar_suppression": float(rng.uniform(0.6, 1.0)),
        "lightning_rate": _logu(rng, 30.0, 3000.0),
        "lightning_scale": d.lightning_scale * k * _logu(rng, 0.3, 3.0),
        "lightning_tail": float(rng.uniform(1.2, 2.5)),
        "gap_probability": float(rng.uniform(0.0, 0.2)),
        "missing_component_probability": float(rng.uniform(0.0, 0.2)),
        "saturation": sat if clip else None,
    }


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
class _Storm:
    t0: float  # absolute seconds since epoch
    t1: float
    ramp: float
    level: float  # storm noise PSD / background PSD at 1 Hz
    slope: float  # spectral index of the storm noise
    period: np.ndarray  # irregular (Pi-like) modulation: a few incommensurate sines
    phase: np.ndarray


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
    walk_t: np.ndarray | None = None  # knots (absolute s) and values of the Δf random walk
    walk_v: np.ndarray | None = None
    storm: _Storm | None = None
    fade: tuple[float, np.ndarray, np.ndarray, np.ndarray] | None = None  # depth, a, period, phase
    band: tuple[float, float] | None = None  # the fringes' band (Hz) on a band night
    lorentzian: float = 0.0  # HWHM as a fraction of Δf on a Lorentzian night, else 0


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
    u_start = rng.uniform(0.0, 0.3, fmax_fr)
    u_end = rng.uniform(0.0, 0.3, fmax_fr)
    f_ramp = rng.uniform(1200, 3600, fmax_fr)
    f_mod = rng.uniform(0.0, 0.4, fmax_fr)
    f_period = rng.uniform(1.5, 4.0, fmax_fr) * 3600.0
    f_phase = rng.uniform(0, 2 * np.pi, fmax_fr)

    t0 = evening * DAY_S + h0 * 3600.0
    t1 = (evening + 1) * DAY_S + h1 * 3600.0
    if p.iar_partial_probability > 0:
        t0, t1, ramp_in, ramp_out = _partial_night(seed, evening, p, t0, t1, ramp_in, ramp_out)
        dur = t1 - t0
    f_start = u_start * dur
    f_end = u_end * dur
    walk_t, walk_v = _delta_f_walk(seed, evening, p, t0, t1)
    f0_mid = phi0 * df_mid
    n_min = max(1, int(np.ceil((p.iar_fmin - f0_mid) / df_mid)))
    harmonics = np.arange(n_min, n_min + nfr, dtype=float)
    band = None
    if p.iar_band_probability > 0:
        brng = np.random.default_rng([seed, _BAND, evening])
        if brng.random() < p.iar_band_probability:
            band = (
                max(p.iar_fmin, f0_mid + (n_min - 0.5) * df_mid),
                f0_mid + (n_min + nfr - 0.5) * df_mid,
            )
            # every harmonic that the band can hold at the smallest spacing allowed
            k = min(int(np.ceil(band[1] / p.iar_delta_f_range[0])) + 1, _BAND_HARMONICS)
            harmonics = np.arange(0, k, dtype=float)
            f_start = brng.uniform(0.0, 0.3, k) * dur
            f_end = brng.uniform(0.0, 0.3, k) * dur
            f_ramp = brng.uniform(1200, 3600, k)
            f_mod = brng.uniform(0.0, 0.4, k)
            f_period = brng.uniform(1.5, 4.0, k) * 3600.0
            f_phase = brng.uniform(0, 2 * np.pi, k)
            nfr = k
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
        n=harmonics,
        f_t0=t0 + f_start[:nfr],
        f_t1=t1 - f_end[:nfr],
        f_ramp=f_ramp[:nfr],
        f_mod=f_mod[:nfr],
        f_period=f_period[:nfr],
        f_phase=f_phase[:nfr],
        walk_t=walk_t,
        walk_v=walk_v,
        storm=_storm(seed, evening, p),
        fade=_fade(seed, evening, p),
        band=band,
        lorentzian=_lorentzian(seed, evening, p),
    )


def _crest_amplitude(night: _Night) -> float:
    """Peak IAR PSD of one fringe relative to the background.

    Gaussian fringes hardly overlap, so ``contrast`` is the crest's excess and the
    peak-to-trough ratio is about ``1 + contrast``. Lorentzian fringes fill their troughs:
    the comb of half width ``a = HWHM / Δf`` sums to ``S0 = pi a coth(pi a)`` times one
    fringe's peak at a crest and ``tanh(pi a)**2`` times that in a trough, so a resonator
    of low finesse must be brighter to show the same ratio. The ratio ``1 + contrast`` is
    kept (at most ``0.8 / tanh(pi a)**2``, what such a comb can show above a background
    at all) and the amplitude solved for it.
    """
    if night.lorentzian <= 0:
        return night.contrast
    x = np.pi * night.lorentzian
    q = np.tanh(x) ** 2
    ratio = min(1.0 + night.contrast, 0.8 / q)
    return float((ratio - 1.0) / ((1.0 - ratio * q) * x / np.tanh(x)))


def _lorentzian(seed: int, evening: int, p: GroundParams) -> float:
    """A night's Lorentzian half width (fraction of Δf), or 0 for Gaussian fringes."""
    if p.iar_lorentzian_probability <= 0:
        return 0.0
    rng = np.random.default_rng([seed, _PROFILE, evening])
    u, width = rng.random(), float(rng.uniform(*p.iar_lorentzian_width))
    return width if u < p.iar_lorentzian_probability else 0.0


def _fade(
    seed: int, evening: int, p: GroundParams
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray] | None:
    """A night's common fading (depth, sine amplitudes, periods in s, phases), or None."""
    if p.iar_fade[1] <= 0:
        return None
    rng = np.random.default_rng([seed, _FADE, evening])
    depth = float(rng.uniform(*p.iar_fade))
    amp = rng.uniform(0.5, 1.0, 3)
    period = rng.uniform(*p.iar_fade_minutes, 3) * 60.0
    phase = rng.uniform(0.0, 2 * np.pi, 3)
    return depth, amp / amp.sum(), period, phase


def _fade_factor(night: _Night, t: np.ndarray) -> np.ndarray | float:
    if night.fade is None:
        return 1.0
    depth, amp, period, phase = night.fade
    s = (amp[:, None] * np.sin(2 * np.pi * t[None, :] / period[:, None] + phase[:, None])).sum(0)
    return 1.0 - depth * 0.5 * (1.0 + s)


def _partial_night(
    seed: int, evening: int, p: GroundParams, t0: float, t1: float, r_in: float, r_out: float
) -> tuple[float, float, float, float]:
    """A night's IAR interval, cut to a random part of it on some nights."""
    rng = np.random.default_rng([seed, _PARTIAL, evening])
    u, frac, pos = rng.random(), rng.uniform(*p.iar_partial_fraction), rng.random()
    if u >= p.iar_partial_probability:
        return t0, t1, r_in, r_out
    length = frac * (t1 - t0)
    a = t0 + pos * (t1 - t0 - length)
    return a, a + length, min(r_in, 0.3 * length), min(r_out, 0.3 * length)


def _delta_f_walk(
    seed: int, evening: int, p: GroundParams, t0: float, t1: float
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Knots of a smooth zero-mean random walk of Δf (fraction), or (None, None)."""
    if p.iar_delta_f_walk <= 0:
        return None, None
    rng = np.random.default_rng([seed, _WALK, evening])
    knots = np.linspace(t0, t1, max(4, int(np.ceil((t1 - t0) / 1200.0)) + 1))
    w = np.cumsum(rng.standard_normal(knots.size))
    w = np.convolve(np.pad(w, 1, mode="edge"), np.ones(3) / 3.0, mode="valid")  # smooth kinks
    w -= w.mean()
    sd = w.std()
    return knots, (w * (p.iar_delta_f_walk / sd) if sd > 0 else w)


def _storm(seed: int, evening: int, p: GroundParams) -> _Storm | None:
    """Storm hours of the night starting on day ``evening`` (own stream), or None."""
    if p.storm_probability <= 0:
        return None
    rng = np.random.default_rng([seed, _STORM, evening])
    u = rng.random()
    h0 = rng.uniform(17.0, 28.0)  # 17 UT to 04 UT next morning
    dur = rng.uniform(*p.storm_hours) * 3600.0
    ramp = rng.uniform(600.0, 1800.0)
    lo, hi = p.storm_level
    level = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    slope = p.background_slope + rng.uniform(*p.storm_slope)
    period = rng.uniform(180.0, 2400.0, 5)  # Pi-like irregular bursts, minutes apart
    phase = rng.uniform(0, 2 * np.pi, 5)
    if u >= p.storm_probability:
        return None
    t0 = evening * DAY_S + h0 * 3600.0
    t1 = min(t0 + dur, (evening + 1) * DAY_S + 7.0 * 3600.0)  # over by 07 UT
    return _Storm(t0, t1, min(ramp, 0.3 * (t1 - t0)), level, float(slope), period, phase)


def _storm_env(s: _Storm, t: np.ndarray) -> np.ndarray:
    """0-1 envelope of the storm hours (smooth edges)."""
    return _ramp(t, s.t0, s.t1, s.ramp, s.ramp)


def _storm_psd(
    s: _Storm, t: np.ndarray, f: np.ndarray, p: GroundParams, env: np.ndarray
) -> np.ndarray:
    """Storm noise PSD (t, f): irregularly pulsating, possibly steeper broadband noise."""
    out = np.zeros((t.size, f.size))
    sel = (t > s.t0) & (t < s.t1)
    if not sel.any():
        return out
    ts = t[sel]
    z = np.sin(2 * np.pi * ts[:, None] / s.period[None, :] + s.phase[None, :]).sum(1)
    z *= np.sqrt(2.0 / s.period.size)  # unit variance
    mod = np.exp(0.8 * z - 0.32)  # log-normal, mean one
    fk2 = p.background_knee**2
    shape = p.background_amplitude**2 * ((f * f + fk2) / (1.0 + fk2)) ** (-0.5 * s.slope)
    g = s.level * _storm_env(s, ts) * mod * env[sel]
    out[sel] = g[:, None] * shape[None, :]
    return out


def _night_df_f0(night: _Night, t: np.ndarray, p: GroundParams) -> tuple[np.ndarray, np.ndarray]:
    """Fringe spacing Δf(t) and offset f0(t) of a night, so ``f_n = f0 + n Δf``."""
    u = np.clip(2.0 * (t - 0.5 * (night.t0 + night.t1)) / (night.t1 - night.t0), -1.0, 1.0)
    alpha, beta, gamma, nu, psi = night.df_coef
    shape = 1.0 + alpha * (1.0 - u * u) + beta * u + gamma * np.sin(np.pi * nu * u + psi)
    if night.walk_t is not None:
        shape = shape + np.interp(t, night.walk_t, night.walk_v)
    if p.iar_delta_f_drift != 1.0:
        # a power of the ratio stays positive and keeps where Δf peaks in the night
        shape = np.maximum(shape, 0.05) ** p.iar_delta_f_drift
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
    if night.storm is not None:  # IARs are quiet-night phenomena
        env = env * (1.0 - p.storm_iar_suppression * _storm_env(night.storm, ts))
    env = env * _fade_factor(night, ts)
    sigma = night.width * df
    sig_eff = np.sqrt(sigma**2 + extra_sigma**2)
    if night.lorentzian > 0:
        # an estimator's window widens a Lorentzian by about its own half width; the
        # integrated power (pi * amp * HWHM) is kept, as for the Gaussian
        gamma = night.lorentzian * df
        sigma = gamma
        sig_eff = gamma + extra_sigma * np.sqrt(2.0 * np.log(2.0))
    # a Lorentzian's tails reach every frequency: cutting them would draw a step
    fsel = f < (np.inf if night.lorentzian > 0 else p.iar_fmax + 1.0)
    crest = _crest_amplitude(night)
    ff = f[fsel][None, :]
    acc = np.zeros((ts.size, ff.size))
    for i, n in enumerate(night.n):
        fn = f0 + n * df
        taper = _smoothstep((fn - (p.iar_fmin - 0.1)) / 0.2) * _smoothstep((p.iar_fmax - fn) / 0.5)
        if night.band is not None:  # a fringe fades in and out as it crosses the band's edges
            taper = taper * _smoothstep((fn - night.band[0]) / (0.5 * df) + 0.5)
            taper = taper * _smoothstep((night.band[1] - fn) / (0.5 * df) + 0.5)
        vis = _ramp(ts, night.f_t0[i], night.f_t1[i], night.f_ramp[i], night.f_ramp[i])
        mod = (
            1.0 + night.f_mod[i] * np.sin(2 * np.pi * ts / night.f_period[i] + night.f_phase[i])
        ) / (1.0 + night.f_mod[i])
        amp = crest * env * vis * mod * taper * sigma / sig_eff
        live = amp > 1e-4
        if not live.any():
            continue
        z = (ff - fn[live, None]) / sig_eff[live, None]
        if night.lorentzian > 0:
            acc[live] += amp[live, None] / (1.0 + z * z)
        else:
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
    manmade_f0: float = 1.0  # fundamental (Hz) of the day's man-made harmonics
    pc1_night: tuple[tuple[float, ...], ...] = ()  # night-time Pc1, as ``pc1``
    sferic_bursts: tuple[tuple[float, float], ...] = ()  # (start, end) s of day
    sferic_t: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    sferic_a: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    sferic_az: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))

    @property
    def pc1_all(self) -> tuple[tuple[float, ...], ...]:
        return self.pc1 + self.pc1_night


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
    f0 = p.manmade_frequency
    if u_mm < p.manmade_probability and (
        p.manmade_frequency_range is not None or p.manmade_night_fraction > 0
    ):
        f0, span0, span1 = _manmade_variant(seed, day, p, span0, span1)
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
    bursts, sferics = _sferic_bursts(seed, day, p)
    return _Day(
        day=day,
        level=_day_value(seed, _LEVEL, day),
        pc1=tuple(pc1),
        manmade=mode,
        manmade_on=tuple(on),
        manmade_phase=phase,
        gap_hours=gaps,
        lightning_t=tl[keep],
        lightning_a=amp[keep],
        lightning_az=az[keep],
        manmade_f0=float(f0),
        pc1_night=_pc1_night(seed, day, p),
        sferic_bursts=bursts,
        sferic_t=sferics[0],
        sferic_a=sferics[1],
        sferic_az=sferics[2],
    )


def _manmade_variant(
    seed: int, day: int, p: GroundParams, span0: float, span1: float
) -> tuple[float, float, float]:
    """A man-made day's drawn fundamental and, on night days, its night-time span."""
    rng = np.random.default_rng([seed, _MANMADE, day])
    u_f, u_night = rng.random(2)
    h = rng.uniform(-6.0, 4.0) % 24.0  # 18-04 UT
    length = rng.uniform(2.0, 8.0) * 3600.0
    f0 = p.manmade_frequency
    if p.manmade_frequency_range is not None:
        lo, hi = p.manmade_frequency_range
        f0 = float(np.exp(np.log(lo) + u_f * (np.log(hi) - np.log(lo))))
    if u_night < p.manmade_night_fraction:
        span0 = h * 3600.0
        span1 = min(DAY_S, span0 + length)
    return f0, span0, span1


def _pc1_night(seed: int, day: int, p: GroundParams) -> tuple[tuple[float, ...], ...]:
    """Night-time Pc1 rising tones (0.5-2 Hz), inside the day and zero at its midnights."""
    if p.pc1_night_rate <= 0:
        return ()
    rng = np.random.default_rng([seed, _PC1N, day])
    out = []
    for _ in range(int(rng.poisson(p.pc1_night_rate))):
        h = float(np.clip(rng.uniform(-6.0, 5.0) % 24.0, 0.2, 23.0))  # 18-05 UT
        t0 = h * 3600.0
        end = 7.0 * 3600.0 if h < 12.0 else DAY_S - 600.0  # morning events end by 07 UT
        t1 = min(t0 + rng.uniform(0.5, 2.5) * 3600.0, end)
        rise = rng.uniform(0.05, 0.4)
        sweep = rng.uniform(0.1, 0.3)
        fb = rng.uniform(0.5, 2.0 - rise - sweep)  # the whole event stays within 0.5-2 Hz
        period = rng.uniform(60.0, 200.0)
        sd = rng.uniform(0.05, 0.1)
        out.append((t0, t1, fb, rise, period, sweep, sd, rng.uniform(*p.pc1_contrast)))
    return tuple(out)


def _sferic_bursts(
    seed: int, day: int, p: GroundParams
) -> tuple[tuple[tuple[float, float], ...], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Night-time clusters of lightning impulses: (burst intervals), (t, amplitude, azimuth)."""
    empty = np.zeros(0)
    if p.sferic_burst_rate <= 0:
        return (), (empty, empty, empty)
    rng = np.random.default_rng([seed, _BURST, day])
    bursts, ts, amps, azs = [], [], [], []
    for _ in range(int(rng.poisson(p.sferic_burst_rate))):
        t0 = (rng.uniform(-6.0, 6.0) % 24.0) * 3600.0  # 18-06 UT
        dur = rng.uniform(5.0, 120.0)
        n = int(rng.integers(30, 301))
        t = t0 + rng.uniform(0.0, dur, n)
        a = p.sferic_burst_scale * (1.0 + rng.pareto(p.lightning_tail, n))
        a *= rng.choice([-1.0, 1.0], n)
        az = rng.uniform(0, 2 * np.pi) + rng.normal(0.0, 0.2, n)  # one storm's direction
        keep = t < DAY_S - 1.0  # a burst at the day's end is cut, never piled up
        bursts.append((float(t0), float(min(t0 + dur, DAY_S - 1.0))))
        ts.append(t[keep])
        amps.append(a[keep])
        azs.append(az[keep])
    if not bursts:
        return (), (empty, empty, empty)
    return tuple(bursts), (np.concatenate(ts), np.concatenate(amps), np.concatenate(azs))


def _background_shape(
    f: np.ndarray, p: GroundParams, t: np.ndarray | None, seed: int
) -> np.ndarray:
    """Background PSD shape: (f,), or (t, f) when the slope changes with time."""
    fk2 = p.background_knee**2
    changes = p.background_slope_diurnal != 0 or p.background_slope_day_sd > 0
    if t is None or not changes:
        s = ((f * f + fk2) / (1.0 + fk2)) ** (-0.5 * p.background_slope)
    else:
        h = (t % DAY_S) / 3600.0
        slope = p.background_slope + p.background_slope_diurnal * np.cos(
            2 * np.pi * (h - p.background_slope_peak_hour) / 24
        )
        if p.background_slope_day_sd > 0:
            day = _day_values(t, seed, _SLOPE, p.background_day_change == "step")
            slope = np.clip(slope + p.background_slope_day_sd * day, 0.3, 3.5)
        s = ((f * f + fk2) / (1.0 + fk2))[None, :] ** (-0.5 * slope[:, None])
    return p.background_amplitude**2 * s + p.background_floor


@functools.lru_cache(maxsize=256)
def _day_value(seed: int, tag: int, day: int) -> float:
    return float(np.random.default_rng([seed, tag, day]).standard_normal())


def _day_values(t: np.ndarray, seed: int, tag: int, step: bool) -> np.ndarray:
    """One standard normal value per UTC day (stream ``tag``) at times ``t``: held from 00
    to 24 UT (``step``), or cosine-interpolated from each noon to the next."""
    if step:
        d0 = np.floor(t / DAY_S).astype(np.int64)
        z = np.empty_like(t, dtype=np.float64)
        for d in np.unique(d0):
            z[d0 == d] = _day_value(seed, tag, int(d))
        return z
    x = (t - 0.5 * DAY_S) / DAY_S
    d0 = np.floor(x).astype(np.int64)
    w = 0.5 * (1.0 - np.cos(np.pi * (x - d0)))
    z = np.empty_like(t, dtype=np.float64)
    for d in np.unique(d0):
        m = d0 == d
        z[m] = (1.0 - w[m]) * _day_value(seed, tag, int(d)) + w[m] * _day_value(
            seed, tag, int(d) + 1
        )
    return z


def _rows(bshape: np.ndarray, sel: Any) -> np.ndarray:
    """``bshape`` (from :func:`_background_shape`) as a (t, f)-broadcastable array at ``sel``."""
    return bshape[None, :] if bshape.ndim == 1 else bshape[sel]


def _background_env(t: np.ndarray, seed: int, p: GroundParams) -> np.ndarray:
    """Time factor of the background: diurnal cycle times a day-to-day level."""
    h = (t % DAY_S) / 3600.0
    diurnal = 1.0 + p.background_diurnal_depth * np.cos(
        2 * np.pi * (h - p.background_peak_hour) / 24
    )
    if p.background_day_sigma == 0:
        return diurnal
    z = _day_values(t, seed, _LEVEL, p.background_day_change == "step")
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
    for t0, t1, fb, rise, period, sweep, sd, contrast in day.pc1_all:
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
        out[np.ix_(sel, fsel)] += amp[:, None] * np.exp(-0.5 * z * z) * _rows(bshape, sel)[:, fsel]
    return out * env[:, None]


def _model_psd(
    seed: int, t: np.ndarray, f: np.ndarray, p: GroundParams, day: _Day | None
) -> tuple[np.ndarray, np.ndarray]:
    """(non-IAR PSD, IAR PSD) at absolute times ``t`` (s since epoch) and frequencies ``f``.

    ``day`` supplies the Pc1 events; None leaves them out (they are zero at midnights).
    """
    bshape = _background_shape(f, p, t, seed)
    env = _background_env(t, seed, p)
    base = env[:, None] * _rows(bshape, slice(None)) + _schumann(t, f, p)
    if day is not None and day.pc1_all:
        base += _pc1(day, t, f, bshape, env)
    iar = np.zeros_like(base)
    first = int(np.floor(t.min() / DAY_S)) - 1
    last = int(np.floor(t.max() / DAY_S))
    for e in range(first, last + 1):
        night = _night(seed, e, p)
        if night.storm is not None:
            base += _storm_psd(night.storm, t, f, p, env)
        if p.iar:
            iar += _iar_relative(night, t, f, p)
    if p.iar:
        iar *= env[:, None] * _rows(bshape, slice(None))
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
    missing = _missing_component(seed, day, p, components)
    for ci, comp in enumerate(components):
        if comp == missing:
            out[ci] = np.nan
            continue
        key = _comp_key(comp)
        y = np.empty((k + 1, nfft), np.float32)
        y[1:k] = _frame_noise(np.random.default_rng([seed, _NOISE, day, key]), scale, nfft)
        for row, d, e in ((0, day, edge[0]), (k, day + 1, edge[1])):
            y[row] = _frame_noise(np.random.default_rng([seed, _EDGE, d, key]), e, nfft)[0]
        y *= win
        x = (y[:-1, hop:] + y[1:, :hop]).reshape(-1).astype(np.float64)
        del y
        _add_manmade(x, ev, p, fs, np.random.default_rng([seed, _DAY, day, key]))
        _add_impulses(x, ev.lightning_t, ev.lightning_a, ev.lightning_az, comp, fs)
        if ev.sferic_t.size:
            _add_impulses(x, ev.sferic_t, ev.sferic_a, ev.sferic_az, comp, fs)
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
    f0 = ev.manmade_f0
    if p.manmade_frequency_range is not None:
        f0 = fs / max(2, round(fs / f0))  # a drawn fundamental: a whole-sample period
    period = fs / f0
    nh = int(min(len(ev.manmade_phase), np.floor(0.5 * fs / f0 - 1e-9)))
    if p.manmade_harmonic_fmax is not None:
        nh = max(1, min(nh, int(np.floor(p.manmade_harmonic_fmax / f0 + 1e-9))))
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
                    2 * np.pi * (j + 1) * f0 * tt + ev.manmade_phase[j]
                )


_SFERIC = np.exp(-np.arange(16) / 3.0) * np.cos(2 * np.pi * 0.12 * np.arange(16))


def _add_impulses(
    x: np.ndarray, t: np.ndarray, a: np.ndarray, az: np.ndarray, comp: str, fs: float
) -> None:
    """Lightning impulses at ``t`` (s of day), amplitudes ``a`` (pT), azimuths ``az``."""
    if t.size == 0:
        return
    # the horizontal field of a distant stroke projects on H and D by its azimuth
    gain = {"H": np.cos(az), "D": np.sin(az)}.get(str(comp), np.cos(az + _comp_key(comp) % 7))
    i0 = np.round(t * fs).astype(np.int64)
    idx = i0[:, None] + np.arange(_SFERIC.size)[None, :]
    val = (a * gain)[:, None] * _SFERIC[None, :]
    ok = idx < x.size
    np.add.at(x, idx[ok], val[ok])


def _missing_component(
    seed: int, day: int, p: GroundParams, components: Sequence[str]
) -> str | None:
    """The component missing for the whole day, or None.

    On a day drawn as missing-component day, the missing one is the requested component
    with the smallest per-(day, component) draw, so a component's own draw never depends
    on the order the components were asked in.
    """
    if p.missing_component_probability <= 0 or not components:
        return None
    if np.random.default_rng([seed, _MISSING, day]).random() >= p.missing_component_probability:
        return None
    rank = {
        str(c): np.random.default_rng([seed, _MISSING, day, _comp_key(c)]).random()
        for c in components
    }
    return min(rank, key=rank.__getitem__)


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
        expected non-IAR PSD (background + Schumann + Pc1 + storm noise) there. With the
        default 0.5 a truth pixel's expected PSD is at least 1.5 times what it would be
        without IARs, so fringes fainter than that (``iar_contrast`` below 0.5) need a lower
        threshold to be labelled. Pixels where the cube holds no data in any component
        (gaps: NaN PSD) are False.

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
            bshape = _background_shape(f, p, ts, seed)
            env = _background_env(ts, seed, p)
            b = env[:, None] * _rows(bshape, slice(None))
            base = b + _schumann(ts, f, p)
            if night.storm is not None:  # storms of other nights never reach this one
                base += _storm_psd(night.storm, ts, f, p, env)
            for d in np.unique(np.floor(ts / DAY_S).astype(np.int64)):
                ev = _day(seed, int(d), p)
                if ev.pc1_all:
                    m = np.floor(ts / DAY_S) == d
                    bs = bshape if bshape.ndim == 1 else bshape[m]
                    base[m] += _pc1(ev, ts[m], f, bs, env[m])
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
        frequency of the lowest fringe), ``contrast``, ``season`` (DJF/MAM/JJA/SON),
        ``storm`` (the night has storm hours) and ``storm_start``/``storm_end`` (NaT
        without). Parameters of nights without IARs are what they would have been.

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
        n_fringes, f_lowest = night.n.size, np.median(f0 + night.n[0] * df)
        if night.band is not None:  # the harmonics inside the band, through the night
            fn = f0[:, None] + night.n[None, :] * df[:, None]
            inside = (fn >= night.band[0]) & (fn <= night.band[1])
            n_fringes = int(np.median(inside.sum(axis=1)))
            f_lowest = np.median(np.where(inside, fn, np.inf).min(axis=1))
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
                n_fringes,
                f_lowest,
                night.contrast,
                night.storm is not None,
                np.nan if night.storm is None else night.storm.t0,
                np.nan if night.storm is None else night.storm.t1,
            )
        )
    cols = list(zip(*rows)) if rows else [()] * 14
    dates = np.arange(day0, day0 + int(days)).astype("datetime64[D]").astype("datetime64[ns]")
    month = (dates.astype("datetime64[M]").astype(int) % 12) + 1
    season = np.array(
        ["DJF", "DJF", "MAM", "MAM", "MAM", "JJA", "JJA", "JJA", "SON", "SON", "SON", "DJF"]
    )[month - 1]

    def sec(x):
        x = np.asarray(x, float)
        ns = (np.nan_to_num(x) * NS_PER_S).astype(np.int64).astype("datetime64[ns]")
        return np.where(np.isnan(x), np.datetime64("NaT", "ns"), ns)

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
            "storm": ("night", np.asarray(cols[11], bool)),
            "storm_start": ("night", sec(cols[12])),
            "storm_end": ("night", sec(cols[13])),
        },
        coords={"night": dates},
        attrs={"seed": int(seed), "synth_params": json.dumps(dataclasses.asdict(p))},
    )


def _hour_mask(intervals: Sequence[tuple[float, float]]) -> np.ndarray:
    """(24,) bool: hours of the day that overlap any interval (s of day)."""
    m = np.zeros(24, bool)
    for a, b in intervals:
        lo, hi = max(0.0, a), min(float(DAY_S), b)
        if hi > lo:
            m[int(lo // 3600) : int(np.ceil(hi / 3600))] = True
    return m


def disturbances(
    start: str | np.datetime64 = "2013-01-01",
    days: int = 30,
    seed: int = 0,
    *,
    components: Sequence[str] = ("H", "D"),
    sampling_rate: float = 100.0,
    **params: Any,
) -> xr.Dataset:
    """Per-day disturbance schedule of :func:`ground_station`, without a waveform.

    ``components`` and ``sampling_rate`` are those of the record; they only matter for
    ``missing_component`` and for a drawn ``manmade_frequency``.

    Returns
    -------
    xr.Dataset
        Dim ``day``: ``manmade`` ("none"/"continuous"/"pulsing"), ``manmade_seconds``
        (time the source is on), ``manmade_frequency`` (its fundamental, Hz),
        ``manmade_mask`` (day, hour: the source is on in that hour), ``gap_hours`` (count
        of missing whole hours), ``gap_mask`` (day, hour) bool, ``pc1_events`` (daytime),
        ``pc1_night_events``, ``lightning``, ``sferic_bursts``, ``storm_mask`` (day, hour:
        storm hours overlap that hour) and ``missing_component`` ("" for none).

    Examples
    --------
    >>> dist = disturbances("2013-01-01", days=10, seed=0)
    >>> dist.gap_mask.dims
    ('day', 'hour')
    """
    p = _params(params)
    day0 = _day_number(start)
    fs = float(sampling_rate)
    days = np.arange(day0, day0 + int(days))
    evs = [_day(seed, int(d), p) for d in days]
    gm = np.zeros((len(evs), 24), bool)
    for i, ev in enumerate(evs):
        gm[i, list(ev.gap_hours)] = True
    storm = np.zeros((len(evs), 24), bool)
    for i, d in enumerate(days):
        for e in (d - 1, d):
            s = _night(seed, int(e), p).storm
            if s is not None:
                storm[i] |= _hour_mask([(s.t0 - d * DAY_S, s.t1 - d * DAY_S)])
    f0 = np.array([ev.manmade_f0 if ev.manmade != "none" else np.nan for ev in evs])
    if p.manmade_frequency_range is not None:
        f0 = fs / np.maximum(2, np.round(fs / f0))
    missing = [_missing_component(seed, int(d), p, tuple(map(str, components))) for d in days]
    dates = days.astype("datetime64[D]").astype("datetime64[ns]")
    return xr.Dataset(
        {
            "manmade": ("day", np.array([ev.manmade for ev in evs], dtype=object)),
            "manmade_seconds": (
                "day",
                np.array([sum(b - a for a, b in ev.manmade_on) for ev in evs], float),
            ),
            "manmade_frequency": ("day", f0, {"units": "Hz"}),
            "manmade_mask": (("day", "hour"), np.array([_hour_mask(ev.manmade_on) for ev in evs])),
            "gap_hours": ("day", gm.sum(1)),
            "gap_mask": (("day", "hour"), gm),
            "pc1_events": ("day", np.array([len(ev.pc1) for ev in evs], int)),
            "pc1_night_events": ("day", np.array([len(ev.pc1_night) for ev in evs], int)),
            "lightning": ("day", np.array([ev.lightning_t.size for ev in evs], int)),
            "sferic_bursts": ("day", np.array([len(ev.sferic_bursts) for ev in evs], int)),
            "storm_mask": (("day", "hour"), storm),
            "missing_component": ("day", np.array([m or "" for m in missing], dtype=object)),
        },
        coords={"day": dates, "hour": np.arange(24)},
    )

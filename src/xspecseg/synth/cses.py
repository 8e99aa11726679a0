"""Synthetic CSES-01 EFD level-2 VLF half-orbit files with nucleus-shaped anomalies.

The generator writes HDF5 files in the layout of the real CSES EFD level-2 VLF product
(``CSES_01_EFD_3_L02_A1_<orbit><0|1>_<start>_<end>_000.h5``: ``A131_P``/``A132_P``/
``A133_P`` power spectra of Ex/Ey/Ez, 1024 bins of 25 Hz over 0–25.6 kHz, one row every
2.048 s, plus ``UTC_TIME``, ``VERSE_TIME``, ``GEO_LAT``, ``GEO_LON``, ``MAG_LAT``,
``MAG_LON``, ``ALTITUDE``, ``WORKMODE`` and ``FREQ``), so :func:`xspecseg.io.read_cses`
reads synthetic and real files through one code path.

Model
-----
Orbit
    Circular, sun-synchronous, inclination 97.4 deg, 15.2 orbits a day, ~507 km. The
    ascending node is held at 02:00 local mean solar time, so descending half-orbits
    cross the equator at 14:00 LT (day side) and ascending ones at 02:00 LT (night
    side). Because the node is fixed in local time, the sub-satellite longitude follows
    from UT alone (``lon = 15 (LTAN - UT) + along-track term``) without a solar
    ephemeris. Half-orbits are split at the poles (descending: north pole to south
    pole) and trimmed to ``|lat| <= 65 deg``, where the real VLF instrument records.
Magnetic coordinates
    AACGM-v2 (``aacgmv2.convert_latlon_arr``) with one datetime per UTC day. The AACGM
    coefficients change only with the secular variation of the main field, so using the
    day's midnight instead of each row's time moves ``MAG_LAT`` by at most ~3e-4 deg
    (measured); the tests compare against ``aacgmv2`` called at the row's own time with
    a tolerance of 1e-3 deg. AACGM is undefined near the magnetic equator at 507 km
    (``|mlat|`` below ~16 deg): ``MAG_LAT``/``MAG_LON`` hold the fill value there.
Spectra
    A background falling with frequency and rising toward the auroral zones, plasmaspheric
    hiss below a few kHz at mid/low magnetic latitudes (stronger on the day side),
    dispersed lightning whistlers (short vertical streaks, mostly at night), narrow lines
    of ground VLF transmitters (NWC, NAA, NPM, DHO38, ...; strongest near the
    transmitter, weaker on the day side), multiplicative log-normal estimation noise.
Domain randomisation (all off by default; :func:`randomised_cses_params` draws a set)
    An absolute calibration factor on the whole spectrum; the background's level, slope,
    knee and latitude/day-night dependence; and hard negatives, each from its own random
    stream: whistler-mode chorus outside the plasmapause (0.1-0.8 f_ce of the local field
    line, dawn favoured), funnel-shaped auroral hiss patches at high magnetic latitude
    (the main look-alike of a nucleus), night-side whistler storms, further narrow
    constant-frequency lines (also below 12.5 kHz), power-line harmonic radiation (50/60
    Hz combs at 0.5-6 kHz), short broadband bursts and data gaps (rows of the fill value).
    The anomalies' size, frequency, contrast and day/night side are parameters too.
Nucleus-shaped anomalies
    A bright centre fading outward: a Gaussian bump in time x frequency with an
    irregular (wobbly) edge and a small frequency drift, centred at ~6.2 kHz (0–12.5
    kHz), tens of seconds to a few minutes long, entirely inside the
    ``|magnetic latitude|`` band 58–80 deg. Occurrence is a per-day compound Poisson
    process: the expected count per season follows the ODM_Unet paper (142 MAM, 124 JJA,
    129 SON, 58 DJF a year, 59 % north, 453 regions on 402 half-orbits), scaled by
    ``rate_scale``. Each anomaly is placed on a half-orbit of its day that reaches the
    band in its hemisphere, so the configured seasonal and hemispheric rates are kept
    exactly rather than thinned by the geometry.
Truth
    Pixel ``(t, f)`` of component ``c`` is anomalous when the injected anomaly power is at
    least ``truth_fraction`` times the expected (noise-free) power of the smooth
    continuum there (background + hiss + auroral hiss; default 1.0: the anomaly at least
    doubles it, +3 dB). Whistlers, transmitter and other lines, chorus elements, PLHR and
    bursts are left out of that reference so that they do not punch holes into a nucleus
    that a human labeller would paint over. No hard negative is ever truth: with the
    anomalies off the mask is empty whatever else is on, and on data-gap rows it is False. The mask is
    stored in each file as ``SYNTH_TRUTH`` (uint8, bit 0 = X, 1 = Y, 2 = Z), which real
    files lack; :func:`xspecseg.io.read_cses` carries it as the variable ``truth``.
    Storing the mask rather than re-deriving it from the seed keeps the truth valid
    whatever later versions of this generator do.

Determinism: everything about a half-orbit depends only on ``(seed, params, orbit)``, and
anomalies are drawn per UTC day, so a day is the same whichever window asks for it.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._atomic import atomic_write
from .._optional import needs_extra
from ..geomag import aacgm_convert, season_of
from ..io.cses_format import (
    COMPONENTS,
    DF_HZ,
    FILE_PREFIX,
    FILL_VALUE,
    N_FREQ,
    PSD_UNITS,
    ROW_MS,
    SAMPLE_RATE_HZ,
    SPECTRUM_NAMES,
    TRUTH_BITS,
    TRUTH_NAME,
)

__all__ = [
    "CsesParams",
    "cses_anomaly_table",
    "cses_orbits",
    "cses_truth",
    "halforbit_geometry",
    "randomised_cses_params",
]

# --- constants of the real product -------------------------------------------------------

# the product's own constants live in io.cses_format (the reader checks by them); what
# follows is this generator's choice: FREQ holds the bins' lower edges
FREQ_HZ = (np.arange(N_FREQ) * DF_HZ).astype(np.float32)

_UNIX_MS_2009 = 1_230_768_000_000  # 2009-01-01T00:00Z, the VERSE_TIME origin
_MS_PER_DAY = 86_400_000
# Orbit 0 starts at the north pole at this instant. Chosen so that orbit numbers in
# 2021-2022 are close to the real ones (~20,800 on 2021-11-01; CSES-01 launched 2018-02-02).
_ORBIT_EPOCH_MS = int(np.datetime64("2018-02-02T00:00:00", "ms").astype(np.int64))
_COARSE = 8  # anomaly placement grid: every 8th row (16.384 s)

# Ground VLF transmitters: (name, frequency Hz, lat, lon, relative strength in decades).
_TRANSMITTERS = (
    ("NWC", 19_800.0, -21.82, 114.17, 0.0),
    ("NPM", 21_400.0, 21.42, -158.15, -0.3),
    ("NAA", 24_000.0, 44.64, -67.28, -0.1),
    ("NLK", 24_800.0, 48.20, -121.92, -0.3),
    ("DHO38", 23_400.0, 53.08, 7.62, -0.2),
    ("GQD", 22_100.0, 54.73, -2.88, -0.4),
    ("JJI", 22_200.0, 32.04, 130.83, -0.3),
    ("ICV", 20_270.0, 40.92, 9.73, -0.5),
    ("HWU", 18_300.0, 46.71, 1.25, -0.3),
    ("VTX", 18_200.0, 8.39, 77.75, -0.5),
    ("JXN", 16_400.0, 66.98, 13.87, -0.6),
    ("NDT", 17_400.0, 32.09, 130.83, -0.6),
    # Russian Alpha navigation (RSDN-20): pulsed, but lines at 2 s resolution.
    ("ALPHA-1", 11_905.0, 50.6, 137.0, -0.5),
    ("ALPHA-2", 12_649.0, 45.4, 38.2, -0.5),
    ("ALPHA-3", 14_881.0, 55.8, 84.4, -0.5),
)

SEASONS = ("DJF", "MAM", "JJA", "SON")
_SEASON_DAYS = {"DJF": 90.25, "MAM": 92.0, "JJA": 92.0, "SON": 91.0}


@dataclass(frozen=True)
class CsesParams:
    """Parameters of the synthetic CSES EFD VLF test bed.

    Defaults follow the ODM_Unet paper (Li et al. 2024) for the anomalies and the
    CSES-01 orbit for the geometry. All fields are stored as JSON in each file's
    ``SYNTH_PARAMS`` attribute.

    The fields from ``calibration_gain`` on are for domain randomisation (the defaults
    reproduce the original generator bit for bit; rates are expected events per half-orbit
    file, amplitudes log10 over the local background, each hard negative drawn from its
    own random stream).

    Parameters
    ----------
    season_counts : dict
        Expected anomalies per year by meteorological season (paper: 142 MAM, 124 JJA,
        129 SON, 58 DJF, i.e. 453 a year).
    north_fraction : float
        Probability that an anomaly is in the northern (geographic) hemisphere (0.59).
    rate_scale : float
        Multiplies every seasonal rate; raise it for training data.
    regions_per_orbit : float
        Mean number of anomalies on a half-orbit that has any (453 / 402 in the paper).
    mlat_band : tuple of float
        ``|magnetic latitude|`` range (deg) that holds every anomaly pixel.
    mlat_mean, mlat_sd : float
        Preferred ``|mlat|`` of anomaly centres (a Gaussian weight inside the band).
    freq_mean_hz, freq_sd_hz, freq_limits_hz :
        Anomaly centre frequency distribution (truncated normal).
    freq_sigma_hz : tuple
        Range of the Gaussian frequency width (uniform).
    duration_s : tuple
        Range of the nominal truth duration (log-uniform), seconds.
    contrast_decades : tuple
        Range of the centre power over the background, log10 units (Z component).
    component_gain : dict
        Anomaly contrast multiplier per component (Z shows them best, as in the paper).
    truth_fraction : float
        Truth = anomaly power >= ``truth_fraction`` x expected power of the smooth
        continuum (background + hiss) at that pixel.
    noise_decades : float
        Standard deviation of the per-pixel log10 estimation noise.
    noise_dof : (float, float) or None
        The estimation noise of a spectrum averaged over ``K`` periodograms instead of
        log-normal noise: each pixel's power is multiplied by chi-square with ``2K``
        degrees of freedom over ``2K`` (a Gamma(K, 1/K) draw: unbiased in power, skewed
        toward low values in log), ``K`` drawn per half-orbit log-uniformly in this range
        (``K = 4`` is about 0.23 decades of log10 scatter, ``K = 32`` about 0.08). The
        number of periodograms an instrument averages per row is a choice of its
        processing, so a detector should not rely on one. Default None: the log-normal
        noise of ``noise_decades``.
    whistler_rate_night, whistler_rate_day : float
        Mean whistlers per 2.048 s row at low/mid latitude at night / by day.
    orbits_per_day, inclination_deg, altitude_km, ltan_hours, max_lat_deg :
        Orbit: revolutions a day, inclination, mean altitude, local time of the
        ascending node, and the ``|lat|`` limit of the recorded half-orbit.
    keep_bits : int
        Float32 mantissa bits kept when writing (bit-grooming so gzip can compress the
        noise); 23 keeps every bit. The default 8 bits is a relative error below 2e-3
        (under 1e-3 decades, a hundredth of the estimation noise).
    compression_level : int
        gzip level of the spectra.
    components : tuple of str
        Spectra written (``A131_P``/``A132_P``/``A133_P`` for X/Y/Z).
    calibration_gain : float
        Absolute calibration: every written spectrum (background, emissions and
        anomalies alike) is multiplied by it; the truth does not change.
    bg_level_log10, bg_slope, bg_knee_hz : float
        Background ``log10 P = bg_level_log10 - bg_slope * log10(1 + f / bg_knee_hz)``
        ((mV/m)^2/Hz): level, spectral slope (decades per decade above the knee), knee.
    bg_aurora_decades, bg_day_decades : float
        Rise of the background toward the auroral zones (decades, mostly at low
        frequencies) and on the day side.
    hiss_level_log10 : float
        Plasmaspheric hiss level (log10, 100 Hz - ~2.5 kHz, mid/low magnetic latitude).
    tx_level_decades : float
        Added to the strength of every ground VLF transmitter line (incl. Alpha/RSDN).
    chorus_rate, chorus_decades :
        Whistler-mode chorus patches: bursts of rising (and some falling) tones in the
        lower (0.1-0.5) and upper (0.5-0.8) band of the equatorial electron gyrofrequency
        of the local field line, outside the plasmapause, favoured toward dawn.
    auroral_hiss_rate, auroral_hiss_decades, auroral_hiss_duration_s, auroral_hiss_mlat :
        Auroral hiss patches: broadband, funnel-shaped (lower cutoff rising away from the
        patch centre), minutes long, at ``|magnetic latitude| >= auroral_hiss_mlat``. A
        continuum: it joins the truth reference (an anomaly inside it must outshine it).
    auroral_hiss_compact : float
        Share of the auroral hiss patches that are compact: band-limited (1.5-4 kHz wide
        with a lower cutoff at 2-8 kHz), 20-90 s long, with soft or sharp edges and a
        flat, rising or falling spectrum inside. Such a patch is the closest look-alike
        of a nucleus anomaly; unlike one it has no bright centre fading outward. Default
        0 (every patch broadband and minutes long).
    auroral_hiss_f_up_hz : (float, float)
        Range of a broadband patch's upper cutoff (Hz); below 12.5 kHz it bounds the patch
        inside the VLF band.
    lhr_probability, lhr_decades :
        Lower-hybrid-resonance noise: the probability that a half-orbit shows it, and its
        level over the background. A band with a sharp lower cutoff at the local
        lower-hybrid frequency (2.5-7 kHz at the magnetic equator, rising with the field
        strength along the orbit, wandering with the plasma's density and composition)
        and falling off above it, below 45-65 deg magnetic latitude. A continuum: it joins
        the truth reference.
    whistler_storm_rate, whistler_storm_intensity :
        Night-side lightning storms: minutes of many dispersed whistlers (whistlers per
        row at the storm's peak).
    extra_line_rate, extra_line_decades :
        Further narrow constant-frequency lines (platform interference, transmitters not
        in the table), half of them at 3-12.5 kHz, some for the whole pass.
    plhr_rate, plhr_decades :
        Power-line harmonic radiation: combs of 50 or 60 Hz harmonics at 0.5-6 kHz over
        mid latitudes, for a few minutes.
    burst_rate, burst_decades :
        Short (1-3 rows) broadband bursts.
    fill_rate, fill_rows :
        Data gaps: runs of ``fill_rows`` (log-uniform range) rows written as the fill
        value (NaN after :func:`xspecseg.io.read_cses`); their truth is False.
    day_fraction : float or None
        Probability that an anomaly group is placed on a day-side (descending)
        half-orbit when one fits; None keeps the original, side-blind placement.

    Examples
    --------
    >>> p = CsesParams(rate_scale=20.0)
    >>> round(sum(p.season_counts.values()) * p.rate_scale)
    9060
    """

    season_counts: dict[str, float] = field(
        default_factory=lambda: {"DJF": 58.0, "MAM": 142.0, "JJA": 124.0, "SON": 129.0}
    )
    north_fraction: float = 0.59
    rate_scale: float = 1.0
    regions_per_orbit: float = 453.0 / 402.0
    mlat_band: tuple[float, float] = (58.0, 80.0)
    mlat_mean: float = 67.0
    mlat_sd: float = 6.0
    freq_mean_hz: float = 6200.0
    freq_sd_hz: float = 1800.0
    freq_limits_hz: tuple[float, float] = (1500.0, 11000.0)
    freq_sigma_hz: tuple[float, float] = (450.0, 1100.0)
    duration_s: tuple[float, float] = (20.0, 180.0)
    contrast_decades: tuple[float, float] = (1.0, 2.0)
    component_gain: dict[str, float] = field(
        default_factory=lambda: {"X": 0.55, "Y": 0.7, "Z": 1.0}
    )
    truth_fraction: float = 1.0
    noise_decades: float = 0.11
    whistler_rate_night: float = 0.35
    whistler_rate_day: float = 0.04
    orbits_per_day: float = 15.2
    inclination_deg: float = 97.4
    altitude_km: float = 507.0
    ltan_hours: float = 2.0
    max_lat_deg: float = 65.0
    keep_bits: int = 8
    compression_level: int = 4
    components: tuple[str, ...] = COMPONENTS
    # --- domain randomisation (see _ADDED_FIELDS; defaults = the original generator) ---
    calibration_gain: float = 1.0
    bg_level_log10: float = -5.2
    bg_slope: float = 1.55
    bg_knee_hz: float = 700.0
    bg_aurora_decades: float = 0.45
    bg_day_decades: float = 0.1
    hiss_level_log10: float = -4.8
    tx_level_decades: float = 0.0
    chorus_rate: float = 0.0
    chorus_decades: tuple[float, float] = (0.5, 1.5)
    auroral_hiss_rate: float = 0.0
    auroral_hiss_decades: tuple[float, float] = (0.5, 2.0)
    auroral_hiss_duration_s: tuple[float, float] = (60.0, 400.0)
    auroral_hiss_mlat: float = 60.0
    auroral_hiss_compact: float = 0.0
    auroral_hiss_f_up_hz: tuple[float, float] = (12_000.0, 25_600.0)
    lhr_probability: float = 0.0
    lhr_decades: tuple[float, float] = (0.3, 1.2)
    whistler_storm_rate: float = 0.0
    whistler_storm_intensity: tuple[float, float] = (1.0, 6.0)
    extra_line_rate: float = 0.0
    extra_line_decades: tuple[float, float] = (0.5, 2.0)
    plhr_rate: float = 0.0
    plhr_decades: tuple[float, float] = (0.3, 1.2)
    burst_rate: float = 0.0
    burst_decades: tuple[float, float] = (0.5, 2.0)
    fill_rate: float = 0.0
    fill_rows: tuple[float, float] = (1.0, 40.0)
    day_fraction: float | None = None
    noise_dof: tuple[float, float] | None = None

    def __hash__(self) -> int:  # dict fields are not hashable; the JSON form is canonical
        return hash(self.to_json())

    def to_json(self) -> str:
        """Canonical JSON of the parameters (sorted keys).

        Fields added for domain randomisation are left out while they hold their
        default, so files written with default parameters keep their exact bytes.
        """
        d = dataclasses.asdict(self)
        for f in dataclasses.fields(self):
            if f.name in _ADDED_FIELDS and d[f.name] == f.default:
                del d[f.name]
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | dict) -> CsesParams:
        """Inverse of :meth:`to_json`; unknown keys (e.g. ``seed``) are ignored."""
        d = json.loads(text) if isinstance(text, str) else dict(text)
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        for k, v in kw.items():
            if isinstance(v, list):  # JSON arrays are the tuple fields
                kw[k] = tuple(v)
        return cls(**kw)

    @property
    def period_ms(self) -> float:
        """Orbital period in milliseconds."""
        return _MS_PER_DAY / self.orbits_per_day


# Fields added for domain randomisation: omitted from the JSON while at their default.
_ADDED_FIELDS = frozenset(
    """calibration_gain bg_level_log10 bg_slope bg_knee_hz bg_aurora_decades bg_day_decades
    hiss_level_log10 tx_level_decades chorus_rate chorus_decades auroral_hiss_rate
    auroral_hiss_decades auroral_hiss_duration_s auroral_hiss_mlat auroral_hiss_compact
    auroral_hiss_f_up_hz lhr_probability lhr_decades whistler_storm_rate
    whistler_storm_intensity extra_line_rate extra_line_decades plhr_rate plhr_decades
    burst_rate burst_decades fill_rate fill_rows day_fraction noise_dof""".split()
)


def _params(params: CsesParams | None, overrides: dict[str, Any]) -> CsesParams:
    p = params if params is not None else CsesParams()
    if overrides:
        p = dataclasses.replace(p, **overrides)
    bad = set(p.components) - set(COMPONENTS)
    if bad:
        raise ValueError(f"unknown components {sorted(bad)}; use a subset of X, Y, Z")
    if not (math.isfinite(p.calibration_gain) and p.calibration_gain > 0):
        raise ValueError(f"calibration_gain must be positive; got {p.calibration_gain}")
    if p.day_fraction is not None and not 0.0 <= p.day_fraction <= 1.0:
        raise ValueError(f"day_fraction must be in [0, 1] or None; got {p.day_fraction}")
    if p.noise_dof is not None:
        dof = tuple(np.atleast_1d(np.asarray(p.noise_dof, dtype=float)).tolist())
        if len(dof) != 2 or not (1.0 <= dof[0] <= dof[1] < math.inf):
            raise ValueError(
                f"noise_dof must be (low, high) with 1 <= low <= high; got {p.noise_dof}"
            )
        p = dataclasses.replace(p, noise_dof=dof)
    return p


# Ranges of randomised_cses_params: (low, high) of each draw.
_RANDOM_RATES = {  # expected events per half-orbit, log-uniform; 20 % of sets have none
    "chorus_rate": (0.2, 6.0),
    "auroral_hiss_rate": (0.2, 8.0),
    "whistler_storm_rate": (0.1, 4.0),
    "extra_line_rate": (0.5, 15.0),
    "plhr_rate": (0.1, 4.0),
    "burst_rate": (0.5, 40.0),
    "fill_rate": (0.1, 5.0),
}
_RANDOM_LEVELS = {  # (low end range, width range) of each (low, high) amplitude pair
    "chorus_decades": ((0.3, 1.0), (0.3, 1.2)),
    "auroral_hiss_decades": ((0.3, 1.2), (0.3, 1.5)),
    "extra_line_decades": ((0.3, 1.2), (0.3, 1.5)),
    "plhr_decades": ((0.2, 0.8), (0.2, 1.0)),
    "burst_decades": ((0.3, 1.2), (0.3, 1.5)),
}


def randomised_cses_params(seed: int) -> dict[str, Any]:
    """One deterministic, domain-randomised set of :class:`CsesParams` overrides.

    For training a detector that must survive another simulator or the real instrument:
    the absolute level, the background's shape and every look-alike vary between sets,
    and so do the anomalies' size, contrast, frequency and day/night side. The truth
    stays exact (hard negatives never enter it). ``rate_scale`` and the geometry are
    left to the caller.

    Ranges (U = uniform, LU = log-uniform; rates are events per half-orbit file, levels
    log10 over the local background):

    - ``calibration_gain``: LU 1e-3 - 1e3 (six decades of absolute level)
    - ``bg_level_log10`` U -5.7 - -4.7; ``bg_slope`` U 0.8 - 2.4 decades per decade;
      ``bg_knee_hz`` LU 300 - 1500 Hz; ``bg_aurora_decades`` U 0 - 1 (rise toward the
      auroral zones); ``bg_day_decades`` U -0.2 - 0.5 (day minus night)
    - ``hiss_level_log10``: ``bg_level_log10`` + U -0.8 - 1.4; ``noise_decades`` U 0.06 -
      0.2; ``whistler_rate_night`` LU 0.05 - 2 and ``whistler_rate_day`` LU 0.005 - 0.3
      per row; ``tx_level_decades`` U -1 - 1
    - hard-negative rates, each LU and 0 in 20 % of the sets: chorus 0.2 - 6, auroral
      hiss 0.2 - 8, whistler storms 0.1 - 4, extra lines 0.5 - 15, PLHR 0.1 - 4,
      bursts 0.5 - 40, data gaps 0.1 - 5
    - hard-negative levels ``(lo, lo + w)``: lo U 0.3 - 1.0 (chorus), 0.3 - 1.2
      (auroral hiss, lines, bursts), 0.2 - 0.8 (PLHR); w U 0.3 - 1.2/1.5 (PLHR 0.2 - 1.0)
    - ``whistler_storm_intensity``: ``(lo, 2-4 x lo)``, lo U 0.5 - 3 whistlers per row
    - ``freq_sigma_hz``: ``(lo, min(1500, 1.5-3 x lo))``, lo LU 100 - 600 Hz, from compact
      nuclei (truth ~500 - 1500 Hz wide) to large ones
    - ``duration_s``: ``(lo, min(240, 2-6 x lo))``, lo LU 8 - 40 s
    - ``contrast_decades``: ``(lo, min(2.5, lo + U 0.3 - 1.5))``, lo U 0.25 - 1: faint
      to bright
    - ``freq_mean_hz`` U 4500 - 7500, ``freq_sd_hz`` U 1000 - 2500, ``freq_limits_hz``
      (1000, 12000): centres mostly at 3 - 9 kHz
    - ``day_fraction``: U 0.2 - 0.8 (share of anomaly groups put on the day side)

    The nucleus's closest look-alikes (``auroral_hiss_compact``, ``auroral_hiss_f_up_hz``,
    ``lhr_probability``, ``lhr_decades``) and the chi-square estimation noise
    (``noise_dof``) are not drawn: the shipped ``cses-default`` was trained on these
    sets, and its documented command must give the same data. Set them on top with
    ``xspecseg train --synth-param`` (see docs/validation.md for what training on them
    gave).

    Parameters
    ----------
    seed : int
        Any integer; the same seed gives the same overrides.

    Returns
    -------
    dict
        Keyword overrides for :func:`cses_orbits` / :class:`CsesParams` (plain floats
        and tuples, JSON-serialisable).

    Examples
    --------
    >>> kw = randomised_cses_params(3)
    >>> 1e-3 <= kw["calibration_gain"] <= 1e3
    True
    >>> p = CsesParams(rate_scale=20.0, **kw)
    >>> # paths = cses_orbits("2022-03-01", days=0.1, seed=3, out_dir="dr/", params=p)
    """
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, 0xD0A1])

    def lu(lo: float, hi: float) -> float:
        return _loguniform(rng, lo, hi)

    def u(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi))

    bg_level = u(-5.7, -4.7)
    kw: dict[str, Any] = dict(
        calibration_gain=lu(1e-3, 1e3),
        bg_level_log10=bg_level,
        bg_slope=u(0.8, 2.4),
        bg_knee_hz=lu(300.0, 1500.0),
        bg_aurora_decades=u(0.0, 1.0),
        bg_day_decades=u(-0.2, 0.5),
        hiss_level_log10=bg_level + u(-0.8, 1.4),
        noise_decades=u(0.06, 0.2),
        whistler_rate_night=lu(0.05, 2.0),
        whistler_rate_day=lu(0.005, 0.3),
        tx_level_decades=u(-1.0, 1.0),
    )
    for name, (lo, hi) in _RANDOM_RATES.items():
        kw[name] = 0.0 if rng.uniform() < 0.2 else lu(lo, hi)
    for name, ((a, b), (c, d)) in _RANDOM_LEVELS.items():
        lo = u(a, b)
        kw[name] = (lo, lo + u(c, d))
    storm = u(0.5, 3.0)
    kw["whistler_storm_intensity"] = (storm, storm * u(2.0, 4.0))
    sig = lu(100.0, 600.0)
    kw["freq_sigma_hz"] = (sig, min(1500.0, sig * u(1.5, 3.0)))
    dur = lu(8.0, 40.0)
    kw["duration_s"] = (dur, min(240.0, dur * u(2.0, 6.0)))
    con = u(0.25, 1.0)
    kw["contrast_decades"] = (con, min(2.5, con + u(0.3, 1.5)))
    kw["freq_mean_hz"] = u(4500.0, 7500.0)
    kw["freq_sd_hz"] = u(1000.0, 2500.0)
    kw["freq_limits_hz"] = (1000.0, 12_000.0)
    kw["day_fraction"] = u(0.2, 0.8)
    return kw


# --- time helpers ----------------------------------------------------------------------


def _to_ms(t: Any) -> int:
    return int(np.datetime64(pd.Timestamp(t).tz_localize(None), "ms").astype(np.int64))


def _utc_time_int(t_ms: np.ndarray) -> np.ndarray:
    """Unix ms -> CSES ``UTC_TIME`` integers ``YYYYMMDDhhmmssmmm``."""
    t = np.asarray(t_ms, dtype=np.int64).astype("datetime64[ms]")
    years = t.astype("datetime64[Y]").astype(np.int64) + 1970
    months = t.astype("datetime64[M]").astype(np.int64) % 12 + 1
    days = (t.astype("datetime64[D]") - t.astype("datetime64[M]")).astype(np.int64) + 1
    msod = (t - t.astype("datetime64[D]")).astype(np.int64)
    hh, rem = np.divmod(msod, 3_600_000)
    mm, rem = np.divmod(rem, 60_000)
    ss, ms = np.divmod(rem, 1000)
    return (((((years * 100 + months) * 100 + days) * 100 + hh) * 100 + mm) * 100 + ss) * 1000 + ms


def _stamp(t_ms: int) -> str:
    return pd.Timestamp(int(t_ms), unit="ms").strftime("%Y%m%d_%H%M%S")


def _season(t_ms: np.ndarray) -> np.ndarray:
    return np.asarray(season_of(np.asarray(t_ms, dtype=np.int64).astype("datetime64[ms]")))


# --- geometry --------------------------------------------------------------------------


def _halforbit_start_ms(h: int | np.ndarray, p: CsesParams) -> np.ndarray:
    """Pole-crossing time (float ms) that starts half-orbit ``h``."""
    return _ORBIT_EPOCH_MS + np.asarray(h, dtype=np.float64) * (p.period_ms / 2.0)


def _halforbits_starting(t0_ms: int, t1_ms: int, p: CsesParams) -> np.ndarray:
    """Half-orbits whose start (pole crossing) lies in ``[t0_ms, t1_ms)``."""
    half = p.period_ms / 2.0
    h0 = math.floor((t0_ms - _ORBIT_EPOCH_MS) / half) - 1
    h1 = math.ceil((t1_ms - _ORBIT_EPOCH_MS) / half) + 1
    h = np.arange(h0, h1 + 1, dtype=np.int64)
    # the same float expression as _day_of_halforbit, so both agree at day boundaries
    s = _halforbit_start_ms(h, p)
    return h[(s >= t0_ms) & (s < t1_ms)]


def _track(t_ms: np.ndarray, p: CsesParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geographic latitude, longitude (deg) and altitude (km) at Unix-ms times."""
    t_ms = np.asarray(t_ms, dtype=np.int64)
    # argument of latitude from the ascending node; the epoch is at the north pole
    u = np.pi / 2 + 2 * np.pi * ((t_ms - _ORBIT_EPOCH_MS) / p.period_ms)
    inc = np.deg2rad(p.inclination_deg)
    lat = np.rad2deg(np.arcsin(np.sin(inc) * np.sin(u)))
    along = np.rad2deg(np.arctan2(np.cos(inc) * np.sin(u), np.cos(u)))
    ut_h = (t_ms % _MS_PER_DAY) / 3_600_000.0
    lon = (15.0 * (p.ltan_hours - ut_h) + along + 180.0) % 360.0 - 180.0
    # the orbit is circular; the ellipsoid is ~21 km lower at the poles than at the equator
    alt = p.altitude_km - 7.0 + 21.4 * np.sin(np.deg2rad(lat)) ** 2
    return lat, lon, alt


def _rows(h: int, p: CsesParams) -> np.ndarray:
    """Unix-ms times of the recorded rows (|lat| <= max_lat) of half-orbit ``h``."""
    t0 = round(float(_halforbit_start_ms(h, p)))
    n_full = int((p.period_ms / 2.0) // ROW_MS)
    t = t0 + ROW_MS * np.arange(n_full, dtype=np.int64)
    lat, _, _ = _track(t, p)
    return t[np.abs(lat) <= p.max_lat_deg]


def _aacgm(
    lat: np.ndarray, lon: np.ndarray, alt: np.ndarray, t_ms: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """AACGM-v2 latitude/longitude, one conversion per UTC day (see module notes)."""
    mlat = np.full(np.shape(lat), np.nan)
    mlon = np.full(np.shape(lat), np.nan)
    day = np.asarray(t_ms, dtype=np.int64) // _MS_PER_DAY
    for d in np.unique(day):
        sel = day == d
        when = _dt.datetime(1970, 1, 1) + _dt.timedelta(days=int(d))
        mlat[sel], mlon[sel] = aacgm_convert(lat[sel], lon[sel], alt[sel], when)
    return mlat, mlon


def halforbit_geometry(h: int, params: CsesParams | None = None) -> pd.DataFrame:
    """Along-track geometry of global half-orbit ``h`` (even = descending).

    Parameters
    ----------
    h : int
        Half-orbit counter since the generator's epoch (2018-02-02); orbit ``h // 2``.
    params : CsesParams, optional

    Returns
    -------
    pandas.DataFrame
        Columns ``t_ms``, ``lat``, ``lon``, ``alt``, ``mlat``, ``mlon`` per recorded row.

    Examples
    --------
    >>> g = halforbit_geometry(2 * 20800)
    >>> bool(g.lat.abs().max() <= 65)
    True
    """
    p = params or CsesParams()
    t = _rows(h, p)
    lat, lon, alt = _track(t, p)
    mlat, mlon = _aacgm(lat, lon, alt, t)
    return pd.DataFrame(dict(t_ms=t, lat=lat, lon=lon, alt=alt, mlat=mlat, mlon=mlon))


# --- anomaly occurrence ----------------------------------------------------------------


def _coarse_track(h: int, p: CsesParams) -> dict[str, np.ndarray]:
    t = _rows(h, p)[::_COARSE]
    lat, lon, alt = _track(t, p)
    mlat, _ = _aacgm(lat, lon, alt, t)
    return dict(t=t, lat=lat, lon=lon, mlat=mlat)


def _eligible(track: dict[str, np.ndarray], sign: int, half_window_s: float, p: CsesParams):
    """Coarse indices whose +-half_window stays inside the band wherever there is data.

    Rows beyond the ends of the half-orbit count as allowed: the instrument is off there,
    and an anomaly cut by the end of the recording is what real files show too.
    """
    m = sign * track["mlat"]
    # a little inside the band: full-resolution rows between coarse samples must stay in
    lo, hi = p.mlat_band[0] + 0.05, p.mlat_band[1] - 0.3
    m = np.nan_to_num(m, nan=-999.0)
    ok = (m >= lo) & (m <= hi)
    step_s = _COARSE * ROW_MS / 1000.0
    k = math.ceil(half_window_s / step_s) + 1
    padded = np.concatenate([np.ones(k, bool), ok, np.ones(k, bool)])
    c = np.concatenate([[0], np.cumsum(padded)])
    j = np.arange(ok.size)
    full = (c[j + 2 * k + 1] - c[j]) == 2 * k + 1
    return j[full & ok]


def _draw_anomaly(rng: np.random.Generator, p: CsesParams) -> dict[str, float]:
    lo, hi = p.freq_limits_hz
    while True:  # truncated normal by rejection (acceptance is high)
        f0 = rng.normal(p.freq_mean_hz, p.freq_sd_hz)
        if lo <= f0 <= hi:
            break
    contrast = rng.uniform(*p.contrast_decades)
    duration = math.exp(rng.uniform(math.log(p.duration_s[0]), math.log(p.duration_s[1])))
    sigma_f = rng.uniform(*p.freq_sigma_hz)
    # keep the nucleus inside 0-12.5 kHz as in the paper: shrink its width near the edges
    sigma_f = min(sigma_f, f0 / 3.0, (12_500.0 - f0) / 3.0)
    return dict(
        f0=f0,
        sigma_f=sigma_f,
        contrast=contrast,
        duration=duration,
        wobble2=rng.uniform(0.0, 0.15),
        wobble3=rng.uniform(0.0, 0.1),
        phase2=rng.uniform(0.0, 2 * np.pi),
        phase3=rng.uniform(0.0, 2 * np.pi),
        drift=rng.uniform(-0.3, 0.3),
        u_place=rng.uniform(),
    )


def _sigma_t(a: dict[str, float], p: CsesParams) -> float:
    """Gaussian time width giving the nominal truth duration at the nominal contrast."""
    ratio = 10.0 ** a["contrast"] / p.truth_fraction
    return a["duration"] / (2.0 * math.sqrt(2.0 * math.log(max(ratio, 1.5))))


# The bump is cut at 4 (wobbled) sigma. Placement keeps the nominal truth extent inside the
# |mlat| band; rendering additionally zeroes the anomaly on rows outside the band, so no
# truth pixel can leave it even where the nominal extent underestimates the true one.
_SUPPORT = 4.0


def _half_window_s(a: dict[str, float], p: CsesParams) -> float:
    return 0.5 * a["duration"] * 1.15


_DROPPED = [0]  # anomalies no half-orbit of their day could hold (diagnostics)


@functools.lru_cache(maxsize=64)
def _day_anomalies(seed: int, day: int, p: CsesParams) -> tuple[dict[str, Any], ...]:
    """All anomalies of UTC day ``day`` (days since 1970) as dicts, deterministic."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, day, 0xA40])
    t_day = day * _MS_PER_DAY
    season = str(_season(np.array([t_day]))[0])
    lam = p.rate_scale * p.season_counts[season] / _SEASON_DAYS[season]
    m = max(p.regions_per_orbit, 1.0)
    n_groups = rng.poisson(lam / m)
    if n_groups == 0:
        return ()
    hs = _halforbits_starting(t_day, t_day + _MS_PER_DAY, p)
    side_rng = None  # a stream of its own, so the other draws stay those of day_fraction=None
    if p.day_fraction is not None:
        side_rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, day, 0xA41])
    tracks: dict[int, dict[str, np.ndarray]] = {}
    out: list[dict[str, Any]] = []
    taken_by_h: dict[int, list[tuple[float, float]]] = {}
    for _ in range(n_groups):
        size = 1 + rng.poisson(m - 1.0)
        north = bool(rng.uniform() < p.north_fraction)
        sign = 1 if north else -1
        anomalies = [_draw_anomaly(rng, p) for _ in range(size)]
        order = rng.permutation(hs)
        if side_rng is not None:  # day side = descending = even half-orbits first
            want = 0 if side_rng.uniform() < p.day_fraction else 1
            order = np.concatenate([order[order % 2 == want], order[order % 2 != want]])
        placed = False
        for _shrink in range(5):
            for h in order:
                h = int(h)
                if h not in tracks:
                    tracks[h] = _coarse_track(h, p)
                tr = tracks[h]
                # (centre s, half window s) of anomalies already on this half-orbit, so
                # that groups of the same day do not stack on one spot
                taken = list(taken_by_h.get(h, []))
                picks = []
                for a in anomalies:
                    w = _half_window_s(a, p)
                    cand = _eligible(tr, sign, w, p)
                    t_s = tr["t"][cand] / 1000.0
                    free = np.ones(cand.size, dtype=bool)
                    for c, wc in taken:  # keep the group's anomalies apart
                        free &= np.abs(t_s - c) > (w + wc)
                    cand = cand[free]
                    if cand.size == 0:
                        break
                    weight = np.exp(
                        -0.5 * ((np.abs(tr["mlat"][cand]) - p.mlat_mean) / p.mlat_sd) ** 2
                    )
                    cdf = np.cumsum(weight) / weight.sum()
                    j = int(cand[min(np.searchsorted(cdf, a["u_place"]), cand.size - 1)])
                    picks.append(j)
                    taken.append((tr["t"][j] / 1000.0, w))
                if len(picks) == len(anomalies):
                    taken_by_h[h] = taken
                    for a, j in zip(anomalies, picks):
                        out.append(
                            dict(
                                a,
                                halforbit=h,
                                row=j * _COARSE,
                                t_ms=int(tr["t"][j]),
                                lat=float(tr["lat"][j]),
                                lon=float(tr["lon"][j]),
                                mlat=float(tr["mlat"][j]),
                                north=north,
                            )
                        )
                    placed = True
                    break
            if placed:
                break
            for a in anomalies:  # nowhere fits: shorter anomalies fit more half-orbits
                a["duration"] = max(p.duration_s[0], a["duration"] * 0.6)
        if not placed:
            _DROPPED[0] += len(anomalies)
    return tuple(out)


def _day_of_halforbit(h: int, p: CsesParams) -> int:
    """UTC day (since 1970) in which half-orbit ``h`` starts."""
    return int(float(_halforbit_start_ms(h, p)) // _MS_PER_DAY)


def _anomalies_for_halforbit(seed: int, h: int, p: CsesParams) -> list[dict[str, Any]]:
    day = _day_of_halforbit(h, p)
    return [a for a in _day_anomalies(seed, day, p) if a["halforbit"] == h]


def cses_anomaly_table(
    start: str | np.datetime64 | pd.Timestamp = "2021-11-01",
    days: int = 365,
    seed: int = 0,
    params: CsesParams | None = None,
    **overrides: Any,
) -> pd.DataFrame:
    """Injected nucleus-shaped anomalies of a window, without writing any file.

    Uses the same draws as :func:`cses_orbits`, so the table lists exactly the
    anomalies the files of that window hold. A year takes a few seconds.

    Parameters
    ----------
    start : str or datetime-like
        First UTC day (half-orbits are assigned to the day in which they start).
    days : int
        Number of days.
    seed : int
        Random seed.
    params : CsesParams, optional
        Parameters; ``**overrides`` replace single fields (e.g. ``rate_scale=10``).

    Returns
    -------
    pandas.DataFrame
        One row per anomaly: ``time`` (centre), ``start_time``, ``end_time`` (nominal
        truth extent), ``orbit``, ``orbit_direction``, ``latitude``, ``longitude``,
        ``magnetic_latitude`` (AACGM-v2 at the centre), ``f_center`` and ``sigma_f``
        (Hz), ``contrast`` (log10 over the background, Z), ``duration_s``, ``season``
        (DJF/MAM/JJA/SON of the centre time), ``hemisphere`` (N/S).

    Examples
    --------
    >>> tab = cses_anomaly_table("2021-11-01", days=30, seed=1)
    >>> set(tab.hemisphere) <= {"N", "S"}
    True
    """
    p = _params(params, overrides)
    t0 = _to_ms(pd.Timestamp(start).normalize())
    day0 = t0 // _MS_PER_DAY
    rows = []
    for d in range(day0, day0 + int(days)):
        rows.extend(_day_anomalies(int(seed), int(d), p))
    cols = [
        "time",
        "start_time",
        "end_time",
        "orbit",
        "orbit_direction",
        "latitude",
        "longitude",
        "magnetic_latitude",
        "f_center",
        "sigma_f",
        "contrast",
        "duration_s",
        "season",
        "hemisphere",
    ]
    if not rows:
        return pd.DataFrame({c: [] for c in cols})
    t = np.array([r["t_ms"] for r in rows], dtype=np.int64)
    dur_ms = np.array([r["duration"] * 1000.0 for r in rows])
    h = np.array([r["halforbit"] for r in rows], dtype=np.int64)
    df = pd.DataFrame(
        dict(
            time=t.astype("datetime64[ms]").astype("datetime64[ns]"),
            start_time=(t - dur_ms / 2).astype(np.int64).astype("datetime64[ms]"),
            end_time=(t + dur_ms / 2).astype(np.int64).astype("datetime64[ms]"),
            orbit=h // 2,
            orbit_direction=np.where(h % 2 == 0, "descending", "ascending"),
            latitude=[r["lat"] for r in rows],
            longitude=[r["lon"] for r in rows],
            magnetic_latitude=[r["mlat"] for r in rows],
            f_center=[r["f0"] for r in rows],
            sigma_f=[r["sigma_f"] for r in rows],
            contrast=[r["contrast"] for r in rows],
            duration_s=dur_ms / 1000.0,
            season=_season(t),
            hemisphere=np.where([r["north"] for r in rows], "N", "S"),
        )
    )
    df["start_time"] = df["start_time"].astype("datetime64[ns]")
    df["end_time"] = df["end_time"].astype("datetime64[ns]")
    return df.sort_values("time", ignore_index=True)[cols]


# --- spectra ---------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, t_s: np.ndarray, scale_s: float) -> np.ndarray:
    """Smooth random process of about unit variance and time scale ``scale_s``.

    Knots ``scale_s`` apart, linearly interpolated and then Hann-smoothed over one knot
    spacing: plain linear interpolation leaves kinks that read as artificial V shapes.
    """
    n = int((t_s[-1] - t_s[0]) // scale_s) + 2
    knots = t_s[0] + scale_s * np.arange(n)
    x = np.interp(t_s, knots, rng.standard_normal(n))
    dt = float(np.median(np.diff(t_s))) if t_s.size > 1 else scale_s
    w = np.hanning(max(3, int(scale_s / dt) | 1))
    xp = np.pad(x, w.size // 2, mode="edge")
    return 1.4 * np.convolve(xp, w / w.sum(), mode="valid")


def _smoothstep(x: np.ndarray, a: float, b: float) -> np.ndarray:
    s = np.clip((x - a) / (b - a), 0.0, 1.0)
    return s * s * (3 - 2 * s)


def _dipole_mlat(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Centred-dipole latitude: smooth everywhere, used only to shape the background
    (AACGM is undefined near the equator)."""
    plat, plon = np.deg2rad(80.7), np.deg2rad(-72.7)
    la, lo = np.deg2rad(lat), np.deg2rad(lon)
    s = np.sin(la) * np.sin(plat) + np.cos(la) * np.cos(plat) * np.cos(lo - plon)
    return np.rad2deg(np.arcsin(np.clip(s, -1, 1)))


def _great_circle_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    la1, lo1, la2, lo2 = map(np.deg2rad, (lat1, lon1, lat2, lon2))
    c = np.sin(la1) * np.sin(la2) + np.cos(la1) * np.cos(la2) * np.cos(lo1 - lo2)
    return 6371.0 * np.arccos(np.clip(c, -1, 1))


_F = FREQ_HZ.astype(np.float64)
_ROW_S = ROW_MS / 1000.0
_COMP_OFFSET = {"X": 0.12, "Y": 0.08, "Z": 0.0}  # log10 level of each component
_COMP_HISS = {"X": 1.5, "Y": 1.3, "Z": 1.0}


@dataclass(frozen=True)
class _Ctx:
    """Along-track quantities of one half-orbit that every emission model uses."""

    t_ms: np.ndarray
    t_s: np.ndarray  # seconds since the first row
    lat: np.ndarray
    lon: np.ndarray
    dml: np.ndarray  # centred-dipole magnetic latitude (defined everywhere)
    mlat: np.ndarray  # AACGM where defined, else the dipole latitude
    lt_h: np.ndarray  # local solar time, hours
    day: np.ndarray  # 1 on the day side, 0 at night, smooth in between

    @property
    def n(self) -> int:
        return self.t_ms.size


def _context(geom: pd.DataFrame) -> _Ctx:
    t_ms = geom.t_ms.to_numpy()
    lat, lon = geom.lat.to_numpy(), geom.lon.to_numpy()
    dml = _dipole_mlat(lat, lon)
    aacgm = geom.mlat.to_numpy()
    lt_h = ((t_ms % _MS_PER_DAY) / 3_600_000.0 + lon / 15.0) % 24.0
    day = _smoothstep(np.cos(np.deg2rad(15.0 * (lt_h - 12.0))), -0.25, 0.25)
    return _Ctx(
        t_ms=t_ms,
        t_s=(t_ms - t_ms[0]) / 1000.0,
        lat=lat,
        lon=lon,
        dml=dml,
        mlat=np.where(np.isfinite(aacgm), aacgm, dml),
        lt_h=lt_h,
        day=day,
    )


def _background(rng: np.random.Generator, ctx: _Ctx, p: CsesParams) -> np.ndarray:
    """Falls with frequency, rises toward the auroral zone and by day, and wanders
    slowly ("space weather" of the pass). Linear power, (mV/m)^2/Hz."""
    t_s, adml = ctx.t_s, np.abs(ctx.dml)
    wander = 0.08 * _smooth_noise(rng, t_s, 90.0)
    aurora = (
        p.bg_aurora_decades
        * _smoothstep(adml, 50.0, 68.0)
        * (1.0 + 0.3 * _smooth_noise(rng, t_s, 40.0))
    )
    lowf = np.exp(-(_F / 1000.0) / 4.0)
    log_bg = (
        p.bg_level_log10
        - p.bg_slope * np.log10(1.0 + _F / p.bg_knee_hz)[None, :]
        + (wander + p.bg_day_decades * ctx.day)[:, None]
        + aurora[:, None] * (0.3 + 0.7 * lowf)[None, :]
    )
    return 10.0**log_bg


def _plasmaspheric_hiss(rng: np.random.Generator, ctx: _Ctx, p: CsesParams) -> np.ndarray:
    """Broadband below ~2-4 kHz inside the plasmasphere, stronger by day."""
    dml, adml, t_s = ctx.dml, np.abs(ctx.dml), ctx.t_s
    env = 1.0 - 0.6 * np.exp(-((dml / 15.0) ** 2)) * (1.0 - _smoothstep(adml, 48.0, 58.0))
    env = env * (0.45 + 0.55 * ctx.day) * np.exp(0.35 * _smooth_noise(rng, t_s, 60.0))
    f_top = np.maximum(2500.0 + 700.0 * _smooth_noise(rng, t_s, 120.0), 1200.0)
    shape = np.exp(-0.5 * (np.log(np.maximum(_F, 1.0)[None, :] / 700.0) / 0.75) ** 2)
    shape = shape * (1.0 - _smoothstep(_F[None, :], f_top[:, None], 1.6 * f_top[:, None]))
    return 10.0**p.hiss_level_log10 * env[:, None] * shape


def _transmitters(ctx: _Ctx, p: CsesParams) -> np.ndarray:
    """Ground VLF transmitters: narrow lines, strongest near the station, weaker by day."""
    tx = np.zeros((ctx.n, N_FREQ))
    for _name, ftx, tlat, tlon, strength in _TRANSMITTERS:
        k = round(ftx / DF_HZ)
        d = _great_circle_km(ctx.lat, ctx.lon, tlat, tlon)
        lvl = 10.0 ** (strength + 0.5 - d / 2500.0 - 0.8 * ctx.day) + 10.0 ** (strength - 0.6)
        base = 10.0 ** (p.bg_level_log10 - p.bg_slope * math.log10(1.0 + ftx / p.bg_knee_hz))
        amp = 40.0 * base * lvl
        if p.tx_level_decades != 0.0:
            amp = amp * 10.0**p.tx_level_decades
        tx[:, k] += amp
        for kk, frac in ((k - 1, 0.15), (k + 1, 0.15)):
            if 0 <= kk < N_FREQ:
                tx[:, kk] += frac * amp
    return tx


def _whistler_streaks(
    rng: np.random.Generator, rows_w: np.ndarray, out: np.ndarray, bg: np.ndarray
) -> None:
    """Add one dispersed whistler per entry of ``rows_w`` (its row) to ``out``: a
    few-row streak each, the low frequencies arriving later (t = D / sqrt(f))."""
    n = out.shape[0]
    m = rows_w.size
    if m == 0:
        return
    t_in = rng.uniform(0.0, _ROW_S, m)
    disp = rng.uniform(8.0, 45.0, m)  # s^0.5
    amp = 10.0 ** rng.uniform(0.3, 1.6, m)
    f_hi = rng.uniform(3000.0, 14_000.0, m)
    fpos = np.maximum(_F, 150.0)
    arrive = t_in[:, None] + disp[:, None] / np.sqrt(fpos)[None, :]
    drow = (arrive // _ROW_S).astype(np.int64)
    spec = amp[:, None] * np.exp(-((_F[None, :] / f_hi[:, None]) ** 2))
    spec = spec * _smoothstep(_F[None, :], 150.0, 600.0)
    r = rows_w[:, None] + drow
    keep = r < n
    cols = np.broadcast_to(np.arange(N_FREQ), r.shape)
    bgw = bg[np.minimum(r, n - 1), cols]
    np.add.at(out, (r[keep], cols[keep]), (spec * bgw)[keep])


def _whistlers(rng: np.random.Generator, ctx: _Ctx, p: CsesParams, bg: np.ndarray) -> np.ndarray:
    """Lightning whistlers at the configured day/night rates, in slow "storm" waves."""
    storm = np.exp(0.9 * _smooth_noise(rng, ctx.t_s, 120.0) - 0.4)
    rate = (p.whistler_rate_day * ctx.day + p.whistler_rate_night * (1 - ctx.day)) * storm
    rate = rate * (1.0 - _smoothstep(np.abs(ctx.lat), 45.0, 62.0) * 0.85)
    counts = rng.poisson(rate)
    whis = np.zeros((ctx.n, N_FREQ))
    _whistler_streaks(rng, np.repeat(np.arange(ctx.n), counts), whis, bg)
    return whis


def _anomaly_shapes(
    anomalies: list[dict[str, Any]], p: CsesParams, ctx: _Ctx, geom: pd.DataFrame, ref_power
) -> list[tuple[slice, np.ndarray, float]]:
    """(rows, Gaussian-with-wobble shape, reference power) of each anomaly; the shape is
    zero on rows outside the |mlat| band."""
    mlat_rows = np.nan_to_num(geom.mlat.to_numpy(), nan=0.0)
    n, t_ms = ctx.n, ctx.t_ms
    out = []
    for a in anomalies:
        i0 = a["row"]
        st = _sigma_t(a, p)
        half = _SUPPORT * 1.25 * st  # the wobble stretches the bump by at most 1.25
        lo = max(0, i0 - math.ceil(half / _ROW_S))
        hi = min(n, i0 + math.ceil(half / _ROW_S) + 1)
        m = (1 if a["north"] else -1) * mlat_rows[lo:hi]
        inband = (m >= p.mlat_band[0]) & (m <= p.mlat_band[1])
        dt = (t_ms[lo:hi] - t_ms[i0])[:, None] / 1000.0 / st
        dfn = (_F[None, :] - a["f0"]) / a["sigma_f"] - a["drift"] * dt
        r = np.hypot(dt, dfn)
        theta = np.arctan2(dfn, dt)
        wob = (
            1.0
            + a["wobble2"] * np.sin(2 * theta + a["phase2"])
            + a["wobble3"] * np.sin(3 * theta + a["phase3"])
        )
        rr = r / wob
        g = np.where((rr <= _SUPPORT) & inband[:, None], np.exp(-0.5 * rr**2), 0.0)
        k0 = round(a["f0"] / DF_HZ)
        out.append((slice(lo, hi), g, ref_power(i0, k0)))
    return out


def _render(
    seed: int, h: int, p: CsesParams, geom: pd.DataFrame
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[dict[str, Any]]]:
    """Spectra (linear power, NaN on fill rows) and truth per component for half-orbit
    ``h``. The draws of the original generator come from one stream in a fixed order;
    the hard negatives each have their own (:func:`_hard_negatives`)."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(h), 0xB6])
    ctx = _context(geom)
    bg = _background(rng, ctx, p)
    hiss = _plasmaspheric_hiss(rng, ctx, p)
    tx = _transmitters(ctx, p)
    whis = _whistlers(rng, ctx, p, bg)
    hn = _hard_negatives(seed, h, ctx, p, bg)
    anomalies = _anomalies_for_halforbit(seed, h, p)
    # the smooth background the contrast refers to
    shapes = _anomaly_shapes(anomalies, p, ctx, geom, lambda i, k: bg[i, k] + hiss[i, k])
    spectra: dict[str, np.ndarray] = {}
    truth: dict[str, np.ndarray] = {}
    if p.noise_dof is not None:
        # its own stream: the same world with another noise model
        noise_rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(h), 0xB6, 1])
        n_avg = _loguniform(noise_rng, *p.noise_dof)
    for c in p.components:
        scale = 10.0 ** _COMP_OFFSET[c]
        smooth = (bg + hiss * _COMP_HISS[c]) * scale
        if hn.continuum is not None:
            smooth = smooth + hn.continuum * scale
        rest = smooth + (tx + whis) * scale
        if hn.discrete is not None:
            rest = rest + hn.discrete * scale
        anom = np.zeros_like(rest)
        for a, (sl, g, ref) in zip(anomalies, shapes):
            gain = 10.0 ** (a["contrast"] * p.component_gain[c]) * scale
            anom[sl] += gain * ref * g
        # Against the smooth continuum only: a whistler or a transmitter line crossing a
        # nucleus would otherwise punch one-row/one-bin holes a labeller would not draw.
        truth[c] = anom >= p.truth_fraction * smooth
        if p.noise_dof is None:
            noise = rng.standard_normal((ctx.n, N_FREQ), dtype=np.float32) * p.noise_decades
            noise += (0.03 * rng.standard_normal(ctx.n, dtype=np.float32))[:, None]
            power = (rest + anom) * 10.0**noise
        else:
            row = 10.0 ** (0.03 * noise_rng.standard_normal(ctx.n))[:, None]
            chi2 = noise_rng.gamma(n_avg, 1.0 / n_avg, size=(ctx.n, N_FREQ))
            power = (rest + anom) * (chi2 * row)
        if p.calibration_gain != 1.0:
            power = power * p.calibration_gain
        spectra[c] = power.astype(np.float32)
        if hn.fill is not None:
            spectra[c][hn.fill] = np.nan
            truth[c][hn.fill] = False
    return spectra, truth, anomalies


# --- hard negatives (domain randomisation) -----------------------------------------------
#
# Each draws from its own stream (seed, half-orbit, 0xB7, k), so switching one on changes
# neither the original draws nor the other hard negatives. Levels are relative to the local
# background ``bg`` so that they follow its latitude, day/night and slope randomisation.


@dataclass
class _HardNegatives:
    continuum: np.ndarray | None  # auroral hiss: part of the truth reference
    discrete: np.ndarray | None  # chorus, storms, lines, PLHR, bursts: not in the reference
    fill: np.ndarray | None  # bool rows written as the fill value


def _stream(seed: int, h: int, k: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(h), 0xB7, k])


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _pick_rows(rng: np.random.Generator, weight: np.ndarray, k: int) -> np.ndarray:
    """``k`` rows drawn with probability proportional to ``weight`` (none if all zero)."""
    w = np.clip(np.nan_to_num(weight), 0.0, None)
    if k == 0 or w.sum() <= 0:
        return np.zeros(0, dtype=np.int64)
    return rng.choice(w.size, size=k, p=w / w.sum())


def _patch(t_s: np.ndarray, t0: float, dur: float) -> np.ndarray:
    """1 over the middle of a ``dur``-second patch centred at ``t0``, smooth edges."""
    x = np.abs(t_s - t0) / (dur / 2.0)
    return 1.0 - _smoothstep(x, 0.6, 1.0)


def _hard_negatives(seed: int, h: int, ctx: _Ctx, p: CsesParams, bg: np.ndarray) -> _HardNegatives:
    discrete = None
    models = (
        (1, p.chorus_rate, _chorus),
        (3, p.whistler_storm_rate, _whistler_storms),
        (4, p.extra_line_rate, _extra_lines),
        (5, p.plhr_rate, _plhr),
        (6, p.burst_rate, _bursts),
    )
    for k, rate, model in models:
        if rate > 0:
            x = model(_stream(seed, h, k), ctx, p, bg)
            if x is not None:
                discrete = x if discrete is None else discrete + x
    continuum = None
    if p.auroral_hiss_rate > 0:
        continuum = _auroral_hiss(_stream(seed, h, 2), ctx, p, bg)
    if p.lhr_probability > 0:
        lhr = _lhr_noise(_stream(seed, h, 8), ctx, p, bg)
        if lhr is not None:
            continuum = lhr if continuum is None else continuum + lhr
    fill = None
    if p.fill_rate > 0:
        fill = _fill_rows(_stream(seed, h, 7), ctx.n, p)
    return _HardNegatives(continuum, discrete, fill)


def _chorus(rng: np.random.Generator, ctx: _Ctx, p: CsesParams, bg: np.ndarray):
    """Whistler-mode chorus: at 2 s resolution, a textured band of rising (80 %) and
    falling tones between 0.1 and 0.5 (lower band) or 0.5 and 0.8 (upper band, weaker) of
    the equatorial electron gyrofrequency f_ce = 873.6 kHz / L^3 of the local dipole
    field line, outside the plasmapause (L_pp 3.5-5) and inside L ~ 10; dawn favoured.
    Each element deposits its power in the 25 Hz bins it sweeps, in the row(s) it spans.
    """
    k = rng.poisson(p.chorus_rate)
    if k == 0:
        return None
    n = ctx.n
    big_l = 1.0 / np.cos(np.deg2rad(np.minimum(np.abs(ctx.dml), 85.0))) ** 2
    l_pp = rng.uniform(3.5, 5.0)
    region = _smoothstep(big_l, l_pp, l_pp + 0.5) * (1.0 - _smoothstep(big_l, 9.0, 11.0))
    dawn = 0.5 * (1.0 + np.cos(2 * np.pi * (ctx.lt_h - 6.0) / 24.0))
    fce = 873_600.0 / big_l**3
    out = np.zeros((n, N_FREQ))
    for i0 in _pick_rows(rng, region * (0.2 + dawn), k):
        env = _patch(ctx.t_s, ctx.t_s[i0], _loguniform(rng, 30.0, 300.0)) * region
        level = 10.0 ** rng.uniform(*p.chorus_decades)
        counts = rng.poisson(rng.uniform(3.0, 12.0) * env)
        rows = np.repeat(np.arange(n), counts)
        m = rows.size
        if m == 0:
            continue
        fc = fce[rows]
        upper = rng.uniform(size=m) < 0.25
        lo = np.where(upper, 0.5, 0.1) * fc
        hi = np.where(upper, 0.8, 0.5) * fc
        f_a = lo + rng.uniform(size=m) * (hi - lo)
        sweep = fc * rng.uniform(0.05, 0.3, m) * np.where(rng.uniform(size=m) < 0.8, 1, -1)
        f_b = np.clip(f_a + sweep, lo, hi)
        t_a = rng.uniform(0.0, _ROW_S, m)
        dur = rng.uniform(0.1, 1.0, m)
        amp = level * np.where(upper, 0.3, 1.0) * rng.uniform(0.3, 1.5, m)
        npts = np.ceil(np.abs(f_b - f_a) / DF_HZ).astype(np.int64) + 1
        idx = np.repeat(np.arange(m), npts)
        frac = (np.arange(idx.size) - np.repeat(np.cumsum(npts) - npts, npts)) / np.maximum(
            npts[idx] - 1, 1
        )
        col = np.rint((f_a[idx] + frac * (f_b - f_a)[idx]) / DF_HZ).astype(np.int64)
        row = rows[idx] + ((t_a[idx] + frac * dur[idx]) // _ROW_S).astype(np.int64)
        ok = (row < n) & (col >= 1) & (col < N_FREQ)
        row, col = row[ok], col[ok]
        np.add.at(out, (row, col), amp[idx[ok]] * bg[row, col])
    return out


def _auroral_hiss(rng: np.random.Generator, ctx: _Ctx, p: CsesParams, bg: np.ndarray):
    """Auroral hiss patches at high magnetic latitude: broadband up to 12-25.6 kHz,
    funnel-shaped (75 %: the lower cutoff rises from 0.5-4 kHz at the patch's vertex to
    6-20 kHz at its ends, as for a source field line the satellite passes), minutes long,
    flatter than the background (spectral tilt f^0-0.6 over it), slowly fluctuating."""
    k = rng.poisson(p.auroral_hiss_rate)
    if k == 0:
        return None
    am = np.abs(ctx.mlat)
    where = _smoothstep(am, p.auroral_hiss_mlat - 1.0, p.auroral_hiss_mlat + 1.0)
    out = np.zeros((ctx.n, N_FREQ))
    for i0 in _pick_rows(rng, where, k):
        # no draw without compact patches: the broadband patches of a set stay as they were
        if p.auroral_hiss_compact > 0 and rng.uniform() < p.auroral_hiss_compact:
            level, shape, env, act = _compact_hiss_patch(rng, ctx, p, i0, where)
        else:
            level, shape, env, act = _broadband_hiss_patch(rng, ctx, p, i0, where)
        if act.size == 0:
            continue
        out[act] += level * bg[act] * shape * env[act, None]
    return out


def _broadband_hiss_patch(rng, ctx: _Ctx, p: CsesParams, i0: int, where: np.ndarray):
    """Level, shape (active rows x frequencies), row envelope and active rows of a
    broadband patch."""
    dur = _loguniform(rng, *p.auroral_hiss_duration_s)
    level = 10.0 ** rng.uniform(*p.auroral_hiss_decades)
    f_v = _loguniform(rng, 500.0, 4000.0)
    funnel = rng.uniform() < 0.75
    f_edge = rng.uniform(6000.0, 20_000.0) if funnel else f_v * rng.uniform(1.0, 1.5)
    f_up = rng.uniform(*p.auroral_hiss_f_up_hz)
    tilt = rng.uniform(0.0, 0.6)
    skew = rng.uniform(-0.3, 0.3)
    x = (ctx.t_s - ctx.t_s[i0]) / (dur / 2.0)
    env = (1.0 - _smoothstep(np.abs(x), 0.7, 1.0)) * where
    env = env * np.exp(0.25 * _smooth_noise(rng, ctx.t_s, 20.0))
    act = np.flatnonzero(env > 1e-3)
    f_low = f_v + (f_edge - f_v) * np.minimum(np.abs(x[act] - skew), 1.0)
    fl = f_low[:, None]
    shape = _smoothstep(_F[None, :], 0.8 * fl, 1.25 * fl)
    shape = shape * (1.0 - _smoothstep(_F, f_up, 1.3 * f_up))[None, :]
    shape = shape * (np.maximum(_F, f_v) / f_v)[None, :] ** tilt
    return level, shape, env, act


def _compact_hiss_patch(rng, ctx: _Ctx, p: CsesParams, i0: int, where: np.ndarray):
    """Level, shape, row envelope and active rows of a compact, band-limited patch."""
    dur = _loguniform(rng, 20.0, 90.0)
    level = 10.0 ** rng.uniform(*p.auroral_hiss_decades)
    f_v = rng.uniform(2000.0, 8000.0)
    width = rng.uniform(1500.0, 4000.0)
    soft = rng.uniform(0.03, 0.25)  # edge width as a share of the band's edge frequency
    tilt = rng.uniform(-1.0, 0.6)
    drift = rng.uniform(-0.15, 0.15)  # the band's centre moves with the latitude crossed
    x = (ctx.t_s - ctx.t_s[i0]) / (dur / 2.0)
    env = (1.0 - _smoothstep(np.abs(x), rng.uniform(0.3, 0.8), 1.0)) * where
    env = env * np.exp(0.25 * _smooth_noise(rng, ctx.t_s, 10.0))
    act = np.flatnonzero(env > 1e-3)
    lo = (f_v * (1.0 + drift * x[act]))[:, None]
    hi = lo + width
    shape = _smoothstep(_F[None, :], lo * (1 - soft), lo * (1 + soft))
    shape = shape * (1.0 - _smoothstep(_F[None, :], hi * (1 - soft / 2), hi * (1 + soft / 2)))
    shape = shape * (np.maximum(_F, 100.0)[None, :] / lo) ** tilt
    return level, shape, env, act


def _lhr_noise(rng: np.random.Generator, ctx: _Ctx, p: CsesParams, bg: np.ndarray):
    """Lower-hybrid-resonance noise: whistler-mode waves pile up at the local lower-hybrid
    frequency, which in the dense topside plasma follows sqrt(f_ce f_ci), so the field
    strength (dipole: sqrt(1 + 3 sin^2 lat)); its sharp lower cutoff is the LHR itself."""
    if rng.uniform() >= p.lhr_probability:
        return None
    f0 = _loguniform(rng, 2500.0, 7000.0)
    edge = rng.uniform(0.01, 0.05)
    decay = rng.uniform(0.1, 0.6)
    level = 10.0 ** rng.uniform(*p.lhr_decades)
    top = rng.uniform(45.0, 65.0)
    sin = np.sin(np.deg2rad(ctx.dml))
    f_lhr = f0 * np.sqrt(1.0 + 3.0 * sin**2) * np.exp(0.1 * _smooth_noise(rng, ctx.t_s, 120.0))
    env = 1.0 - _smoothstep(np.abs(ctx.mlat), top - 5.0, top)
    env = env * np.exp(0.3 * _smooth_noise(rng, ctx.t_s, 30.0))
    fl = f_lhr[:, None]
    above = np.maximum(_F[None, :] - fl, 0.0)
    shape = _smoothstep(_F[None, :], fl * (1 - edge), fl * (1 + edge)) * np.exp(
        -above / (decay * fl)
    )
    return level * bg * env[:, None] * shape


def _whistler_storms(rng: np.random.Generator, ctx: _Ctx, p: CsesParams, bg: np.ndarray):
    """Night-side lightning storms: 1-10 minutes of many dispersed whistlers (peak rate
    drawn from ``whistler_storm_intensity`` per row), below ~55 deg latitude."""
    k = rng.poisson(p.whistler_storm_rate)
    if k == 0:
        return None
    night = 1.0 - ctx.day
    lat_ok = 1.0 - 0.85 * _smoothstep(np.abs(ctx.lat), 45.0, 62.0)
    centres = _pick_rows(rng, night * (1.0 - _smoothstep(np.abs(ctx.lat), 50.0, 58.0)), k)
    if centres.size == 0:
        return None
    rate = np.zeros(ctx.n)
    for i0 in centres:
        dur = _loguniform(rng, 60.0, 600.0)
        rate += rng.uniform(*p.whistler_storm_intensity) * _patch(ctx.t_s, ctx.t_s[i0], dur)
    rate = rate * night * lat_ok
    out = np.zeros((ctx.n, N_FREQ))
    _whistler_streaks(rng, np.repeat(np.arange(ctx.n), rng.poisson(rate)), out, bg)
    return out


def _line_profile(freqs: np.ndarray, amps: np.ndarray) -> np.ndarray:
    """Narrow lines at (fractional-bin) frequencies, split between the two nearest bins
    with a little leakage into the neighbours."""
    s = np.zeros(N_FREQ)
    x = np.asarray(freqs) / DF_HZ
    k0 = np.floor(x).astype(np.int64)
    w = x - k0
    for kk, frac in ((k0, 1.0 - w), (k0 + 1, w), (k0 - 1, 0.1), (k0 + 2, 0.1)):
        ok = (kk >= 0) & (kk < N_FREQ)
        np.add.at(s, kk[ok], (amps * frac)[ok])
    return s


def _extra_lines(rng: np.random.Generator, ctx: _Ctx, p: CsesParams, bg: np.ndarray):
    """Constant-frequency lines not in the transmitter table: platform interference (40 %,
    the whole pass) or a transmitter in reach for 2-20 minutes; half at 3-12.5 kHz."""
    k = rng.poisson(p.extra_line_rate)
    if k == 0:
        return None
    out = np.zeros((ctx.n, N_FREQ))
    for _ in range(k):
        low = rng.uniform() < 0.5
        f0 = rng.uniform(3000.0, 12_500.0) if low else rng.uniform(10_000.0, 25_000.0)
        level = 10.0 ** rng.uniform(*p.extra_line_decades)
        if rng.uniform() < 0.4:
            env = np.ones(ctx.n)
        else:
            i0 = rng.integers(ctx.n)
            env = _patch(ctx.t_s, ctx.t_s[i0], _loguniform(rng, 120.0, 1200.0))
        prof = _line_profile(np.array([f0]), np.array([level]))
        cols = np.flatnonzero(prof)
        kc = min(round(f0 / DF_HZ), N_FREQ - 1)
        out[:, cols] += (env * bg[:, kc])[:, None] * prof[cols][None, :]
    return out


def _plhr(rng: np.random.Generator, ctx: _Ctx, p: CsesParams, bg: np.ndarray):
    """Power-line harmonic radiation over industrial mid latitudes (25-58 deg): a comb of
    50 or 60 Hz harmonics (each present with probability 0.6; half the events shifted by
    up to 10 Hz, as magnetospheric line radiation is) over 0.5-6 kHz for 0.5-5 minutes."""
    k = rng.poisson(p.plhr_rate)
    if k == 0:
        return None
    alat = np.abs(ctx.lat)
    where = _smoothstep(alat, 20.0, 28.0) * (1.0 - _smoothstep(alat, 55.0, 62.0))
    out = np.zeros((ctx.n, N_FREQ))
    for i0 in _pick_rows(rng, where, k):
        base = 50.0 if rng.uniform() < 0.5 else 60.0
        env = _patch(ctx.t_s, ctx.t_s[i0], _loguniform(rng, 30.0, 300.0)) * where
        level = 10.0 ** rng.uniform(*p.plhr_decades)
        f_lo = rng.uniform(500.0, 3000.0)
        f_hi = f_lo + rng.uniform(500.0, 3000.0)
        shift = rng.uniform(0.0, 10.0) if rng.uniform() < 0.5 else 0.0
        harm = np.arange(math.ceil(f_lo / base), math.floor(f_hi / base) + 1) * base + shift
        harm = harm[rng.uniform(size=harm.size) < 0.6]
        if harm.size == 0:
            continue
        prof = _line_profile(harm, level * rng.uniform(0.3, 1.0, harm.size))
        cols = np.flatnonzero(prof)
        out[:, cols] += env[:, None] * bg[:, cols] * prof[cols][None, :]
    return out


def _bursts(rng: np.random.Generator, ctx: _Ctx, p: CsesParams, bg: np.ndarray):
    """Short broadband bursts (interference, intense sferic clusters): 1-3 rows from
    0-2 kHz up to 8-25.6 kHz."""
    k = rng.poisson(p.burst_rate)
    if k == 0:
        return None
    out = np.zeros((ctx.n, N_FREQ))
    for _ in range(k):
        i0 = int(rng.integers(ctx.n))
        rows = slice(i0, min(ctx.n, i0 + int(rng.integers(1, 4))))
        level = 10.0 ** rng.uniform(*p.burst_decades)
        f_lo, f_hi = rng.uniform(0.0, 2000.0), rng.uniform(8000.0, 25_600.0)
        shape = _smoothstep(_F, f_lo, f_lo + 300.0) * (1.0 - _smoothstep(_F, f_hi, 1.15 * f_hi))
        out[rows] += level * bg[rows] * shape[None, :]
    return out


def _fill_rows(rng: np.random.Generator, n: int, p: CsesParams) -> np.ndarray | None:
    """Data gaps: runs of rows (length log-uniform in ``fill_rows``) at random places."""
    k = rng.poisson(p.fill_rate)
    if k == 0:
        return None
    fill = np.zeros(n, dtype=bool)
    for _ in range(k):
        i0 = int(rng.integers(n))
        fill[i0 : i0 + max(1, round(_loguniform(rng, *p.fill_rows)))] = True
    return fill


def _groom(x: np.ndarray, keep_bits: int) -> np.ndarray:
    """Round float32 mantissas to ``keep_bits`` bits so shuffle+gzip compress the noise."""
    if keep_bits >= 23:
        return x
    drop = 23 - keep_bits
    u = x.astype(np.float32).view(np.uint32)
    u = (u + np.uint32(1 << (drop - 1))) & np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)
    return u.view(np.float32)


def _write_halforbit(seed: int, h: int, p: CsesParams, out_dir: Path) -> Path:
    with needs_extra("cses"):
        import h5py

    geom = halforbit_geometry(h, p)
    spectra, truth, _ = _render(seed, h, p, geom)
    t_ms = geom.t_ms.to_numpy()
    orbit, asc = h // 2, h % 2
    name = f"{FILE_PREFIX}{orbit:05d}{asc}_{_stamp(t_ms[0])}_{_stamp(t_ms[-1])}_000.h5"
    path = out_dir / name
    n = t_ms.size

    def col(x, dtype):
        return np.asarray(x, dtype=dtype).reshape(n, 1)

    def fill(x):
        return np.where(np.isfinite(x), x, FILL_VALUE)

    def write(tmp: str) -> None:
        with h5py.File(tmp, "w") as fh:
            fh.attrs["ORBITNUM"] = np.int32(orbit)
            fh.attrs["ORBITTYPE"] = np.int32(asc)  # 0 descending, 1 ascending, as in the name
            fh.attrs["SAMPLERATE"] = np.int32(SAMPLE_RATE_HZ)
            fh.attrs["SATELLITE"] = "CSES-01"
            fh.attrs["INSTRUMENT"] = "EFD"
            fh.attrs["SYNTHETIC"] = "xspecseg.synth.cses"
            fh.attrs["SYNTH_PARAMS"] = json.dumps(
                dict(json.loads(p.to_json()), seed=int(seed), halforbit=int(h))
            )

            def put(name, data, units, valid, fillvalue=FILL_VALUE, **kw):
                ds = fh.create_dataset(name, data=data, **kw)
                ds.attrs["FillValue"] = np.asarray(fillvalue, dtype=data.dtype)
                ds.attrs["Units"] = units
                ds.attrs["ValidRange"] = np.asarray(valid, dtype=data.dtype)

            put(
                "UTC_TIME",
                col(_utc_time_int(t_ms), np.int64),
                "ms",
                [20_180_101_000_000_000, 20_991_231_235_959_999],
                fillvalue=-1,
            )
            put("VERSE_TIME", col(t_ms - _UNIX_MS_2009, np.int64), "ms", [0, 2**62], fillvalue=-1)
            put("GEO_LAT", col(geom.lat, np.float32), "degree", [-90, 90])
            put("GEO_LON", col(geom.lon, np.float32), "degree", [-180, 180])
            put("MAG_LAT", col(fill(geom.mlat.to_numpy()), np.float32), "degree", [-90, 90])
            put("MAG_LON", col(fill(geom.mlon.to_numpy()), np.float32), "degree", [-180, 180])
            put("ALTITUDE", col(geom.alt, np.float32), "km", [0, 2000])
            # 1 = survey; 2 = burst, which the real EFD runs over China
            burst = (geom.lat.between(15, 55) & geom.lon.between(70, 140)).to_numpy()
            put("WORKMODE", col(np.where(burst, 2, 1), np.int32), "", [1, 2], fillvalue=-1)
            put("FREQ", FREQ_HZ.reshape(1, N_FREQ), "Hz", [0, 25_600])
            kw = dict(
                chunks=(min(n, 256), N_FREQ),
                compression="gzip",
                compression_opts=p.compression_level,
                shuffle=True,
            )
            valid = [0, 1e3 * max(1.0, p.calibration_gain)]
            for c in p.components:
                x = _groom(spectra[c], p.keep_bits)
                x[np.isnan(x)] = FILL_VALUE  # data gaps (fill_rate), after grooming: exact
                put(SPECTRUM_NAMES[c], x, PSD_UNITS, valid, **kw)
            bits = np.zeros((n, N_FREQ), dtype=np.uint8)
            for c in p.components:
                bits |= np.where(truth[c], TRUTH_BITS[c], 0).astype(np.uint8)
            put(TRUTH_NAME, bits, "bitmask X=1 Y=2 Z=4", [0, 7], fillvalue=np.uint8(0), **kw)

    return atomic_write(path, write)


def cses_orbits(
    start: str | np.datetime64 | pd.Timestamp = "2021-11-01",
    days: float = 7,
    seed: int = 0,
    out_dir: str | os.PathLike = "orbits/",
    params: CsesParams | None = None,
    *,
    orbits: Iterable[int] | None = None,
    overwrite: bool = False,
    **overrides: Any,
) -> list[Path]:
    """Write synthetic CSES EFD level-2 VLF files, one per half-orbit.

    Parameters
    ----------
    start : str or datetime-like
        Start of the window; half-orbits starting (at the pole) inside it are written.
    days : float
        Length of the window in days (fractions allowed: ``days=0.1`` is ~3 files).
    seed : int
        Random seed; each half-orbit depends only on ``(seed, params, orbit)``.
    out_dir : path
        Output folder (created).
    params : CsesParams, optional
        Generator parameters; ``**overrides`` replace single fields, e.g.
        ``rate_scale=20`` for training data or ``components=("Z",)`` for smaller files.
    orbits : iterable of int, optional
        Write only these orbit numbers of the window.
    overwrite : bool
        Rewrite files that exist; by default an existing file is kept (the output is
        deterministic, so a re-run resumes an interrupted one).

    Returns
    -------
    list of pathlib.Path
        The files of the window in time order.

    Examples
    --------
    >>> paths = cses_orbits("2021-11-01", days=0.05, seed=0, out_dir="orbits/")
    >>> paths[0].name[:21]
    'CSES_01_EFD_3_L02_A1_'
    """
    p = _params(params, overrides)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = _to_ms(start)
    hs = _halforbits_starting(t0, t0 + round(float(days) * _MS_PER_DAY), p)
    if orbits is not None:
        wanted = {int(o) for o in orbits}
        hs = np.array([h for h in hs if h // 2 in wanted], dtype=np.int64)
    paths = []
    for h in hs:
        h = int(h)
        prefix = f"{FILE_PREFIX}{h // 2:05d}{h % 2}_"
        existing = sorted(out.glob(prefix + "*_000.h5"))
        if existing and not overwrite:
            paths.append(existing[0])
            continue
        for e in existing:
            e.unlink()
        paths.append(_write_halforbit(int(seed), h, p, out))
    return paths


def cses_truth(sat: xr.Dataset) -> xr.DataArray:
    """Truth mask of the injected anomalies on a satellite cube's grid.

    Parameters
    ----------
    sat : xarray.Dataset
        A cube from :func:`xspecseg.io.read_cses` over synthetic files; it carries the
        files' ``SYNTH_TRUTH`` as the variable ``truth`` for its component, already cut
        to the same time and frequency selection as ``psd``.

    Returns
    -------
    xarray.DataArray
        bool ``(time, frequency)``, lazy when ``sat`` is. True where the anomaly power is
        at least ``truth_fraction`` (default 1) times the expected power of the smooth
        continuum (background + hiss).

    Examples
    --------
    >>> from xspecseg.io import read_cses
    >>> sat = read_cses(cses_orbits("2021-11-01", days=0.05, out_dir="orbits/"))
    >>> cses_truth(sat).dtype
    dtype('bool')
    """
    if isinstance(sat, xr.DataArray):
        if "truth" in sat.coords:
            return sat.coords["truth"].astype(bool).rename("truth")
        raise TypeError("cses_truth needs the Dataset from read_cses (with its `truth`)")
    if "truth" not in sat:
        raise ValueError(
            "this cube has no `truth` variable: it was not read from files written by "
            "xspecseg.synth.cses_orbits (real CSES files carry no SYNTH_TRUTH)"
        )
    return sat["truth"].astype(bool).rename("truth")

"""Held-out synthetic test beds, written independently of the training generators.

Detectors trained on :mod:`xspecseg.synth` data are evaluated here on records drawn from a
second generator family with its own physics and its own synthesis method, so that a good
score cannot come from learning one generator's artefacts.

Ground (search coil, 100 Hz)
    Every signal is a *source* with a fixed time span and an exact model PSD. Smooth
    continua (background ``f**-alpha``, Schumann Lorentzians, storm noise, the IAR driver)
    are stationary Gaussian processes drawn once over their whole span by inverse FFT of a
    complex-Gaussian spectrum, then multiplied by a slow amplitude envelope. The IAR fringes
    are not drawn as peaks: the driver noise passes through a feedback delay line (a
    Fabry–Pérot resonator, ``y(t) = (1-|r|) x(t) + r y(t - 1/Δf(t))``) whose round-trip time
    follows the night's Δf, so the fringes are the resonator transfer function
    ``1 / (1 + F sin²(π f / Δf + φ))`` (Polyakov & Rapoport 1981; Belyaev et al. 1999).
    Sferics are shot noise through a one-pole filter, Pc1 pearls are chirped narrow-band
    wave packets, man-made pulsing is a gated 1 Hz pulse train. Nothing is framed or
    overlap-added.

Satellite (CSES-01 EFD, VLF)
    Each half-orbit is a model PSD on the product's (row, 25 Hz bin) grid, summed from
    along-track features, times chi-square noise of a few periodograms.

Truth is a property of the model, not of the realisation: a ground pixel is IAR where the
expected IAR power is at least the expected power of everything else there; a satellite
pixel is anomalous where the nucleus excess is at least the rest.

Examples
--------
>>> from xspecseg.synth.heldout import heldout_ground
>>> wave, truth = heldout_ground("2013-02-14", days=1, seed=3)
>>> wave.dims, wave.attrs["sampling_rate"]
(('component', 'time'), 100.0)
>>> sorted(truth)
['days', 'nights', 'params', 'plans']
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import dask
import dask.array as da
import numba
import numpy as np
import pandas as pd
import scipy.fft
import scipy.signal
import xarray as xr

from .._timeaxis import regular_time_coords
from ..io.cses_format import FILE_PREFIX, ROW_MS

__all__ = ["heldout_cses", "heldout_ground", "heldout_ground_truth"]

FS = 100.0
_DAY_S = 86400.0
_DAY_N = 8_640_000
_NS = 1_000_000_000
_UNIT_SCALE = {"nT": 1e-3, "pT": 1.0, "fT": 1e3}
_KINDS = ("iar", "pc1", "pulsing", "quiet", "storm")
_STATION = {"station": "ESK", "latitude": 55.3, "longitude": -3.2, "altitude_km": 0.24}
_EPOCH_DAY = np.datetime64("1970-01-01", "D")
_NOMINAL_LINE_GAIN = 27.3  # Hann-4096 at 100 Hz: line peak PSD / line power
# random-stream labels
_S_DAY, _S_NIGHT, _S_RENDER, _S_HALF, _S_NOISE = 1, 2, 3, 4, 5
# look-alike draw for nights with and without IAR: (kind, probability)
_WITH_IAR = (("quiet", 0.55), ("pc1", 0.2), ("pulsing", 0.2), ("storm", 0.05))
_WITHOUT_IAR = (("pc1", 0.3), ("pulsing", 0.3), ("storm", 0.2), ("quiet", 0.2))


def _rng(seed: int, *keys: int) -> np.random.Generator:
    """Independent stream for ``(seed, *keys)``; keys may be negative."""
    words = [int(seed) % 2**32] + [int(k) + 2**40 for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


def _ordinal(day: np.datetime64) -> int:
    return int((np.datetime64(day, "D") - _EPOCH_DAY).astype(np.int64))


def _day_of(ordinal: int) -> np.datetime64:
    return _EPOCH_DAY + np.timedelta64(int(ordinal), "D")


def _step(x: np.ndarray) -> np.ndarray:
    """Smooth 0 → 1 step (logistic)."""
    return 0.5 * (1.0 + np.tanh(x))


def _window(s: np.ndarray, t0: float, t1: float, ramp: float) -> np.ndarray:
    return _step((s - t0) / ramp) * _step((t1 - s) / ramp)


def _sum_sines(s: np.ndarray, terms: tuple[tuple[float, float, float], ...]) -> np.ndarray:
    out = np.zeros_like(np.asarray(s, dtype=float))
    for amp, period, phase in terms:
        out += amp * np.sin(2 * np.pi * s / period + phase)
    return out


def _slow(fn: Callable[[np.ndarray], np.ndarray], i0: int, n: int, step: int = 50) -> np.ndarray:
    """``fn`` (of seconds) every ``step`` samples, linearly interpolated onto ``n`` samples."""
    m = n // step + 2
    coarse = fn((i0 + step * np.arange(m)) / FS)
    return np.interp(np.arange(n) / step, np.arange(m), coarse).astype(np.float32)


def _gp(rng: np.random.Generator, n: int, psd: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Stationary Gaussian process of ``n`` samples with one-sided PSD ``psd(f)``.

    A complex-Gaussian spectrum with ``E|X_k|² = S(f_k) fs N / 2`` through an inverse real
    FFT (circular, so the record has no edge).
    """
    nfft = scipy.fft.next_fast_len(n, real=True)
    f = np.fft.rfftfreq(nfft, 1.0 / FS)
    amp = np.sqrt(np.maximum(psd(f), 0.0) * FS * nfft / 4.0).astype(np.float32)
    amp[0] = 0.0
    if nfft % 2 == 0:
        amp[-1] = 0.0
    spec = np.empty(f.size, np.complex64)
    spec.real = rng.standard_normal(f.size, dtype=np.float32) * amp
    spec.imag = rng.standard_normal(f.size, dtype=np.float32) * amp
    return scipy.fft.irfft(spec, nfft)[:n]


@numba.njit(cache=True, nogil=True)
def _comb(x: np.ndarray, delay: np.ndarray, r: float) -> np.ndarray:  # pragma: no cover
    """Feedback delay line ``y[i] = (1-|r|) x[i] + r y[i - delay[i]]`` (cubic Lagrange)."""
    n = x.size
    y = np.zeros(n)
    g = 1.0 - abs(r)
    for i in range(n):
        p = i - delay[i]
        acc = 0.0
        if p >= 1.0:
            k = int(p)
            u = p - k
            acc = (
                -u * (u - 1.0) * (u - 2.0) / 6.0 * y[k - 1]
                + (u + 1.0) * (u - 1.0) * (u - 2.0) / 2.0 * y[k]
                - (u + 1.0) * u * (u - 2.0) / 2.0 * y[k + 1]
                + (u + 1.0) * u * (u - 1.0) / 6.0 * y[k + 2]
            )
        y[i] = g * x[i] + r * acc
    return y


# ----------------------------------------------------------------------------- sources
@dataclasses.dataclass(frozen=True)
class _Source:
    """A signal over samples ``[i0, i1)`` counted from midnight of day ``ref``."""

    ref: int
    i0: int
    i1: int
    key: int

    iar = False

    def seconds(self) -> np.ndarray:
        return (self.i0 + np.arange(self.i1 - self.i0)) / FS

    def psd(self, s: np.ndarray, f: np.ndarray, leak: Callable | None = None) -> np.ndarray:
        raise NotImplementedError

    def render(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class _Background(_Source):
    alpha: float
    b0: float
    knee: float
    floor: float
    depth: float
    peak_h: float

    def level(self, s: np.ndarray) -> np.ndarray:
        return np.exp(self.depth * np.cos(2 * np.pi * (s / 3600.0 - self.peak_h) / 24.0))

    def shape(self, f: np.ndarray) -> np.ndarray:
        return self.b0 * ((f * f + self.knee**2) ** (-self.alpha / 2) + self.floor)

    def psd(self, s, f, leak=None):
        return self.level(s)[:, None] * self.shape(f)[None, :]

    def render(self, rng):
        n = self.i1 - self.i0
        return _gp(rng, n, self.shape) * np.sqrt(_slow(self.level, self.i0, n, 1000))


@dataclasses.dataclass(frozen=True)
class _Schumann(_Source):
    freqs: tuple[float, ...]
    q: tuple[float, ...]
    peak: tuple[float, ...]
    depth: float
    peak_h: float

    def level(self, s):
        return np.exp(self.depth * np.cos(2 * np.pi * (s / 3600.0 - self.peak_h) / 24.0))

    def shape(self, f):
        out = np.zeros_like(f, dtype=float)
        for f0, q, p in zip(self.freqs, self.q, self.peak):
            out += p / (1.0 + ((f - f0) / (f0 / (2 * q))) ** 2)
        return out

    def psd(self, s, f, leak=None):
        return self.level(s)[:, None] * self.shape(f)[None, :]

    def render(self, rng):
        n = self.i1 - self.i0
        return _gp(rng, n, self.shape) * np.sqrt(_slow(self.level, self.i0, n, 1000))


@dataclasses.dataclass(frozen=True)
class _Sferics(_Source):
    rate: float  # per second, daily mean
    depth: float
    mu: float  # log-amplitude mean
    sigma: float
    tau: float  # decay, samples

    def rate_at(self, s):
        return self.rate * (1.0 + self.depth * np.cos(2 * np.pi * (s / 3600.0 - 15.0) / 24.0))

    def psd(self, s, f, leak=None):
        ea2 = math.exp(2 * self.mu + 2 * self.sigma**2)
        a = math.exp(-1.0 / self.tau)
        g2 = 1.0 / np.abs(1.0 - a * np.exp(-2j * np.pi * f / FS)) ** 2
        return (2.0 * self.rate_at(s) * ea2 / FS**2)[:, None] * g2[None, :]

    def render(self, rng):
        n = self.i1 - self.i0
        p = _slow(self.rate_at, self.i0, n, 1000) / FS
        hits = np.flatnonzero(rng.random(n, dtype=np.float32) < p)
        u = np.zeros(n, np.float32)
        sign = rng.integers(0, 2, hits.size) * 2 - 1
        u[hits] = sign * rng.lognormal(self.mu, self.sigma, hits.size)
        return scipy.signal.lfilter([1.0], [1.0, -math.exp(-1.0 / self.tau)], u)


@dataclasses.dataclass(frozen=True)
class _Pc1(_Source):
    """Structured Pc1: rising-tone elements repeating every ``period`` seconds."""

    fc: float
    sweep: float
    period: float
    duty: float
    bw: float
    peak: float
    ramp: float

    def _phase(self, s):
        ph = ((s - self.i0 / FS) / self.period) % 1.0
        inside = ph < self.duty
        elem = np.where(inside, np.sin(np.pi * ph / self.duty), 0.0)
        finst = self.fc + self.sweep * (np.minimum(ph / self.duty, 1.0) - 0.5)
        env = _window(s, self.i0 / FS + 3 * self.ramp, self.i1 / FS - 3 * self.ramp, self.ramp)
        return env * elem, finst

    def psd(self, s, f, leak=None):
        amp, finst = self._phase(s)
        gauss = np.exp(-0.5 * ((f[None, :] - finst[:, None]) / self.bw) ** 2)
        return self.peak * (amp**2)[:, None] * gauss

    def render(self, rng):
        n = self.i1 - self.i0
        nfft = scipy.fft.next_fast_len(n)
        f2 = np.fft.fftfreq(nfft, 1.0 / FS)
        dens = np.exp(-0.5 * (f2 / self.bw) ** 2) / (math.sqrt(2 * math.pi) * self.bw)
        spec = np.sqrt(dens * FS * nfft / 2.0) * (
            rng.standard_normal(nfft) + 1j * rng.standard_normal(nfft)
        )
        z = scipy.fft.ifft(spec)[:n]
        amp, finst = self._phase(self.seconds())
        phi = 2 * np.pi * np.cumsum(finst) / FS
        scale = math.sqrt(2.0 * self.peak * math.sqrt(2 * math.pi) * self.bw)
        return scale * amp * np.real(z * np.exp(1j * phi))


@dataclasses.dataclass(frozen=True)
class _Pulsing(_Source):
    """Man-made 1 Hz pulse train, switched on and off."""

    on: tuple[tuple[float, float], ...]  # seconds from ref midnight
    width: int
    tau: float
    amp: float
    offset: int

    def pulse(self) -> np.ndarray:
        n = np.arange(100)
        p = np.where(n < self.width, 1.0, np.exp(-(n - self.width) / self.tau))
        return self.amp * (p - p.mean())

    def harmonics(self) -> np.ndarray:
        """One-sided power of the lines at 1, 2, ... 49 Hz."""
        c = np.fft.rfft(self.pulse()) / 100.0
        return 2.0 * np.abs(c[1:50]) ** 2

    def gate(self, s):
        """On/off gate (0..1) with 0.5 s edges; each interval only touches its own samples."""
        s = np.asarray(s, dtype=float)
        order = np.argsort(s, kind="stable")
        ss = s[order]
        g = np.zeros_like(ss)
        for t0, t1 in self.on:
            a, b = np.searchsorted(ss, [t0 - 5.0, t1 + 5.0])
            g[a:b] += _window(ss[a:b], t0, t1, 0.5)
        out = np.empty_like(g)
        out[order] = np.minimum(g, 1.0)
        return out

    def psd(self, s, f, leak=None):
        if leak is None:
            raise ValueError("the pulsing lines need the cube's window leakage")
        kern = np.zeros_like(f, dtype=float)
        for k, pk in enumerate(self.harmonics(), start=1):
            if k < f.max() + 1:
                kern += pk * leak(f - k)
        return (self.gate(s) ** 2)[:, None] * kern[None, :]

    def render(self, rng):
        idx = (self.i0 + self.offset + np.arange(self.i1 - self.i0)) % 100
        return self.pulse()[idx] * _slow(self.gate, self.i0, self.i1 - self.i0, 10)


@dataclasses.dataclass(frozen=True)
class _Storm(_Source):
    """Elevated broadband noise with Pi2-like bursts."""

    t_on: float
    t_off: float
    ramp: float
    p1: float  # PSD at 1 Hz at unit envelope
    beta: float
    base: float
    bursts: tuple[tuple[float, float, float], ...]  # (centre s, width s, gain)

    def envelope(self, s):
        m = np.full_like(np.asarray(s, dtype=float), self.base)
        for tc, w, g in self.bursts:
            m += g * np.exp(-0.5 * ((s - tc) / w) ** 2)
        return m * _window(s, self.t_on, self.t_off, self.ramp)

    def shape(self, f):
        return self.p1 * ((f * f + 0.09) / 1.09) ** (-self.beta / 2)

    def psd(self, s, f, leak=None):
        return self.envelope(s)[:, None] * self.shape(f)[None, :]

    def render(self, rng):
        n = self.i1 - self.i0
        return _gp(rng, n, self.shape) * np.sqrt(_slow(self.envelope, self.i0, n))


@dataclasses.dataclass(frozen=True)
class _Iar(_Source):
    """Ionospheric Alfvén resonator: driver noise through a delay line of delay 1/Δf(t)."""

    t_on: float
    t_off: float
    ramp: float
    a_ref: float  # driver PSD at f_mid (pT²/Hz)
    slope: float
    f_lo: float
    f_hi: float
    r: float  # reflection (sign picks fringes at k Δf or (k + 1/2) Δf)
    df0: float
    curve: tuple[float, float, float, float, float]  # c1, c2, wiggle, cycles, phase
    fade_base: float
    fade: tuple[tuple[float, float, float], ...]
    ratio: float  # drawn peak-to-trough of the total PSD at mid-band, full strength

    iar = True

    @property
    def finesse(self) -> float:
        return 4 * abs(self.r) / (1 - abs(self.r)) ** 2

    def delta_f(self, s):
        c1, c2, wig, cyc, ph = self.curve
        u = np.clip((s - self.t_on) / (self.t_off - self.t_on), -0.2, 1.2)
        g = c1 * (u - 0.5) + c2 * ((u - 0.5) ** 2 - 1 / 12) + wig * np.sin(2 * np.pi * cyc * u + ph)
        return np.clip(self.df0 * np.exp(g), 0.3, 1.5)

    def envelope(self, s):
        fade = np.clip(self.fade_base + _sum_sines(s, self.fade), 0.05, 1.0)
        return _window(s, self.t_on, self.t_off, self.ramp) * fade

    def driver(self, f):
        f_mid = 0.5 * (self.f_lo + self.f_hi)
        band = _step((f - self.f_lo) / 0.12) * _step((self.f_hi - f) / 0.3)
        return self.a_ref * ((f * f + 0.09) / (f_mid**2 + 0.09)) ** (-self.slope / 2) * band

    def transmission(self, s, f):
        """The delay line's power transmission at seconds ``s`` and frequencies ``f``: 1 on
        a fringe's crest, ``1 / (1 + finesse)`` in a trough."""
        phase = np.pi * f[None, :] / self.delta_f(s)[:, None] + (0 if self.r > 0 else np.pi / 2)
        return 1.0 / (1.0 + self.finesse * np.sin(phase) ** 2)

    def in_fringe(self, s, f):
        """1 where the transmission lies in the upper half of its range in log power (above
        the geometric mean of crest and trough), else 0: the fringes themselves."""
        return (self.transmission(s, f) >= (1.0 + self.finesse) ** -0.5).astype(float)

    def psd(self, s, f, leak=None):
        t2 = self.transmission(s, f)
        return (self.envelope(s) ** 2)[:, None] * self.driver(f)[None, :] * t2

    def render(self, rng):
        n = self.i1 - self.i0
        x = _gp(rng, n, self.driver) * _slow(self.envelope, self.i0, n)
        delay = FS / _slow(self.delta_f, self.i0, n).astype(np.float64)
        return _comb(x.astype(np.float64), delay, self.r)


# ----------------------------------------------------------------------------- plans
@dataclasses.dataclass(frozen=True)
class _DayPlan:
    ordinal: int
    sources: tuple[_Source, ...]
    gaps: tuple[tuple[float, float], ...]  # seconds from midnight

    @property
    def background(self) -> _Background:
        return self.sources[0]  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True)
class _NightPlan:
    ordinal: int  # evening date
    kinds: tuple[str, ...]
    sources: tuple[_Source, ...]


def _span(ref: int, t0: float, t1: float) -> tuple[int, int]:
    """Sample span rounded outward to 10 s."""
    return int(math.floor(t0 / 10) * 1000), int(math.ceil(t1 / 10) * 1000)


def _bg_at(bg: _Background, f: float, s: float = 0.0) -> float:
    return float(bg.psd(np.array([s]), np.array([f]))[0, 0])


def _draw_day(seed: int, ordinal: int) -> _DayPlan:
    """Background, Schumann resonances, sferics, afternoon Pc1 and gaps of one UT day."""
    rng = _rng(seed, _S_DAY, ordinal)
    bg = _Background(
        ordinal,
        0,
        _DAY_N,
        0,
        alpha=rng.uniform(1.0, 2.5),
        b0=0.3 * rng.lognormal(0.0, 0.3),
        knee=rng.uniform(0.15, 0.3),
        floor=10 ** rng.uniform(-4.5, -3.8),
        depth=rng.uniform(0.2, 0.6),
        peak_h=rng.uniform(11.0, 15.0),
    )
    p1 = rng.uniform(4.0, 10.0) * _bg_at(bg, 7.8)
    p2 = p1 * rng.uniform(0.35, 0.6)
    sr = _Schumann(
        ordinal,
        0,
        _DAY_N,
        1,
        freqs=(7.8 + rng.normal(0, 0.1), 14.1 + rng.normal(0, 0.2), 20.3 + rng.normal(0, 0.3)),
        q=tuple(rng.uniform(3.5, 6.5, 3)),
        peak=(p1, p2, p2 * rng.uniform(0.4, 0.7)),
        depth=rng.uniform(0.15, 0.4),
        peak_h=rng.uniform(13.0, 17.0),
    )
    rate, tau, sigma = rng.uniform(0.5, 3.0), rng.uniform(2.0, 4.0), 1.0
    target = rng.uniform(0.05, 0.2) * _bg_at(bg, 8.0)  # sferic PSD at low f
    g0 = 1.0 / (1.0 - math.exp(-1.0 / tau)) ** 2
    ea2 = target * FS**2 / (2.0 * rate * g0)
    sf = _Sferics(ordinal, 0, _DAY_N, 2, rate, 0.4, 0.5 * math.log(ea2) - sigma**2, sigma, tau)
    sources: list[_Source] = [bg, sr, sf]
    if rng.random() < 0.3:  # afternoon magnetospheric pulsation
        t0 = rng.uniform(12.0, 16.0) * 3600
        sources.append(_draw_pc1(rng, ordinal, 3, t0, rng.uniform(0.5, 3.0) * 3600, bg))
    gaps = []
    for _ in range(rng.poisson(0.4)):
        g0s = rng.uniform(0, _DAY_S)
        gaps.append((g0s, min(_DAY_S, g0s + math.exp(rng.uniform(math.log(60), math.log(7200))))))
    return _DayPlan(ordinal, tuple(sources), tuple(gaps))


def _draw_pc1(
    rng: np.random.Generator, ref: int, key: int, t0: float, dur: float, bg: _Background
) -> _Pc1:
    fc = rng.uniform(0.5, 2.0)
    ramp = 600.0
    i0, i1 = _span(ref, t0 - 3 * ramp, t0 + dur + 3 * ramp)
    return _Pc1(
        ref,
        i0,
        i1,
        key,
        fc=fc,
        sweep=rng.uniform(0.1, 0.4),
        period=rng.uniform(60, 180),
        duty=rng.uniform(0.5, 0.85),
        bw=rng.uniform(0.04, 0.12),
        peak=rng.uniform(6.0, 30.0) * _bg_at(bg, fc),
        ramp=ramp,
    )


def _draw_iar(rng: np.random.Generator, ref: int, bg: _Background) -> _Iar:
    """IAR of one night: 3–6 fringes, peak/trough 1.5–3 at mid-band, Δf 0.3–1.5 Hz."""
    t_on, t_off = round(rng.uniform(17.0, 21.0) * 3600), round(rng.uniform(27.0, 31.0) * 3600)
    ramp = rng.uniform(1200.0, 3600.0)
    ratio = rng.uniform(1.5, 3.0)  # peak-to-trough of the total at full strength
    a = rng.uniform(0.0, 1.2) + max(1.15, ratio - 0.8)  # IAR peak / background
    finesse = a * ratio / (a + 1.0 - ratio) - 1.0
    r = ((finesse + 2) - 2 * math.sqrt(finesse + 1)) / finesse
    r *= 1 if rng.random() < 0.5 else -1
    df0 = rng.uniform(0.4, 1.1)
    curve = (
        rng.uniform(-0.7, 0.9),
        rng.uniform(-2.0, 2.0),
        rng.uniform(0.0, 0.08),
        rng.uniform(1.0, 3.0),
        rng.uniform(0, 2 * np.pi),
    )
    f_lo, fringes = rng.uniform(0.5, 1.2), int(rng.integers(3, 7))
    fade = tuple(
        (rng.uniform(0.1, 0.3), rng.uniform(2400, 10800), rng.uniform(0, 2 * np.pi))
        for _ in range(3)
    )
    i0, i1 = _span(ref, t_on - 3 * ramp, t_off + 3 * ramp)
    iar = _Iar(
        ref,
        i0,
        i1,
        100,
        t_on=t_on,
        t_off=t_off,
        ramp=ramp,
        a_ref=a,
        slope=bg.alpha - rng.uniform(0.0, 0.6),
        f_lo=f_lo,
        f_hi=f_lo + 1.0,
        r=r,
        df0=df0,
        curve=curve,
        fade_base=rng.uniform(0.6, 0.85),
        fade=fade,
        ratio=ratio,
    )
    # the band holds `fringes` fringes at the night's median spacing
    df_med = float(np.median(iar.delta_f(np.arange(t_on, t_off, 60.0))))
    f_hi = min(f_lo + fringes * df_med, 9.5)
    a_ref = a * _bg_at(bg, 0.5 * (f_lo + f_hi))
    return dataclasses.replace(iar, f_hi=f_hi, a_ref=a_ref)


def _draw_pulsing(rng: np.random.Generator, ref: int, bg: _Background) -> _Pulsing:
    on: list[tuple[float, float]] = []
    for _ in range(rng.integers(1, 4)):
        t = rng.uniform(17.0, 30.0) * 3600
        end = t + rng.uniform(0.5, 4.0) * 3600
        while t < end:
            dt = 60 + rng.exponential(480)
            on.append((t, min(t + dt, end)))
            t += dt + 30 + rng.exponential(240)
    on.sort()
    width, tau = int(rng.integers(3, 15)), rng.uniform(1.0, 5.0)
    unit = _Pulsing(ref, 0, 1, 110, tuple(on), width, tau, 1.0, 0).harmonics()[0]
    p1 = rng.uniform(3.0, 30.0) * _bg_at(bg, 1.0) / _NOMINAL_LINE_GAIN
    i0, i1 = _span(ref, on[0][0] - 10, max(t1 for _, t1 in on) + 10)
    amp = math.sqrt(p1 / unit)
    return _Pulsing(ref, i0, i1, 110, tuple(on), width, tau, amp, int(rng.integers(0, 100)))


def _draw_storm(rng: np.random.Generator, ref: int, bg: _Background) -> _Storm:
    t_on = rng.uniform(18.0, 26.0) * 3600
    t_off = t_on + rng.uniform(2.0, 8.0) * 3600
    ramp = rng.uniform(600, 1800)
    bursts, t = [], t_on + rng.uniform(0, 1200)
    while t < t_off:
        bursts.append((t, rng.uniform(60, 240), rng.uniform(1.0, 4.0)))
        t += rng.uniform(600, 2400)
    i0, i1 = _span(ref, t_on - 3 * ramp, t_off + 3 * ramp)
    return _Storm(
        ref,
        i0,
        i1,
        120,
        t_on=t_on,
        t_off=t_off,
        ramp=ramp,
        p1=rng.uniform(3.0, 20.0) * _bg_at(bg, 1.0),
        beta=rng.uniform(0.6, 1.4),
        base=rng.uniform(0.4, 1.0),
        bursts=tuple(bursts),
    )


def _parse_kinds(kind: str) -> tuple[str, ...]:
    parts = tuple(p.strip().lower() for p in kind.split("+") if p.strip())
    bad = [p for p in parts if p not in _KINDS]
    if not parts or bad:
        raise ValueError(f"night kind {kind!r}: each part must be one of {_KINDS}")
    rest = tuple(p for p in _KINDS if p in parts and p != "quiet")
    return rest or ("quiet",)


def _draw_night(
    seed: int, ordinal: int, iar_fraction: float, forced: tuple[str, ...] | None
) -> _NightPlan:
    """Kinds and sources of the night that starts on the evening of day ``ordinal``."""
    rng = _rng(seed, _S_NIGHT, ordinal)
    u_iar, u_kind = rng.random(2)
    if forced is None:
        has_iar = u_iar < iar_fraction
        table = _WITH_IAR if has_iar else _WITHOUT_IAR
        cum = np.cumsum([p for _, p in table])
        other = table[int(np.searchsorted(cum, u_kind * cum[-1]))][0]
        kinds = _parse_kinds(("iar+" if has_iar else "") + other)
    else:
        kinds = forced
    bg = _draw_day(seed, ordinal).background
    sources: list[_Source] = []
    for kind in kinds:
        krng = _rng(seed, _S_NIGHT, ordinal, _KINDS.index(kind))
        if kind == "iar":
            sources.append(_draw_iar(krng, ordinal, bg))
        elif kind == "pc1":
            for j in range(int(krng.integers(1, 3))):
                t0 = krng.uniform(18.0, 28.0) * 3600
                sources.append(
                    _draw_pc1(krng, ordinal, 130 + j, t0, krng.uniform(0.75, 4) * 3600, bg)
                )
        elif kind == "pulsing":
            sources.append(_draw_pulsing(krng, ordinal, bg))
        elif kind == "storm":
            sources.append(_draw_storm(krng, ordinal, bg))
    return _NightPlan(ordinal, kinds, tuple(sources))


# ----------------------------------------------------------------------------- ground
def _render_day(
    ordinal: int,
    day: _DayPlan,
    nights: tuple[_NightPlan, ...],
    ncomp: int,
    seed: int,
    gains: tuple[float, ...],
    dtype: str,
) -> np.ndarray:
    """The waveform of one UT day, ``(ncomp, 8_640_000)``."""
    sources = [s for plan in (day, *nights) for s in plan.sources]
    out = np.empty((ncomp, _DAY_N), dtype=dtype)
    for c in range(ncomp):
        acc = np.zeros(_DAY_N)
        for src in sources:
            shift = (src.ref - ordinal) * _DAY_N
            lo, hi = max(src.i0 + shift, 0), min(src.i1 + shift, _DAY_N)
            if lo >= hi:
                continue
            x = src.render(_rng(seed, _S_RENDER, src.ref, src.key, c))
            acc[lo:hi] += x[lo - src.i0 - shift : hi - src.i0 - shift]
        for g0, g1 in day.gaps:
            acc[int(g0 * FS) : math.ceil(g1 * FS)] = np.nan
        out[c] = acc * gains[c]
    return out


def _resolve_kinds(kinds: str | Sequence[str] | None, n: int) -> list[tuple[str, ...] | None]:
    if kinds is None:
        return [None] * n
    if isinstance(kinds, str):
        kinds = [kinds]
    parsed = [_parse_kinds(k) for k in kinds]
    if not parsed:
        raise ValueError("kinds must name at least one night kind")
    return [parsed[i % len(parsed)] for i in range(n)]


def _check_ground_args(days: int, components: Sequence[str], units: str, frac: float) -> None:
    if int(days) < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if not components or len(set(components)) != len(components):
        raise ValueError(f"components must be distinct names, got {components!r}")
    if units not in _UNIT_SCALE:
        raise ValueError(f"units must be one of {sorted(_UNIT_SCALE)}, got {units!r}")
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"iar_fraction must be in [0, 1], got {frac}")


def heldout_ground(
    start: str,
    days: int,
    seed: int,
    *,
    components: Sequence[str] = ("H", "D"),
    units: str = "pT",
    iar_fraction: float = 0.5,
    kinds: str | Sequence[str] | None = None,
) -> tuple[xr.DataArray, dict]:
    """Held-out search-coil record (100 Hz) with IAR truth.

    Parameters
    ----------
    start : str
        First UT day (a time of day is floored to midnight).
    days : int
        Number of whole UT days.
    seed : int
        Random seed. A day (and a night) depends only on the seed and its date, so any
        window that holds it gives the same samples (``kinds`` overrides excepted).
    components : sequence of str
        Component names; each has an independent realisation of the same model PSD,
        scaled by a fixed gain (1, 0.85, 0.7, ...).
    units : {"nT", "pT", "fT"}
        Unit of the record: values are the picotesla values × 1e-3, 1, 1e3.
    iar_fraction : float
        Probability that a night holds IARs.
    kinds : str or sequence of str, optional
        Force the nights' kinds, e.g. ``["iar", "pc1", "iar+pulsing", "quiet"]``: one per
        night in the order of ``truth["nights"]`` (the night ending on the morning of
        ``start`` first), cycled. Parts: ``iar``, ``pc1``, ``pulsing``, ``quiet``, ``storm``.

    Returns
    -------
    wave : xr.DataArray
        ``(component, time)`` float32, lazy (one Dask chunk per day), NaN in gaps, attrs
        ``sampling_rate``, ``units``, ``station``, ``latitude``, ``longitude``,
        ``altitude_km``, ``start_time``, ``synth_params``, ``long_name``. Records of more
        than 2**24 samples carry a lazy ``time`` without an index, as the project's readers.
    truth : dict
        ``nights`` (DataFrame: night, kinds, iar, delta_f_median/min/max, fringes,
        peak_to_trough, iar_start, iar_end, hours_in_record), ``days`` (DataFrame: date,
        alpha, b0, gap_minutes), ``params`` and ``plans`` (for
        :func:`heldout_ground_truth`).

    Examples
    --------
    >>> wave, truth = heldout_ground("2013-02-14", 1, seed=0, kinds=["quiet", "iar"])
    >>> list(truth["nights"]["kinds"])
    ['quiet', 'iar']
    """
    _check_ground_args(days, components, units, iar_fraction)
    day0 = np.datetime64(pd.Timestamp(start).floor("D").to_datetime64(), "D")
    first = _ordinal(day0)
    ords = list(range(first, first + int(days)))
    forced = _resolve_kinds(kinds, len(ords) + 1)
    nights = {
        o: _draw_night(seed, o, iar_fraction, forced[i]) for i, o in enumerate([first - 1, *ords])
    }
    dplans = {o: _draw_day(seed, o) for o in ords}
    comps = [str(c) for c in components]
    gains = tuple(_UNIT_SCALE[units] * 0.85**i for i in range(len(comps)))
    dtype = "float32"
    blocks = [
        da.from_delayed(
            dask.delayed(_render_day, pure=True)(
                o, dplans[o], (nights[o - 1], nights[o]), len(comps), seed, gains, dtype
            ),
            shape=(len(comps), _DAY_N),
            dtype=dtype,
        )
        for o in ords
    ]
    data = da.concatenate(blocks, axis=1)
    n = data.shape[1]
    coords = regular_time_coords(day0, n, FS, chunks=_DAY_N, components=comps)
    params = {
        "generator": "xspecseg.synth.heldout.heldout_ground",
        "seed": int(seed),
        "start": str(day0),
        "days": int(days),
        "components": comps,
        "units": units,
        "iar_fraction": float(iar_fraction),
        "kinds": None if kinds is None else list(np.atleast_1d(kinds)),
    }
    attrs = {
        "sampling_rate": FS,
        "units": units,
        **_STATION,
        "start_time": str(np.datetime64(day0, "ns")),
        "synth_params": json.dumps(params),
        "long_name": "synthetic search-coil magnetic field (held-out generator)",
    }
    wave = xr.DataArray(data, coords=coords, dims=("component", "time"), name="b", attrs=attrs)
    truth = {
        "nights": _nights_table(list(nights.values()), day0, int(days)),
        "days": _days_table(list(dplans.values())),
        "params": params,
        "plans": {"days": dplans, "nights": nights},
    }
    return wave, truth


def _nights_table(plans: list[_NightPlan], day0: np.datetime64, days: int) -> pd.DataFrame:
    rec0 = pd.Timestamp(day0)
    rec1 = rec0 + pd.Timedelta(days=days)
    rows = []
    for p in plans:
        date = pd.Timestamp(_day_of(p.ordinal))
        w0, w1 = date + pd.Timedelta(hours=18), date + pd.Timedelta(hours=30)
        hours = max(0.0, (min(w1, rec1) - max(w0, rec0)).total_seconds() / 3600)
        row: dict[str, Any] = {
            "night": date,
            "kinds": "+".join(p.kinds),
            "iar": "iar" in p.kinds,
            "delta_f_median": np.nan,
            "delta_f_min": np.nan,
            "delta_f_max": np.nan,
            "fringes": np.nan,
            "peak_to_trough": np.nan,
            "iar_start": pd.NaT,
            "iar_end": pd.NaT,
            "hours_in_record": hours,
        }
        for src in p.sources:
            if isinstance(src, _Iar):
                s = np.arange(src.t_on - src.ramp, src.t_off + src.ramp, 60.0)
                env = src.envelope(s)
                dfs = src.delta_f(s[env >= 0.5 * env.max()])
                row.update(
                    delta_f_median=float(np.median(dfs)),
                    delta_f_min=float(dfs.min()),
                    delta_f_max=float(dfs.max()),
                    fringes=(src.f_hi - src.f_lo) / float(np.median(dfs)),
                    peak_to_trough=src.ratio,
                    iar_start=date + pd.Timedelta(seconds=src.t_on),
                    iar_end=date + pd.Timedelta(seconds=src.t_off),
                )
        rows.append(row)
    return pd.DataFrame(rows)


def _days_table(plans: list[_DayPlan]) -> pd.DataFrame:
    rows = []
    for p in plans:
        bg = p.background
        rows.append(
            {
                "date": pd.Timestamp(_day_of(p.ordinal)),
                "alpha": bg.alpha,
                "b0": bg.b0,
                "gap_minutes": sum(g1 - g0 for g0, g1 in p.gaps) / 60.0,
                "afternoon_pc1": any(isinstance(s, _Pc1) for s in p.sources),
            }
        )
    return pd.DataFrame(rows)


def _leakage(window: str, nperseg: int, fs: float) -> Callable[[np.ndarray], np.ndarray]:
    """Expected Welch PSD of a unit-power line at offset ``nu`` (Hz): ``|W(nu)|² / (fs Σw²)``."""
    w = scipy.signal.get_window(window, nperseg)
    norm = fs * float(np.sum(w * w))
    n = np.arange(nperseg)
    lim = 12.0 * fs / nperseg

    def leak(nu: np.ndarray) -> np.ndarray:
        out = np.zeros(np.shape(nu))
        sel = np.abs(nu) < lim
        if sel.any():
            out[sel] = np.abs(np.exp(-2j * np.pi * np.outer(nu[sel], n) / fs) @ w) ** 2 / norm
        return out

    return leak


def _expected_day(
    ordinal: int, truth: dict, s: np.ndarray, f: np.ndarray, leak: Callable
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected IAR and non-IAR PSD at seconds ``s`` of day ``ordinal``, and where the IAR's
    fringes lie (1 on a fringe, 0 in a trough or without IAR), each ``(len(s), len(f))``."""
    plans = truth["plans"]
    iar = np.zeros((s.size, f.size))
    rest = np.zeros((s.size, f.size))
    fringe = np.zeros((s.size, f.size))
    owners = [
        plans["days"].get(ordinal),
        plans["nights"].get(ordinal - 1),
        plans["nights"].get(ordinal),
    ]
    for plan in owners:
        for src in plan.sources if plan is not None else ():
            ss = s + (ordinal - src.ref) * _DAY_S
            rows = np.flatnonzero((ss >= src.i0 / FS) & (ss < src.i1 / FS))
            if rows.size:
                target = iar if src.iar else rest
                target[rows] += src.psd(ss[rows], f, leak)
                if src.iar:
                    fringe[rows] = np.maximum(fringe[rows], src.in_fringe(ss[rows], f))
    return iar, rest, fringe


#: What :func:`heldout_ground_truth` calls IAR: ``"fringes"``, the pixels where the expected
#: IAR power is at least everything else *and* that lie on a fringe (the upper half, in log
#: power, of the resonator's periodic transmission); ``"dominant"``, every pixel where the
#: expected IAR power is at least everything else, troughs between fringes included (where a
#: strong resonance fills them, the band becomes one region).
TRUTH_KINDS = ("fringes", "dominant")


def heldout_ground_truth(
    cube: xr.Dataset,
    truth: dict,
    kind: Literal["fringes", "dominant"] = "fringes",
    level: float = 1.0,
) -> xr.DataArray:
    """Boolean IAR mask ``(time, frequency)`` of a cube built from :func:`heldout_ground`.

    A pixel is IAR where the expected IAR power, averaged over the block's Welch segments,
    is at least (``level`` times) the expected power of everything else there (background,
    Schumann, sferics, Pc1, pulsing lines with the cube window's leakage, storm noise), and
    the cube has data;
    with ``kind="fringes"`` (default) it must also lie on a fringe: in the upper half, in
    log power, of the resonator's transmission for at least half of the block (see
    :data:`TRUTH_KINDS`). The band-pass filter and calibration scale both alike, so they do
    not enter.

    Parameters
    ----------
    cube : xr.Dataset
        A cube from :func:`xspecseg.build_cube` (or :func:`xspecseg.open_cube`); its attrs
        ``block_seconds``, ``nperseg``, ``noverlap``, ``window``, ``sampling_rate`` are used.
    truth : dict
        The second value returned by :func:`heldout_ground`.
    kind : {"fringes", "dominant"}
        The fringes only, or every pixel the IAR dominates.
    level : float
        A pixel is IAR where the expected IAR power is at least ``level`` times the rest
        (1: at least half the pixel's power, as :func:`xspecseg.synth.iar_truth` labels by
        default; 0.5: at least a third).

    Returns
    -------
    xr.DataArray
        ``truth`` (time, frequency) bool; lazy where ``cube.valid_fraction`` is.

    Examples
    --------
    >>> import xspecseg as xs
    >>> wave, truth = heldout_ground("2013-02-14", 1, seed=0)
    >>> mask = heldout_ground_truth(xs.build_cube(wave), truth)
    >>> mask.dims
    ('time', 'frequency')
    """
    if kind not in TRUTH_KINDS:
        raise ValueError(f"kind must be one of {TRUTH_KINDS}, got {kind!r}")
    a = cube.attrs
    fs = float(a.get("sampling_rate", FS))
    nper = int(a.get("nperseg", 4096))
    nover = a.get("noverlap", nper // 2)
    nover = nper // 2 if nover is None or isinstance(nover, str) else int(nover)
    bs = float(a.get("block_seconds", 100.0))
    step = nper - nover
    nseg = max(1, (round(bs * fs) - nper) // step + 1)
    covered = ((nseg - 1) * step + nper) / fs
    k = max(4, round(covered / 8.0))
    offs = (np.arange(k) + 0.5) * covered / k
    leak = _leakage(str(a.get("window", "hann")), nper, fs)
    t = cube["time"].values.astype("datetime64[ns]")
    f = np.asarray(cube["frequency"].values, dtype=float)
    mask = np.zeros((t.size, f.size), bool)
    days = t.astype("datetime64[D]")
    for day in np.unique(days):
        idx = np.flatnonzero(days == day)
        s0 = (t[idx] - day.astype("datetime64[ns]")).astype(np.int64) / _NS
        iar, rest, fringe = _expected_day(
            _ordinal(day), truth, (s0[:, None] + offs).ravel(), f, leak
        )
        iar = iar.reshape(idx.size, k, f.size).mean(axis=1)
        rest = rest.reshape(idx.size, k, f.size).mean(axis=1)
        mask[idx] = (iar > 0) & (iar >= level * rest)
        if kind == "fringes":
            mask[idx] &= fringe.reshape(idx.size, k, f.size).mean(axis=1) >= 0.5
    out = xr.DataArray(
        mask,
        dims=("time", "frequency"),
        coords={"time": cube["time"].values, "frequency": f},
        name="truth",
        attrs={
            "long_name": "IAR truth (expected IAR power >= rest, held-out generator)"
            + (", on a fringe" if kind == "fringes" else ""),
            "truth_kind": kind,
        },
    )
    if "valid_fraction" in cube:
        v = cube["valid_fraction"]
        v = v.max("component") if "component" in v.dims else v
        has = v > 0
    else:
        p = cube["psd"]
        has = p.notnull().any([d for d in p.dims if d not in ("time",)])
    has = has.reset_coords(drop=True).assign_coords(time=cube["time"].values)
    return (out & has).rename("truth").assign_attrs(out.attrs)


# ----------------------------------------------------------------------------- CSES
_P_ORBIT = 5676.0  # s (94.6 min)
_INC = math.radians(97.4)
_ORBIT_EPOCH = np.datetime64("2018-02-02T00:00:00.000", "ms")  # northmost point, orbit 0
_U_MAX = math.degrees(math.asin(math.sin(math.radians(65.0)) / math.sin(_INC)))
_ROW_MS = ROW_MS  # the product's row spacing
_LT_ASC = 2.0  # local time of the ascending (night-side) node
_POLE = (math.radians(80.65), math.radians(-72.68))  # dipole north pole (IGRF 2020)
_FREQ = np.arange(1024) * 25.0
_NF = 1024
_DOF = 4  # periodograms averaged in one row
_UNITS_SAT = "(mV/m)^2/Hz"
_VLF_TX = (  # (kHz, lat, lon)
    (19.8, -21.8, 114.2),
    (24.0, 44.6, -67.3),
    (21.4, 21.4, -158.2),
    (24.8, 48.2, -121.9),
    (25.2, 46.4, -98.3),
    (22.2, 32.1, 130.8),
    (23.4, 53.1, 7.6),
    (22.1, 54.7, -2.9),
    (19.6, 54.9, -3.3),
    (20.27, 40.9, 9.7),
    (20.9, 48.5, 2.6),
    (18.3, 46.7, 1.2),
    (18.6, -38.5, 146.9),
    (18.2, 8.4, 77.8),
)
_ALPHA_KHZ = (11.905, 12.649, 14.881)
_ALPHA_SITES = ((45.4, 38.2), (55.8, 84.4), (50.6, 136.6))


def _dipole(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centred-dipole magnetic latitude and longitude (degrees)."""
    la, lo = np.radians(lat), np.radians(lon)
    pla, plo = _POLE
    s = np.sin(la) * math.sin(pla) + np.cos(la) * math.cos(pla) * np.cos(lo - plo)
    mlat = np.degrees(np.arcsin(np.clip(s, -1, 1)))
    y = np.cos(la) * np.sin(lo - plo)
    x = np.cos(la) * np.cos(lo - plo) * math.sin(pla) - np.sin(la) * math.cos(pla)
    return mlat, np.degrees(np.arctan2(y, x))


def _arc_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    la1, la2 = np.radians(lat1), np.radians(lat2)
    c = np.sin(la1) * np.sin(la2) + np.cos(la1) * np.cos(la2) * np.cos(np.radians(lon1 - lon2))
    return 6371.0 * np.arccos(np.clip(c, -1, 1))


@dataclasses.dataclass(frozen=True)
class _Track:
    time: np.ndarray  # datetime64[ns]
    t: np.ndarray  # s from the half-orbit start
    lat: np.ndarray
    lon: np.ndarray
    mlat: np.ndarray
    mlon: np.ndarray
    alt: np.ndarray
    orbit: int
    descending: bool  # day side (14 LT)


def _track(h: int) -> _Track:
    """Geometry of half-orbit ``h`` (even: descending/day, odd: ascending/night)."""
    orbit, kind = divmod(h, 2)
    start = (orbit + (90.0 - _U_MAX + 180.0 * kind) / 360.0) * _P_ORBIT
    n = int(2 * _U_MAX / 360.0 * _P_ORBIT * 1000 / _ROW_MS) + 1
    rel_ms = round(start * 1000) + _ROW_MS * np.arange(n, dtype=np.int64)
    time = (_ORBIT_EPOCH + rel_ms.astype("timedelta64[ms]")).astype("datetime64[ns]")
    u = np.radians(90.0 + 360.0 * rel_ms / 1000.0 / _P_ORBIT)
    lat = np.degrees(np.arcsin(math.sin(_INC) * np.sin(u)))
    dlon = np.degrees(np.arctan2(math.cos(_INC) * np.sin(u), np.cos(u)))
    ut_h = (time - time.astype("datetime64[D]")).astype(np.int64) / 3.6e12
    lon = (15.0 * (_LT_ASC + dlon / 15.0 - ut_h) + 180.0) % 360.0 - 180.0
    mlat, mlon = _dipole(lat, lon)
    alt = 507.0 + 10.5 * np.sin(u + 0.3) ** 2  # slightly elliptical
    return _Track(time, (rel_ms - rel_ms[0]) / 1000.0, lat, lon, mlat, mlon, alt, orbit, kind == 0)


def _first_halforbit(start: np.datetime64) -> int:
    el = (np.datetime64(start, "ms") - _ORBIT_EPOCH).astype(np.int64) / 1000.0
    h = 2 * math.floor(el / _P_ORBIT) - 2
    while _track(h).time[0] < np.datetime64(start, "ns"):
        h += 1
    return h


def _rows(tr: _Track, t0: float, t1: float, r0: int, r1: int) -> tuple[int, int]:
    """Row range of times ``[t0, t1]`` clipped to ``[r0, r1)``."""
    a, b = np.searchsorted(tr.t, [t0, t1])
    return max(int(a), r0), min(int(b) + 1, r1)


def _line_kernel(f0: float) -> tuple[np.ndarray, np.ndarray]:
    """Bins and weights (sum 1, per 25 Hz) of a spectral line at ``f0``."""
    c = f0 / 25.0
    bins = np.arange(math.floor(c) - 2, math.floor(c) + 4)
    bins = bins[(bins >= 0) & (bins < _NF)]
    w = np.exp(-0.5 * ((bins - c) / 0.6) ** 2)
    return bins, w / w.sum() / 25.0


@dataclasses.dataclass(frozen=True)
class _SatBackground:
    """Falling continuum, higher by day and at auroral magnetic latitudes."""

    b0: float
    f1: float
    p: float
    floor: float
    wander: tuple[tuple[float, float, float], ...]

    def psd(self, tr: _Track, r0: int, r1: int) -> np.ndarray:
        mlat = tr.mlat[r0:r1]
        lat = 1.0 + 1.5 * _step((np.abs(mlat) - 62.0) / 4.0) + 0.4 * np.exp(-((mlat / 15.0) ** 2))
        amp = self.b0 * lat * np.exp(_sum_sines(tr.t[r0:r1], self.wander))
        shape = (1.0 + (_FREQ / self.f1) ** 2) ** (-self.p / 2)
        return amp[:, None] * shape[None, :] + self.floor


@dataclasses.dataclass(frozen=True)
class _Band:
    """Emission band relative to the background, over a time window.

    ``kind`` picks the spectral form: ``hiss`` (log-Gaussian, inside the plasmasphere),
    ``aurora`` (funnel: lower cut-off rising away from the centre), ``chorus``
    (Gaussian band), ``lhr`` (sharp lower cut-off at the local lower-hybrid frequency).
    """

    kind: str
    tc: float
    hw: float  # half-width (s); inf for the whole half-orbit
    fc: float  # centre / lower cut-off (Hz)
    width: float  # band parameter (see kind)
    f_up: float
    amp: float
    mod: np.ndarray  # per-row factor (length of the track)

    def add(self, acc, bg, tr: _Track, r0: int, r1: int) -> None:
        a, b = (
            (r0, r1)
            if math.isinf(self.hw)
            else _rows(tr, self.tc - 3 * self.hw, self.tc + 3 * self.hw, r0, r1)
        )
        if a >= b:
            return
        x = (tr.t[a:b] - self.tc) / self.hw
        mlat = np.abs(tr.mlat[a:b])
        f = _FREQ[None, :]
        if self.kind == "hiss":
            env = _step((self.f_up - mlat) / 2.5)  # f_up holds the plasmapause latitude
            shape = np.exp(-0.5 * (np.log(np.maximum(f, 12.5) / self.fc) / self.width) ** 2)
        elif self.kind == "aurora":
            env = np.exp(-0.5 * x**4)
            low = (self.fc + self.width * x**2)[:, None]
            shape = _step((f - low) / (0.06 * low)) * _step((self.f_up - f) / 600.0)
            shape = shape * (np.maximum(f, low) / low) ** -0.5
        elif self.kind == "chorus":
            env = np.exp(-0.5 * x**2)
            shape = np.exp(-0.5 * ((f - self.fc) / (self.width * self.fc)) ** 2)
        else:  # lhr
            env = _step((60.0 - mlat) / 3.0)
            flhr = (self.fc * np.sqrt(1 + 3 * np.sin(np.radians(tr.mlat[a:b])) ** 2))[:, None]
            shape = _step((f - flhr) / (0.02 * flhr)) * np.exp(
                -np.maximum(f - flhr, 0) / (self.width * flhr)
            )
        env = env * self.mod[a:b]
        acc[a - r0 : b - r0] += self.amp * env[:, None] * shape * bg[a - r0 : b - r0]


@dataclasses.dataclass(frozen=True)
class _Lines:
    """VLF transmitters, Alpha (RSDN-20) and a power-line harmonic patch."""

    tx_rel: np.ndarray  # per transmitter
    night: bool
    alpha_rel: float
    alpha_mod: np.ndarray  # per row (pulsed format seen in 2 s rows)
    pl: tuple[float, float, float, float] | None  # (tc, hw, f0, rel)
    pl_kmax: int

    def add(self, acc, bg, tr: _Track, r0: int, r1: int) -> None:
        lat, lon = tr.lat[r0:r1], tr.lon[r0:r1]
        mlat, mlon = tr.mlat[r0:r1], tr.mlon[r0:r1]
        for (khz, tla, tlo), rel in zip(_VLF_TX, self.tx_rel):
            d = _arc_km(lat, lon, tla, tlo)
            cm, cl = _dipole(np.array([tla]), np.array([tlo]))
            dc = _arc_km(mlat, mlon, -cm[0], cl[0])
            inten = rel * (0.02 + np.exp(-((d / 1800) ** 2)) + 0.5 * np.exp(-((dc / 1500) ** 2)))
            self._line(acc, bg, khz * 1e3, inten * (3.0 if self.night else 1.0))
        near = np.max(
            [np.exp(-((_arc_km(lat, lon, a, b) / 3000) ** 2)) for a, b in _ALPHA_SITES], axis=0
        )
        for khz in _ALPHA_KHZ:
            self._line(acc, bg, khz * 1e3, self.alpha_rel * (0.1 + near) * self.alpha_mod[r0:r1])
        if self.pl is not None:
            tc, hw, f0, rel = self.pl
            a, b = _rows(tr, tc - 3 * hw, tc + 3 * hw, r0, r1)
            if a < b:
                env = np.zeros(r1 - r0)
                env[a - r0 : b - r0] = np.exp(-0.5 * ((tr.t[a:b] - tc) / hw) ** 4)
                for k in range(1, self.pl_kmax + 1):
                    self._line(acc, bg, k * f0, rel * k**-0.5 * env)

    @staticmethod
    def _line(acc, bg, f0: float, inten: np.ndarray) -> None:
        bins, w = _line_kernel(f0)
        acc[:, bins] += inten[:, None] * (25.0 * w)[None, :] * bg[:, bins]


@dataclasses.dataclass(frozen=True)
class _Impulses:
    """Whistlers (dispersed, night side) and short broadband bursts (1–3 rows)."""

    whistlers: np.ndarray  # (k, 4): time s, rel amplitude, dispersion s^0.5, centre Hz
    bursts: np.ndarray  # (k, 4): first row, rows, rel amplitude, lowest Hz

    def add(self, acc, bg, tr: _Track, r0: int, r1: int) -> None:
        f = np.maximum(_FREQ, 50.0)
        cols = np.arange(_NF)
        for tw, rel, disp, fcen in self.whistlers:
            row = np.floor((tw + disp / np.sqrt(f)) / (_ROW_MS / 1000)).astype(int)
            ok = (row >= r0) & (row < r1) & (_FREQ >= 300.0)
            shape = np.exp(-0.5 * (np.log(f / fcen) / 0.6) ** 2)
            acc[row[ok] - r0, cols[ok]] += rel * shape[ok] * bg[row[ok] - r0, cols[ok]]
        for first, nrows, rel, flo in self.bursts:
            a, b = max(int(first), r0), min(int(first + nrows), r1)
            if a < b:
                acc[a - r0 : b - r0] += (
                    rel * _step((_FREQ - flo) / 200.0)[None, :] * bg[a - r0 : b - r0]
                )


@dataclasses.dataclass(frozen=True)
class _Nucleus:
    """Nucleus-shaped anomaly: excess ``C**(1 - rho**kappa)`` times the background.

    ``rho`` is the distance from the centre in half-axes (``lt/2``, ``lf/2``), tilted and
    with a wavy rim, so the excess falls from ``C`` at the centre to the background level
    at ``rho = 1``: a dark core fading outward.
    """

    tc: float
    fc: float
    lt: float
    lf: float
    log_c: float
    kappa: float
    tilt: float
    rim: tuple[float, float, float, float]  # eps2, psi2, eps3, psi3

    def excess(self, tr: _Track, r0: int, r1: int) -> tuple[slice, slice, np.ndarray] | None:
        a, b = _rows(tr, self.tc - 1.3 * self.lt, self.tc + 1.3 * self.lt, r0, r1)
        c0 = max(0, math.floor((self.fc - 1.3 * self.lf) / 25.0))
        c1 = min(_NF, math.ceil((self.fc + 1.3 * self.lf) / 25.0) + 1)
        if a >= b or c0 >= c1:
            return None
        x = ((tr.t[a:b] - self.tc) / (self.lt / 2))[:, None]
        y = ((_FREQ[c0:c1] - self.fc) / (self.lf / 2))[None, :]
        xr_ = x * math.cos(self.tilt) + y * math.sin(self.tilt)
        yr_ = -x * math.sin(self.tilt) + y * math.cos(self.tilt)
        th = np.arctan2(yr_, xr_)
        e2, p2, e3, p3 = self.rim
        rho = np.hypot(xr_, yr_) / (1.0 + e2 * np.cos(2 * th + p2) + e3 * np.cos(3 * th + p3))
        return slice(a - r0, b - r0), slice(c0, c1), 10.0 ** (self.log_c * (1.0 - rho**self.kappa))

    def add(self, acc, bg, tr: _Track, r0: int, r1: int) -> None:
        got = self.excess(tr, r0, r1)
        if got is not None:
            rs, cs, ex = got
            acc[rs, cs] += ex * bg[rs, cs]


@dataclasses.dataclass(frozen=True)
class _HalfPlan:
    h: int
    bg: _SatBackground
    features: tuple[Any, ...]
    nuclei: tuple[_Nucleus, ...]
    fill: tuple[tuple[int, int], ...]


def _cses_model(plan: _HalfPlan, tr: _Track, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected PSD of rows ``[r0, r1)``: everything but the anomalies, and the anomalies."""
    bg = plan.bg.psd(tr, r0, r1)
    rest = bg.copy()
    for feat in plan.features:
        feat.add(rest, bg, tr, r0, r1)
    nuc = np.zeros_like(bg)
    for a in plan.nuclei:
        a.add(nuc, bg, tr, r0, r1)
    return rest, nuc


def _pick_time(rng: np.random.Generator, tr: _Track, ok: np.ndarray) -> float | None:
    idx = np.flatnonzero(ok)
    return None if idx.size == 0 else float(tr.t[rng.choice(idx)])


def _row_mod(rng: np.random.Generator, n: int, sigma: float, corr: float) -> np.ndarray:
    """Smooth log-normal factor (mean 1) per row, correlated over ``corr`` rows."""
    half = max(1, round(2 * corr))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / max(corr, 0.3)) ** 2)
    z = np.convolve(rng.standard_normal(n + 2 * half), k / np.sqrt(np.sum(k * k)), mode="valid")
    return np.exp(sigma * z[:n] - sigma**2 / 2)


def _draw_bands(rng: np.random.Generator, tr: _Track) -> list[_Band]:
    """Plasmaspheric hiss, auroral hiss patches (funnels), chorus, LHR noise."""
    n, day, am = tr.t.size, tr.descending, np.abs(tr.mlat)
    out: list[_Band] = []
    if rng.random() < 0.8:
        amp = 10 ** rng.uniform(0.3, 1.3) * (1.5 if day else 1.0)
        fc, width, pp = rng.uniform(250, 700), rng.uniform(0.45, 0.7), rng.uniform(48, 62)
        out.append(_Band("hiss", 0.0, math.inf, fc, width, pp, amp, _row_mod(rng, n, 0.2, 30)))
    for _ in range(rng.poisson(0.9)):
        tc = _pick_time(rng, tr, am >= 62)
        tc = _pick_time(rng, tr, am >= 58) if tc is None else tc
        if tc is None:
            continue
        if rng.random() < 0.35:  # compact patch: the closest look-alike of a nucleus
            hw, fmin, kf = rng.uniform(12, 40), rng.uniform(2500, 7000), rng.uniform(500, 1500)
            fup = fmin + rng.uniform(1500, 4000)
        else:
            hw, fmin, kf = rng.uniform(60, 240), rng.uniform(300, 3000), rng.uniform(1500, 6000)
            fup = rng.uniform(8000, 20000)
        amp = 10 ** rng.uniform(0.4, 1.6)
        out.append(_Band("aurora", tc, hw, fmin, kf, fup, amp, _row_mod(rng, n, 0.3, 5)))
    for _ in range(rng.poisson(0.8 if day else 0.4)):
        tc = _pick_time(rng, tr, (am >= 45) & (am <= 68))
        if tc is not None:
            hw, fc, rel = rng.uniform(40, 200), rng.uniform(800, 4000), rng.uniform(0.15, 0.35)
            amp = 10 ** rng.uniform(0.3, 1.3)
            out.append(_Band("chorus", tc, hw, fc, rel, 0.0, amp, _row_mod(rng, n, 0.5, 1)))
    if rng.random() < 0.6:
        f0 = rng.uniform(3500, 6000) * (1.0 if day else 0.8)
        amp = 10 ** rng.uniform(0.2, 0.9)
        out.append(_Band("lhr", 0.0, math.inf, f0, 0.2, 0.0, amp, _row_mod(rng, n, 0.3, 10)))
    return out


def _draw_lines_impulses(rng: np.random.Generator, tr: _Track) -> tuple[_Lines, _Impulses]:
    n, day = tr.t.size, tr.descending
    pl = None
    if rng.random() < 0.3:
        tc = _pick_time(rng, tr, np.abs(tr.mlat) < 60)
        if tc is not None:
            lon = tr.lon[int(np.searchsorted(tr.t, tc))]
            f0 = 60.0 if -170 < lon < -30 else 50.0
            pl = (tc, rng.uniform(30, 150), f0, 10 ** rng.uniform(0.5, 1.5))
    lines = _Lines(
        tx_rel=10 ** rng.uniform(1.0, 2.5, len(_VLF_TX)),
        night=not day,
        alpha_rel=10 ** rng.uniform(0.8, 1.8),
        alpha_mod=rng.uniform(0.3, 1.7, n),
        pl=pl,
        pl_kmax=int(rng.uniform(1500, 4000) / (pl[2] if pl else 50.0)),
    )
    wh: list[list[float]] = []
    if not day and rng.random() < 0.45:  # whistler storms on the night side
        for _ in range(int(rng.integers(1, 3))):
            tc = _pick_time(rng, tr, np.abs(tr.mlat) < 55)
            if tc is None:
                continue
            dur = rng.uniform(60, 600)
            k = rng.binomial(int(dur * 1000 / _ROW_MS), rng.uniform(0.2, 0.8))
            for tw in tc - dur / 2 + rng.uniform(0, dur, k):
                wh.append(
                    [tw, 10 ** rng.uniform(0.3, 1.5), rng.uniform(15, 60), rng.uniform(3e3, 6e3)]
                )
    bursts = [
        [
            rng.integers(0, n),
            rng.integers(1, 4),
            10 ** rng.uniform(0.5, 1.5),
            0.0 if rng.random() < 0.5 else rng.uniform(2000, 10000),
        ]
        for _ in range(rng.poisson(1.5))
    ]
    imp = _Impulses(np.array(wh, float).reshape(-1, 4), np.array(bursts, float).reshape(-1, 4))
    return lines, imp


def _draw_nuclei(rng: np.random.Generator, tr: _Track, rate: float = 0.5) -> list[_Nucleus]:
    """Nucleus anomalies at |magnetic latitude| 58–80°, 59 % north, mostly near 6.2 kHz."""
    out = []
    am = np.abs(tr.mlat)
    for _ in range(rng.poisson(rate)):
        north = rng.random() < 0.59
        lt = math.exp(rng.uniform(math.log(10.0), math.log(90.0)))
        lf = rng.uniform(500.0, 3000.0)
        # centres where the whole anomaly lies inside the half-orbit
        ok = (am >= 58) & (am <= 80) & (tr.t >= lt / 2 + 4) & (tr.t <= tr.t[-1] - lt / 2 - 4)
        tc = _pick_time(rng, tr, ok & ((tr.mlat > 0) == north))
        tc = _pick_time(rng, tr, ok) if tc is None else tc
        if tc is None:
            continue
        fc = float(np.clip(rng.normal(6200.0, 1800.0), lf / 2 + 200, 12500.0 - lf / 2))
        rim = (
            rng.uniform(0, 0.12),
            rng.uniform(0, 2 * np.pi),
            rng.uniform(0, 0.08),
            rng.uniform(0, 2 * np.pi),
        )
        out.append(
            _Nucleus(
                tc,
                fc,
                lt,
                lf,
                log_c=rng.uniform(0.8, 2.2),
                kappa=rng.uniform(1.4, 2.6),
                tilt=rng.uniform(-0.35, 0.35),
                rim=rim,
            )
        )
    return out


def _draw_halforbit(seed: int, h: int) -> _HalfPlan:
    rng = _rng(seed, _S_HALF, h)
    tr = _track(h)
    bg = _SatBackground(
        b0=1e-5 * rng.lognormal(0.0, 0.25) * (1.6 if tr.descending else 1.0),
        f1=rng.uniform(600, 1500),
        p=rng.uniform(1.6, 2.3),
        floor=rng.uniform(0.5, 2.0) * 1e-8,
        wander=tuple(
            (rng.uniform(0.05, 0.2), rng.uniform(100, 900), rng.uniform(0, 2 * np.pi))
            for _ in range(3)
        ),
    )
    bands = _draw_bands(rng, tr)
    lines, imp = _draw_lines_impulses(rng, tr)
    nuclei = _draw_nuclei(rng, tr)
    n = tr.t.size
    fill = []
    for _ in range(rng.poisson(0.8)):
        a = int(rng.integers(0, n))
        fill.append((a, min(n, a + int(rng.integers(1, 40)))))
    return _HalfPlan(h, bg, (*bands, lines, imp), tuple(nuclei), tuple(fill))


def _fill_rows(plan: _HalfPlan, n: int) -> np.ndarray:
    bad = np.zeros(n, bool)
    for a, b in plan.fill:
        bad[a:b] = True
    return bad


def _render_half(plan: _HalfPlan, seed: int, scale: float) -> np.ndarray:
    """One half-orbit's spectra: model PSD × chi-square(2·dof)/(2·dof) noise."""
    tr = _track(plan.h)
    rest, nuc = _cses_model(plan, tr, 0, tr.t.size)
    noise = _rng(seed, _S_NOISE, plan.h).gamma(_DOF, 1.0 / _DOF, size=rest.shape)
    out = ((rest + nuc) * noise * scale).astype(np.float32)
    out[_fill_rows(plan, tr.t.size)] = np.nan
    return out


def _truth_half(plan: _HalfPlan) -> np.ndarray:
    tr = _track(plan.h)
    rest, nuc = _cses_model(plan, tr, 0, tr.t.size)
    mask = (nuc > 0) & (nuc >= rest)
    mask[_fill_rows(plan, tr.t.size)] = False
    return mask


def _anomaly_rows(i: int, plan: _HalfPlan, tr: _Track) -> list[dict[str, Any]]:
    """Table rows of one half-orbit's anomalies, extents taken from the truth pixels."""
    rows = []
    bad = _fill_rows(plan, tr.t.size)
    for a in plan.nuclei:
        r0, r1 = _rows(tr, a.tc - 1.3 * a.lt, a.tc + 1.3 * a.lt, 0, tr.t.size)
        rest, nuc = _cses_model(plan, tr, r0, r1)
        own = np.zeros_like(nuc)
        got = a.excess(tr, r0, r1)
        if got is not None:
            rs, cs, ex = got
            own[rs, cs] = ex * plan.bg.psd(tr, r0, r1)[rs, cs]
        mask = (nuc > 0) & (nuc >= rest) & (own >= 0.5 * nuc) & ~bad[r0:r1, None]
        rr, cc = np.nonzero(mask)
        centre = tr.time[0] + np.timedelta64(round(a.tc * 1e9), "ns")
        row = {
            "halforbit": i,
            "orbit": tr.orbit,
            "orbit_direction": "descending" if tr.descending else "ascending",
            "start_time": tr.time[r0 + rr.min()] if rr.size else pd.NaT,
            "end_time": tr.time[r0 + rr.max()] if rr.size else pd.NaT,
            "centre_time": centre,
            "peak_time": centre,
            "f_min": _FREQ[cc.min()] if cc.size else np.nan,
            "f_max": _FREQ[cc.max()] if cc.size else np.nan,
            "f_centre": a.fc,
            "f_peak": a.fc,
            "duration_s": a.lt,
            "bandwidth_hz": a.lf,
            "log10_contrast": a.log_c,
            "area_pixels": int(rr.size),
            "latitude": float(np.interp(a.tc, tr.t, tr.lat)),
            "longitude": float(np.interp(a.tc, tr.t, tr.lon)),
            "magnetic_latitude": float(np.interp(a.tc, tr.t, tr.mlat)),
        }
        row["hemisphere"] = "N" if row["magnetic_latitude"] > 0 else "S"
        rows.append(row)
    return rows


_TABLE_COLUMNS = [
    "halforbit",
    "orbit",
    "orbit_direction",
    "start_time",
    "end_time",
    "centre_time",
    "peak_time",
    "f_min",
    "f_max",
    "f_centre",
    "f_peak",
    "duration_s",
    "bandwidth_hz",
    "log10_contrast",
    "area_pixels",
    "latitude",
    "longitude",
    "magnetic_latitude",
    "hemisphere",
]


def _file_name(tr: _Track) -> str:
    t0, t1 = pd.Timestamp(tr.time[0]), pd.Timestamp(tr.time[-1])
    return (
        f"{FILE_PREFIX}{tr.orbit:05d}{0 if tr.descending else 1}_"
        f"{t0:%Y%m%d_%H%M%S}_{t1:%Y%m%d_%H%M%S}_000.h5"
    )


def _sat_coords(tracks: list[_Track]) -> dict[str, Any]:
    """Along-track coordinates, named and typed as :func:`xspecseg.io.read_cses` gives them."""

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(tr, name) for tr in tracks])

    direction = [
        np.full(tr.t.size, "descending" if tr.descending else "ascending", dtype="<U10")
        for tr in tracks
    ]
    freq_attrs = {
        "units": "Hz",
        "long_name": "frequency",
        "convention": "lower bin edge, k * bin_width",
        "bin_width": 25.0,
    }
    mlat_attrs = {"units": "degrees", "long_name": "magnetic latitude (MAG_LAT of the files)"}
    return {
        "time": ("time", cat("time")),
        "frequency": ("frequency", _FREQ.copy(), freq_attrs),
        "latitude": ("time", cat("lat"), {"units": "degrees_north"}),
        "longitude": ("time", cat("lon"), {"units": "degrees_east"}),
        "altitude_km": ("time", cat("alt"), {"units": "km"}),
        "magnetic_latitude": ("time", cat("mlat"), mlat_attrs),
        "orbit": (
            "time",
            np.concatenate([np.full(tr.t.size, tr.orbit, np.int64) for tr in tracks]),
        ),
        "orbit_direction": ("time", np.concatenate(direction)),
    }


def heldout_cses(
    start: str, halforbits: int, seed: int, *, scale: float = 1.0
) -> tuple[xr.Dataset, xr.DataArray, pd.DataFrame]:
    """Held-out CSES-01 EFD VLF half-orbits (Z component) with nucleus-anomaly truth.

    Parameters
    ----------
    start : str
        The first half-orbit is the first whose data start at or after this time.
    halforbits : int
        Number of consecutive half-orbits (±65° geographic latitude, ~1017 rows each;
        descending = day side, 14 LT; ascending = night side, 02 LT).
    seed : int
        Random seed; a half-orbit depends only on the seed and its orbit number.
    scale : float
        Multiplies the PSD.

    Returns
    -------
    sat : xr.Dataset
        The layout of :func:`xspecseg.io.read_cses` on synthetic files: ``psd`` (time,
        frequency) float32 in (mV/m)²/Hz, NaN on fill rows, and ``truth`` (bool), both
        lazy with one chunk per half-orbit; coords ``time``, ``frequency`` (0–25.575 kHz,
        25 Hz), ``latitude``, ``longitude``, ``altitude_km``, ``magnetic_latitude``
        (centred dipole), ``orbit``, ``orbit_direction``; attrs ``component``, ``units``,
        ``log10``, ``source_files``, ``platform``, ``instrument``, ``sampling_rate``,
        ``synth_params``.
    truth : xr.DataArray
        ``sat["truth"]``: where the expected anomaly excess is at least the expected rest.
    anomalies : pandas.DataFrame
        One row per anomaly: ``halforbit`` (position in this run), ``orbit``,
        ``orbit_direction``, ``start_time``/``end_time``/``f_min``/``f_max`` (extent of its
        truth pixels), ``centre_time``/``f_centre`` (also as ``peak_time``/``f_peak``),
        nominal ``duration_s``/``bandwidth_hz``, ``log10_contrast``, ``area_pixels``,
        position and ``hemisphere``.

    Examples
    --------
    >>> sat, truth, table = heldout_cses("2021-11-01", halforbits=2, seed=0)
    >>> sat.psd.dims, sat.sizes["frequency"]
    (('time', 'frequency'), 1024)
    """
    if int(halforbits) < 1:
        raise ValueError(f"halforbits must be >= 1, got {halforbits}")
    h0 = _first_halforbit(np.datetime64(pd.Timestamp(start).to_datetime64(), "ms"))
    plans = [_draw_halforbit(seed, h) for h in range(h0, h0 + int(halforbits))]
    tracks = [_track(p.h) for p in plans]
    psd, tru = [], []
    for p, tr in zip(plans, tracks):
        shape = (tr.t.size, _NF)
        psd.append(
            da.from_delayed(
                dask.delayed(_render_half, pure=True)(p, seed, float(scale)), shape, np.float32
            )
        )
        tru.append(da.from_delayed(dask.delayed(_truth_half, pure=True)(p), shape, bool))

    coords = _sat_coords(tracks)
    params = {
        "generator": "xspecseg.synth.heldout.heldout_cses",
        "seed": int(seed),
        "start": str(start),
        "halforbits": int(halforbits),
        "scale": float(scale),
        "dof": 2 * _DOF,
        "anomaly_rate": 0.5,
    }
    attrs = {
        "component": "Z",
        "units": _UNITS_SAT,
        "log10": 0,
        "source_files": [_file_name(tr) for tr in tracks],
        "platform": "CSES-01",
        "instrument": "EFD VLF",
        "freq_in_files": "edges",
        "sampling_rate": 51200.0,
        "synth_params": json.dumps(params),
    }
    sat = xr.Dataset(
        {
            "psd": (
                ("time", "frequency"),
                da.concatenate(psd),
                {"units": _UNITS_SAT, "long_name": "power spectral density Ez"},
            ),
            "truth": (
                ("time", "frequency"),
                da.concatenate(tru),
                {"long_name": "injected nucleus-shaped anomaly (synthetic truth)"},
            ),
        },
        coords=coords,
        attrs=attrs,
    )
    rows = [r for i, (p, tr) in enumerate(zip(plans, tracks)) for r in _anomaly_rows(i, p, tr)]
    table = pd.DataFrame(rows, columns=_TABLE_COLUMNS)
    return sat, sat["truth"], table

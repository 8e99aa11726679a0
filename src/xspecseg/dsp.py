"""Numba kernels that are numerical drop-ins for ``scipy.signal.sosfiltfilt`` and ``welch``.

The spectrogram cube builder filters and Welch-averages one day of 100 Hz data per
Dask task.  SciPy's versions are correct but slow for that: ``sosfiltfilt`` runs one
latency-bound biquad recursion per sample and makes several full-size temporary
copies, and ``welch`` loops over segments in Python.  The kernels here produce the
same numbers (float64 to ~1e-12 relative) with far less work:

* IIR filtering splits every record into overlapping pieces (halo = length of the
  impulse response, see :func:`impulse_halo`) and runs ``_LANES`` pieces side by side
  (six vector registers' worth) in an interleaved inner loop that LLVM vectorises, four
  sections per sweep so that a row of lanes holds many independent recursions.  Rows go
  through an L1-sized stage; only the forward results the backward pass needs are kept,
  so per sample the input is read, one float64 is written and read back, and the output
  is written once.  Bad samples and overshoots are judged and float32 output rounded on
  the way (:func:`sosfiltfilt_runs`), without mask arrays or full-size temporaries.
* Rational resampling (:func:`resample_poly`) uses SciPy's Kaiser-windowed FIR in
  polyphase form; every output is a fixed sum over input samples, so a record cut into
  chunks with a halo of :func:`resample_halo` samples resamples bit-identically, and an
  output whose FIR support holds a NaN (a gap) is NaN instead of smearing it.
* Welch builds all segments of all blocks with one detrend+window kernel, calls one
  batched real FFT per cache-sized chunk of segments and averages ``|X|^2`` in a
  kernel that can leave out masked segments, or segments holding a NaN found while
  they are built (:func:`welch_masked`'s ``mask_nonfinite``).

All kernels are compiled with ``cache=True`` and ``nogil=True`` so Dask threads can
run them concurrently and the compile cost is paid once per installation.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import llvmlite.binding as llvm
import numba
import numpy as np
import scipy.fft
import scipy.signal as ss

__all__ = [
    "bandpass_sos",
    "default_padlen",
    "impulse_halo",
    "rational_ratio",
    "resample_fir",
    "resample_halo",
    "resample_length",
    "resample_poly",
    "sosfiltfilt",
    "sosfiltfilt_runs",
    "welch",
    "welch_masked",
]


def _doubles_per_vector(cpu_name: str, features: str) -> int:
    """float64 values per vector operation that the core executes at full width.

    Zen 5 and later AMD cores execute 512-bit AVX-512 operations in one pass; Zen 4 splits
    them into two 256-bit halves, and LLVM prefers 256-bit vectors on Intel's AVX-512
    cores (to avoid the frequency drop); machines without AVX have 128-bit SSE registers.
    """
    flags = set(features.split(","))
    generation = cpu_name.removeprefix("znver")
    if "+avx512f" in flags and generation.isdigit() and int(generation) >= 5:
        return 8
    return 4 if "+avx" in flags else 2


def _target_cpu() -> tuple[str, str]:
    """The CPU name and features Numba compiles for (its cache is keyed by them too)."""
    name = numba.config.CPU_NAME or llvm.get_host_cpu_name()
    features = numba.config.CPU_FEATURES
    if features is None:
        features = llvm.get_host_cpu_features().flatten() if name != "generic" else ""
    return name, features


# Independent filter streams per group: six full-width vectors per value (48 float64
# lanes on Zen 5, 24 on Zen 4 and Intel's AVX cores).  The four sections of a sweep then
# make 24 independent recursion chains, enough to keep the FP pipes busy while each chain
# waits on its multiply-add latency.  With 16 lanes the recursion left them idle (2.5x
# slower on AMD Zen 5, 1.7x on an Intel Xeon); with 48 on the Intel Xeon and on Zen 4 the
# states spill and the lane buffers outgrow the caches (1.2-1.3x slower).  The count is a
# compile-time constant of the kernels, fixed by the target that also keys Numba's
# cache, so a cached kernel always matches it.
_LANES = 6 * _doubles_per_vector(*_target_cpu())
# Lanes moved together between a record's rows and the lane-major blocks: a 64-byte cache
# line of float64, so a block row is written (or read) once per tile rather than once per
# lane.
_TILE = 8 if _LANES % 8 == 0 else 4
# Sections per sweep of :func:`_cascade4`; other counts are padded with identity
# sections, which pass every sample through exactly.
_QUAD = 4
# Rows per block of the transposes and sweeps: 96 KiB per block buffer stays in L2, and
# long blocks spread the per-block work (a lane's bounds, the state copies) over many rows
# (24 KiB blocks were 1.2-1.3x slower on Zen 4).
_BLOCK = (96 * 1024) // (8 * _LANES)
# Longest output piece of a run; the piece buffer (piece + 2 halo) x lanes then stays in
# L2/L3 between the forward and the backward pass.  Runs are cut into as many pieces as
# fill whole groups of lanes (see :func:`_make_jobs`).
_PIECE = 16384
# Relative size of the impulse-response tail that the warm-up halo may ignore.  The
# state error at the start of a warm-up is of the order of the signal itself, so this
# keeps the splitting error near float64 round-off.
_HALO_RTOL = 1e-15
# Pieces whose buffer would exceed this many bytes (filters with an extremely long
# impulse response) are filtered by SciPy instead.
_MAX_BUFFER_BYTES = 1 << 28
# Samples per FFT chunk in welch: the float32 segments and their spectra (1 MiB each)
# stay in L2 from building through the FFT to averaging (1.1-1.2x faster on Zen 4 than
# 4 MiB chunks).
_FFT_CHUNK = 1 << 18

_PAD_CODES = {None: 0, "odd": 1, "even": 2, "constant": 3}


# --------------------------------------------------------------------------- helpers


def _validate_sos(sos: Any) -> np.ndarray:
    """Check ``sos`` the way SciPy does and return it as C-contiguous float64."""
    sos = np.atleast_2d(np.asarray(sos))
    if sos.ndim != 2:
        raise ValueError("sos array must be 2D")
    if sos.shape[1] != 6:
        raise ValueError("sos array must be shape (n_sections, 6)")
    if not (sos[:, 3] == 1).all():
        raise ValueError("sos[:, 3] should be all ones")
    return sos


def bandpass_sos(low: float, high: float, fs: float, order: int = 4) -> np.ndarray:
    """Butterworth band-pass filter as second-order sections.

    Parameters
    ----------
    low, high : float
        Pass-band edges in the units of ``fs``.
    fs : float
        Sampling frequency.
    order : int, optional
        Butterworth order of the low-pass prototype; the band-pass has ``order``
        sections (``2 * order`` poles).

    Returns
    -------
    numpy.ndarray
        ``(order, 6)`` float64 array, identical to
        ``scipy.signal.butter(order, [low, high], btype="band", fs=fs, output="sos")``.

    Examples
    --------
    >>> bandpass_sos(0.5, 10.0, 100.0).shape
    (4, 6)
    """
    return np.ascontiguousarray(
        ss.butter(order, [low, high], btype="band", fs=fs, output="sos"), dtype=np.float64
    )


def default_padlen(sos: Any) -> int:
    """SciPy's default ``padlen`` of :func:`scipy.signal.sosfiltfilt` for ``sos``.

    Parameters
    ----------
    sos : array_like
        ``(n_sections, 6)`` second-order sections.

    Returns
    -------
    int
        ``3 * (2 * n_sections + 1 - min(#(b2 == 0), #(a2 == 0)))``.

    Examples
    --------
    >>> default_padlen(bandpass_sos(0.5, 10.0, 100.0))
    27
    """
    sos = _validate_sos(sos)
    ntaps = 2 * sos.shape[0] + 1
    ntaps -= min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return 3 * ntaps


_HALO_CACHE: dict[tuple[bytes, tuple[int, ...], float], int] = {}


def impulse_halo(sos: Any, rtol: float = 1e-12) -> int:
    """Length after which the impulse response of ``sos`` stays below ``rtol * peak``.

    Callers use it as the overlap (per filter direction) when a record is filtered in
    chunks: a filter started ``impulse_halo`` samples early with an approximate state
    has forgotten that error to about ``rtol`` relative.

    The impulse response is computed with :func:`scipy.signal.sosfilt` over a growing
    length until its second half is entirely below the threshold, so slowly
    decaying or ringing responses are measured, not estimated from pole radii.

    Parameters
    ----------
    sos : array_like
        ``(n_sections, 6)`` second-order sections of a stable filter.
    rtol : float, optional
        Threshold relative to the peak of ``|h|``.

    Returns
    -------
    int
        One past the last sample with ``|h| > rtol * max|h|`` (0 for a zero filter).

    Raises
    ------
    ValueError
        If the response has not decayed within 2**26 samples (unstable filter).

    Examples
    --------
    >>> 2000 < impulse_halo(bandpass_sos(0.5, 10.0, 100.0), 1e-12) < 3000
    True
    """
    sos = _validate_sos(sos).astype(np.float64)
    key = (sos.tobytes(), sos.shape, float(rtol))
    hit = _HALO_CACHE.get(key)
    if hit is not None:
        return hit
    n = 1024
    while True:
        imp = np.zeros(n)
        imp[0] = 1.0
        h = np.abs(ss.sosfilt(sos, imp))
        if not np.isfinite(h).all():
            raise ValueError("impulse response is not finite; is the filter stable?")
        peak = h.max()
        if peak == 0:
            result = 0
            break
        above = np.flatnonzero(h > rtol * peak)
        last = int(above[-1])
        # Demand a long quiet tail so a ringing response is not cut at a zero crossing.
        if last < n // 2:
            result = last + 1
            break
        if n >= 1 << 26:
            raise ValueError("impulse response does not decay; is the filter stable?")
        n *= 4
    _HALO_CACHE[key] = result
    return result


# ------------------------------------------------------------------ IIR numba kernels


@numba.njit(cache=True, nogil=True, fastmath=False, inline="always")
def _ext_value(x, row, rs, n, edge, padcode, p):
    """Sample ``p`` of the padded run ``x[row, rs:rs+n]`` (SciPy's ``*_ext``).

    The pad arithmetic runs in the dtype of ``x`` (``x0 + x0 - xk`` is exact
    doubling) so float32 pads round exactly like SciPy's ``odd_ext``.
    """
    if p < edge:
        k = edge - p
        if padcode == 1:
            return float(x[row, rs] + x[row, rs] - x[row, rs + k])
        if padcode == 2:
            return float(x[row, rs + k])
        return float(x[row, rs])
    if p >= edge + n:
        k = p - edge - n
        last = rs + n - 1
        if padcode == 1:
            return float(x[row, last] + x[row, last] - x[row, last - 1 - k])
        if padcode == 2:
            return float(x[row, last - 1 - k])
        return float(x[row, last])
    return float(x[row, rs + p - edge])


@numba.njit(cache=True, nogil=True, fastmath=False, inline="always")
def _load_block(x, row, rs, n, edge, padcode, p0, m, dst, i0, lane):
    """Copy padded-run positions ``p0:p0+m`` into ``dst[i0:i0+m, lane]`` as float64."""
    p = p0
    pend = p0 + m
    i = i0
    while p < pend and p < edge:
        dst[i, lane] = _ext_value(x, row, rs, n, edge, padcode, p)
        p += 1
        i += 1
    hi = min(pend, edge + n)
    if hi > p:
        src = x[row, rs - edge + p : rs - edge + hi]
        for q in range(hi - p):
            dst[i + q, lane] = src[q]
        i += hi - p
        p = hi
    while p < pend:
        dst[i, lane] = _ext_value(x, row, rs, n, edge, padcode, p)
        p += 1
        i += 1


@numba.njit(cache=True, nogil=True, fastmath=False)
def _cascade4(c, src, s0, dst, d0, m, zio):
    """Run four sections over ``m`` rows (rows = time, columns = lanes).

    Rows ``src[s0:s0+m]`` are filtered into ``dst[d0:d0+m]`` (never the same array:
    LLVM's run-time overlap check would then pick the scalar loop).  ``c`` holds the
    four ``sos`` rows and ``zio`` (8, lanes) their transposed direct form II states
    (rows ``2s`` and ``2s + 1``), updated on return.  The sections are written out so
    that their coefficients stay in registers and a row gives four independent
    recursions per register of lanes; the states are worked on in a local copy, which
    LLVM knows aliases nothing (2x faster than working on the argument).  The
    expression order is that of SciPy's ``_sosfilt``, so the result matches it to
    round-off.
    """
    c00, c01, c02, c04, c05 = c[0, 0], c[0, 1], c[0, 2], c[0, 4], c[0, 5]
    c10, c11, c12, c14, c15 = c[1, 0], c[1, 1], c[1, 2], c[1, 4], c[1, 5]
    c20, c21, c22, c24, c25 = c[2, 0], c[2, 1], c[2, 2], c[2, 4], c[2, 5]
    c30, c31, c32, c34, c35 = c[3, 0], c[3, 1], c[3, 2], c[3, 4], c[3, 5]
    z = zio.copy()
    for k in range(m):
        rin = src[s0 + k]
        rout = dst[d0 + k]
        for lane in range(_LANES):
            x = rin[lane]
            y = c00 * x + z[0, lane]
            z[0, lane] = c01 * x - c04 * y + z[1, lane]
            z[1, lane] = c02 * x - c05 * y
            x = y
            y = c10 * x + z[2, lane]
            z[2, lane] = c11 * x - c14 * y + z[3, lane]
            z[3, lane] = c12 * x - c15 * y
            x = y
            y = c20 * x + z[4, lane]
            z[4, lane] = c21 * x - c24 * y + z[5, lane]
            z[5, lane] = c22 * x - c25 * y
            x = y
            y = c30 * x + z[6, lane]
            z[6, lane] = c31 * x - c34 * y + z[7, lane]
            z[7, lane] = c32 * x - c35 * y
            rout[lane] = y
    zio[:] = z


@numba.njit(cache=True, nogil=True, fastmath=False, inline="always")
def _sweep(sos, src, s0, dst, d0, m, z, tmp):
    """All sections (a multiple of four) over ``m`` rows, four per pass; see _cascade4.

    Passes after the first read a copy of their input in ``tmp`` (``_BLOCK`` rows).
    """
    _cascade4(sos[:_QUAD], src, s0, dst, d0, m, z[: 2 * _QUAD])
    for q in range(_QUAD, sos.shape[0], _QUAD):
        tmp[:m] = dst[d0 : d0 + m]
        _cascade4(sos[q : q + _QUAD], tmp, 0, dst, d0, m, z[2 * q : 2 * q + 2 * _QUAD])


@numba.njit(cache=True, nogil=True, fastmath=False, inline="always")
def _set_state(zi, z, lane, v):
    """Steady state of the cascade for a constant input ``v`` (SciPy's ``zi * x[0]``)."""
    for s in range(zi.shape[0]):
        z[2 * s, lane] = zi[s, 0] * v
        z[2 * s + 1, lane] = zi[s, 1] * v


@numba.njit(cache=True, nogil=True, inline="always")
def _tile_inside(lj, lr, jrow, jrs, jn, jfa, edge, t0, m, g0, tr, tc):
    """Whether rows ``t0:t0+m`` of lanes ``g0:g0+_TILE`` are all samples of their runs.

    No lane is idle, padded or in a run's odd extension there; ``tr``/``tc`` then get
    the row and column of each lane's sample on row ``t0``.
    """
    for k in range(_TILE):
        lane = g0 + k
        j = lj[lane]
        if j < 0 or lr[lane] > t0:
            return False
        p0 = jfa[j] + t0 - lr[lane]
        if p0 < edge or p0 + m > edge + jn[j]:
            return False
        tr[k] = jrow[j]
        tc[k] = jrs[j] - edge + p0
    return True


@numba.njit(cache=True, nogil=True)
def _load_tile(x, tr, tc, m, stage, g0):
    """``stage[i, g0 + k] = x[tr[k], tc[k] + i]`` for ``i < m``, one block row at a time.

    With one view per source LLVM keeps the eight addresses in registers; indexing
    through ``tr``/``tc`` reloads them for every sample (1.2x slower on Zen 4).
    """
    if _TILE == 8:
        a0 = x[tr[0], tc[0] : tc[0] + m]
        a1 = x[tr[1], tc[1] : tc[1] + m]
        a2 = x[tr[2], tc[2] : tc[2] + m]
        a3 = x[tr[3], tc[3] : tc[3] + m]
        a4 = x[tr[4], tc[4] : tc[4] + m]
        a5 = x[tr[5], tc[5] : tc[5] + m]
        a6 = x[tr[6], tc[6] : tc[6] + m]
        a7 = x[tr[7], tc[7] : tc[7] + m]
        for i in range(m):
            row = stage[i, g0 : g0 + 8]
            row[0] = a0[i]
            row[1] = a1[i]
            row[2] = a2[i]
            row[3] = a3[i]
            row[4] = a4[i]
            row[5] = a5[i]
            row[6] = a6[i]
            row[7] = a7[i]
    else:
        for i in range(m):
            for k in range(_TILE):
                stage[i, g0 + k] = x[tr[k], tc[k] + i]


@numba.njit(cache=True, nogil=True, inline="always")
def _tile_whole(lj, lr, jrow, jrs, joa, job, jfa, edge, lo, hi, g0, tr, tc):
    """Whether lanes ``g0:g0+_TILE`` all output every row ``lo:hi``.

    ``tr``/``tc`` then get the row and column where each lane's row ``lo`` goes.
    """
    for k in range(_TILE):
        lane = g0 + k
        j = lj[lane]
        if lr[lane] + joa[j] - jfa[j] > lo or lr[lane] + job[j] - jfa[j] < hi:
            return False
        tr[k] = jrow[j]
        tc[k] = jrs[j] + jfa[j] - lr[lane] - edge + lo
    return True


@numba.njit(cache=True, nogil=True)
def _store_tile(stage, m, g0, out, tr, tc, big):
    """``out[tr[k], tc[k] + r] = stage[m - 1 - r, g0 + k]`` (NaN where ``|v| > big``)."""
    if _TILE == 8:
        d0 = out[tr[0], tc[0] : tc[0] + m]
        d1 = out[tr[1], tc[1] : tc[1] + m]
        d2 = out[tr[2], tc[2] : tc[2] + m]
        d3 = out[tr[3], tc[3] : tc[3] + m]
        d4 = out[tr[4], tc[4] : tc[4] + m]
        d5 = out[tr[5], tc[5] : tc[5] + m]
        d6 = out[tr[6], tc[6] : tc[6] + m]
        d7 = out[tr[7], tc[7] : tc[7] + m]
        for r in range(m):
            row = stage[m - 1 - r, g0 : g0 + 8]
            v = row[0]
            d0[r] = v if abs(v) <= big else np.nan
            v = row[1]
            d1[r] = v if abs(v) <= big else np.nan
            v = row[2]
            d2[r] = v if abs(v) <= big else np.nan
            v = row[3]
            d3[r] = v if abs(v) <= big else np.nan
            v = row[4]
            d4[r] = v if abs(v) <= big else np.nan
            v = row[5]
            d5[r] = v if abs(v) <= big else np.nan
            v = row[6]
            d6[r] = v if abs(v) <= big else np.nan
            v = row[7]
            d7[r] = v if abs(v) <= big else np.nan
    else:
        for r in range(m):
            for k in range(_TILE):
                v = stage[m - 1 - r, g0 + k]
                out[tr[k], tc[k] + r] = v if abs(v) <= big else np.nan


@numba.njit(cache=True, nogil=True, fastmath=False)
def _filtfilt_pieces(
    sos, zi, x, out, jrow, jrs, jn, edge, padcode, joa, job, jfa, jfb, order, big, rowbad
):
    """Zero-phase filter pieces of runs of ``x`` into ``out`` (same shape, any float dtype).

    Job ``j`` is a piece of the run ``x[jrow[j], jrs[j]:jrs[j]+jn[j]]``; in the
    coordinates of that run padded by ``edge`` samples on each side it outputs
    ``[joa, job)``, runs the forward pass over ``[jfa, jfb)`` and the backward pass
    from ``jfb - 1`` down to ``joa``.  A pass that starts at the true run end uses
    SciPy's initial state ``zi * first_sample`` and is exact; one that starts inside
    the run uses the same steady-state guess and forgets its error over the halo.

    Jobs are taken ``_LANES`` at a time in ``order``, one lane each.  Lanes are aligned
    at their last sample, so the backward pass starts on one row for all of them; a
    shorter lane is preceded by copies of its first sample, which hold the steady state
    it starts from (to round-off).  Every block of rows is transposed into the L2-sized
    ``stage`` and filtered there, a tile of lanes (a cache line of the block) at a time
    where the tile's lanes are all inside their runs; only forward results that the
    backward pass reads are kept, in ``buf``, which the backward pass reads without
    writing, so the memory traffic per sample is one write and one read of ``buf``.

    ``sos`` has a multiple of four sections (identity sections appended) and ``zi`` is
    its ``sosfilt_zi``.  Outputs with ``|y| > big`` are written as NaN (a filter
    overshoot); ``rowbad[row]`` is set when a forward pass ends with a non-finite state
    (non-finite input).
    """
    ns = sos.shape[0]
    njobs = order.size
    maxb = 1
    for j in range(njobs):
        maxb = max(maxb, jfb[j] - joa[j])
    buf = np.empty((maxb, _LANES))
    stage = np.empty((_BLOCK, _LANES))
    spare = np.empty((_BLOCK, _LANES))
    tmp = np.empty((_BLOCK, _LANES))
    z = np.empty((2 * ns, _LANES))
    lj = np.empty(_LANES, np.int64)
    lr = np.empty(_LANES, np.int64)  # row of each lane's first forward sample
    lx0 = np.empty(_LANES)
    tr = np.empty(_TILE, np.int64)  # row and column of each lane of a tile
    tc = np.empty(_TILE, np.int64)
    for g in range(0, njobs, _LANES):
        nl = min(_LANES, njobs - g)
        nf = 0
        for lane in range(nl):
            j = order[g + lane]
            nf = max(nf, jfb[j] - jfa[j])
        base = nf  # first row that the backward pass reads: rows below are warm-up only
        for lane in range(_LANES):
            x0 = 0.0
            if lane < nl:
                j = order[g + lane]
                lj[lane] = j
                lr[lane] = nf - (jfb[j] - jfa[j])
                x0 = _ext_value(x, jrow[j], jrs[j], jn[j], edge, padcode, jfa[j])
                base = min(base, nf - (jfb[j] - joa[j]))
            else:
                lj[lane] = -1
                lr[lane] = nf  # an idle lane is all padding: zeros
            lx0[lane] = x0
            _set_state(zi, z, lane, x0)
        # Forward pass in blocks that end at base, then at multiples of _BLOCK past it.
        t0 = 0
        while t0 < nf:
            t1 = min(t0 + _BLOCK, base) if t0 < base else min(t0 + _BLOCK, nf)
            m = t1 - t0
            for g0 in range(0, _LANES, _TILE):
                if _tile_inside(lj, lr, jrow, jrs, jn, jfa, edge, t0, m, g0, tr, tc):
                    _load_tile(x, tr, tc, m, stage, g0)
                    continue
                for lane in range(g0, g0 + _TILE):
                    npad = max(0, min(t1, lr[lane]) - t0)
                    v0 = lx0[lane]
                    for i in range(npad):
                        stage[i, lane] = v0
                    if npad < m:
                        j = lj[lane]
                        p0 = jfa[j] + t0 + npad - lr[lane]
                        _load_block(x, jrow[j], jrs[j], jn[j], edge, padcode, p0, m - npad,
                                    stage, npad, lane)  # fmt: skip
            if t0 < base:
                _sweep(sos, stage, 0, spare, 0, m, z, tmp)
            else:
                _sweep(sos, stage, 0, buf, t0 - base, m, z, tmp)
            t0 = t1
        for lane in range(nl):
            if not np.isfinite(z[0, lane]):
                rowbad[jrow[lj[lane]]] = True
        # Backward pass from the common last row: buf rows hi-1 down to lo are copied to
        # spare rows 0 up to hi-lo-1 (a reversed read inside _cascade4 defeats LLVM) and
        # filtered into stage, whose outputs are written while they are in L1.
        for lane in range(_LANES):
            _set_state(zi, z, lane, buf[nf - 1 - base, lane])
        hi = nf
        while hi > base:
            lo = max(base, hi - _BLOCK)
            for k in range(hi - lo):
                spare[k] = buf[hi - 1 - base - k]
            _sweep(sos, spare, 0, stage, 0, hi - lo, z, tmp)
            for g0 in range(0, nl, _TILE):
                if g0 + _TILE <= nl and _tile_whole(
                    lj, lr, jrow, jrs, joa, job, jfa, edge, lo, hi, g0, tr, tc
                ):
                    _store_tile(stage, hi - lo, g0, out, tr, tc, big)
                    continue
                for lane in range(g0, min(nl, g0 + _TILE)):
                    j = lj[lane]
                    ra = max(lo, lr[lane] + joa[j] - jfa[j])
                    rb = min(hi, lr[lane] + job[j] - jfa[j])
                    if rb <= ra:
                        continue
                    # row r is padded-run position jfa + r - lr, column rs + position - edge,
                    # stage row hi - 1 - r
                    c0 = jrs[j] + jfa[j] - lr[lane] - edge
                    dst = out[jrow[j], c0 + ra : c0 + rb]
                    for r in range(rb - ra):
                        v = stage[hi - 1 - ra - r, lane]
                        dst[r] = v if abs(v) <= big else np.nan
            hi = lo


# Reassociation lets these reductions vectorise; a NaN/inf still poisons the sum.
@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def _all_good(v, thr):
    """No sample of ``v`` is non-finite or has ``|v| >= thr``."""
    acc = 0.0
    over = 0
    for i in range(v.size):
        acc += v[i] * 0.0
        over += abs(v[i]) >= thr
    return acc == 0.0 and over == 0


@numba.njit(cache=True, nogil=True)
def _any_nonzero(v):
    acc = 0
    for i in range(v.size):
        acc |= v[i]
    return acc != 0


@numba.njit(cache=True, nogil=True)
def _scan_runs(x, bad, use_bad, thr, minlen, out):
    """Find maximal runs of good samples per row; NaN-fill ``out`` where not filtered.

    A sample is bad when it is not finite, ``|x| >= thr`` or ``bad`` is set there.
    Returns ``(row, start, length)`` of the runs longer than ``minlen``.  Whole
    blocks are first tested with a branch-free reduction so the common all-good case
    streams through memory.
    """
    nrow, n = x.shape
    cap = 64
    rr = np.empty(cap, np.int64)
    rs = np.empty(cap, np.int64)
    rn = np.empty(cap, np.int64)
    cnt = 0
    blk = 4096
    for r in range(nrow):
        start = -1  # start of the current good run, -1 when inside a gap
        b0 = 0
        while b0 < n:
            b1 = min(n, b0 + blk)
            anybad = not _all_good(x[r, b0:b1], thr)
            if use_bad and not anybad:
                anybad = _any_nonzero(bad[r, b0:b1])
            if not anybad:
                if start < 0:
                    start = b0
                b0 = b1
                continue
            for i in range(b0, b1):
                v = x[r, i]
                good = v - v == 0.0 and abs(v) < thr
                if use_bad and bad[r, i] != 0:
                    good = False
                if good:
                    if start < 0:
                        start = i
                else:
                    out[r, i] = np.nan
                    if start >= 0:
                        ln = i - start
                        if ln > minlen:
                            if cnt == cap:
                                cap *= 2
                                rr = _grow(rr, cap)
                                rs = _grow(rs, cap)
                                rn = _grow(rn, cap)
                            rr[cnt] = r
                            rs[cnt] = start
                            rn[cnt] = ln
                            cnt += 1
                        else:
                            out[r, start:i] = np.nan
                        start = -1
            b0 = b1
        if start >= 0:
            ln = n - start
            if ln > minlen:
                if cnt == cap:
                    cap *= 2
                    rr = _grow(rr, cap)
                    rs = _grow(rs, cap)
                    rn = _grow(rn, cap)
                rr[cnt] = r
                rs[cnt] = start
                rn[cnt] = ln
                cnt += 1
            else:
                out[r, start:n] = np.nan
    return rr[:cnt].copy(), rs[:cnt].copy(), rn[:cnt].copy()


@numba.njit(cache=True, nogil=True)
def _grow(a, cap):
    b = np.empty(cap, a.dtype)
    b[: a.size] = a
    return b


def _pieces_per_run(lens: np.ndarray, piece: int, lanes: int) -> np.ndarray:
    """Pieces per run: at most ``piece`` samples each, as many as fill whole lane groups.

    A group costs the same whether its lanes are busy or idle, so once the number of
    groups is fixed by ``piece`` the runs are cut finer until the groups are full:
    shorter pieces mean fewer rows per group.
    """
    npc = np.maximum(1, -(-lens // piece))
    capacity = lanes * -(-int(npc.sum()) // lanes)
    lo, hi = 1, piece  # smallest piece length whose cut still fits the capacity
    while lo < hi:
        mid = (lo + hi) // 2
        if int(np.maximum(1, -(-lens // mid)).sum()) <= capacity:
            hi = mid
        else:
            lo = mid + 1
    return np.maximum(1, -(-lens // lo))


def _make_jobs(rows, starts, lens, edge, halo, piece, lanes=_LANES):
    """Split runs into pieces; vectorised so there is no Python loop per run."""
    lens = np.asarray(lens, np.int64)
    npc = _pieces_per_run(lens, piece, lanes)
    rid = np.repeat(np.arange(lens.size), npc)
    k = np.arange(rid.size) - np.repeat(np.cumsum(npc) - npc, npc)
    npr = npc[rid]
    n = lens[rid]
    oa = edge + (k * n) // npr
    ob = edge + ((k + 1) * n) // npr
    ext_len = n + 2 * edge
    fa = np.where(k == 0, 0, np.maximum(oa - halo, 0))
    fb = np.where(k == npr - 1, ext_len, np.minimum(ob + halo, ext_len))
    # Similar lengths side by side waste fewer padded lane-rows.
    order = np.argsort(fa - fb, kind="stable")
    return (
        np.ascontiguousarray(rows[rid], np.int64),
        np.ascontiguousarray(starts[rid], np.int64),
        n,
        oa,
        ob,
        fa,
        fb,
        order.astype(np.int64),
    )


def _as_rows(x: np.ndarray, axis: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Move ``axis`` last and view ``x`` as C-contiguous ``(rows, n)``."""
    xm = np.moveaxis(x, axis, -1)
    shape = xm.shape
    x2 = np.ascontiguousarray(xm).reshape(-1, shape[-1])
    return x2, shape


def _kernel_dtype(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.float32 or x.dtype == np.float64:
        return x
    return x.astype(np.float64)


_SOS_CACHE: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}


def _padded_sos(sos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sos`` with identity sections appended to a multiple of four, and its ``zi``.

    An identity section (``b = a = [1, 0, 0]``, zero state) outputs ``1.0 * x + 0.0``,
    which is ``x`` exactly, so the padding does not change a bit of the result.
    """
    key = sos.tobytes()
    hit = _SOS_CACHE.get(key)
    if hit is None:
        extra = -sos.shape[0] % _QUAD
        ident = np.tile(np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]), (extra, 1))
        sosp = np.ascontiguousarray(np.vstack([sos, ident]), np.float64)
        zi = np.zeros((sosp.shape[0], 2))
        zi[: sos.shape[0]] = ss.sosfilt_zi(sos)
        hit = _SOS_CACHE[key] = (sosp, zi)
    return hit


def _run_filtfilt(sos, x2, out, rows, starts, lens, edge, padcode, big=np.inf):
    """Filter the given runs of ``x2`` into ``out``; returns rows with non-finite data."""
    halo = impulse_halo(sos, _HALO_RTOL)
    piece = max(_PIECE, 4 * halo)
    rowbad = np.zeros(x2.shape[0], np.bool_)
    if lens.size == 0:
        return rowbad, np.zeros((0, 3), np.int64)
    jobs = _make_jobs(rows, starts, lens, edge, halo, piece)
    jrow, jrs, jn, joa, job, jfa, jfb, order = jobs
    flen = jfb - jfa
    too_big = flen * _LANES * 8 > _MAX_BUFFER_BYTES
    slow_runs = np.zeros((0, 3), np.int64)
    if too_big.any():
        # Filters with enormous impulse responses: let SciPy do those runs.
        keep = ~too_big
        slow_runs = np.unique(np.flatnonzero(too_big))
        slow_runs = np.stack([jrow[slow_runs], jrs[slow_runs], jn[slow_runs]], axis=1)
        remap = np.cumsum(keep) - 1
        order = remap[order[keep[order]]]
        jrow, jrs, jn, joa, job, jfa, jfb = (a[keep] for a in (jrow, jrs, jn, joa, job, jfa, jfb))
    if order.size:
        sosp, zi = _padded_sos(sos)
        _filtfilt_pieces(
            sosp, zi, x2, out, jrow, jrs, jn, edge, padcode, joa, job, jfa, jfb, order,
            float(big), rowbad,
        )  # fmt: skip
    return rowbad, slow_runs


# ------------------------------------------------------------------------ public IIR


def sosfiltfilt(
    sos: Any,
    x: Any,
    axis: int = -1,
    padtype: str | None = "odd",
    padlen: int | None = None,
) -> np.ndarray:
    """Forward-backward IIR filter, a numerically equal drop-in for SciPy's.

    Parameters
    ----------
    sos : array_like
        ``(n_sections, 6)`` second-order sections (``sos[:, 3] == 1``).
    x : array_like
        Real data, any shape; float32 and float64 are filtered without conversion
        copies (the filter state is always float64).
    axis : int, optional
        Axis to filter along.
    padtype : {"odd", "even", "constant", None}, optional
        Edge extension, as in :func:`scipy.signal.sosfiltfilt`.
    padlen : int, optional
        Extension length; default :func:`default_padlen`.

    Returns
    -------
    numpy.ndarray
        float64 array shaped like ``x`` (SciPy also returns float64 for float32
        input because the sections are float64).

    Notes
    -----
    Long records are split into overlapping pieces (halo from :func:`impulse_halo`
    at 1e-15) that are filtered side by side; the result agrees with SciPy to about
    1e-13 relative.  A row containing NaN/inf is passed to SciPy, which makes the
    whole row non-finite.  Complex input is delegated to SciPy.

    Examples
    --------
    >>> import numpy as np, scipy.signal
    >>> sos = bandpass_sos(0.5, 10.0, 100.0)
    >>> x = np.random.default_rng(0).standard_normal(5000)
    >>> bool(np.allclose(sosfiltfilt(sos, x), scipy.signal.sosfiltfilt(sos, x)))
    True
    """
    sos = _validate_sos(sos)
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("x must be at least 1-D")
    if np.iscomplexobj(x) or np.iscomplexobj(sos) or x.dtype == object:
        return ss.sosfiltfilt(sos, x, axis=axis, padtype=padtype, padlen=padlen)
    sos = np.ascontiguousarray(sos, np.float64)
    if padtype not in _PAD_CODES:
        raise ValueError(
            f"Unknown value '{padtype}' given to padtype.  padtype "
            "must be 'even', 'odd', 'constant', or None."
        )
    if padtype is None:
        padlen = 0
    edge = default_padlen(sos) if padlen is None else int(padlen)
    n = x.shape[axis]
    if n <= edge:
        raise ValueError(
            f"The length of the input vector x must be greater than padlen, which is {edge}."
        )
    padcode = _PAD_CODES[padtype] if edge > 0 else 0
    if padcode == 0:
        edge = 0
    x2, shape = _as_rows(_kernel_dtype(x), axis)
    nrow = x2.shape[0]
    out = np.empty(x2.shape, np.float64)
    if x2.size:
        rows = np.arange(nrow, dtype=np.int64)
        starts = np.zeros(nrow, np.int64)
        lens = np.full(nrow, n, np.int64)
        rowbad, slow = _run_filtfilt(sos, x2, out, rows, starts, lens, edge, padcode)
        slow_rows = set(np.flatnonzero(rowbad).tolist()) | {int(r) for r in slow[:, 0]}
        for r in sorted(slow_rows):
            out[r] = ss.sosfiltfilt(sos, x2[r], padtype=padtype, padlen=padlen)
    return np.moveaxis(out.reshape(shape), -1, axis)


def sosfiltfilt_runs(
    sos: Any,
    x: Any,
    bad: Any | None = None,
    axis: int = -1,
    *,
    saturation: float | None = None,
    max_abs: float | None = None,
    dtype: Any = np.float64,
) -> np.ndarray:
    """Zero-phase filtering of a record with gaps, run by run.

    A sample is *bad* when it is not finite (NaN or ±inf), ``bad`` is True there,
    ``|x| >= saturation`` or ``|x| > max_abs``.  Every maximal run of good samples is
    filtered on its own, exactly as ``scipy.signal.sosfiltfilt(sos, run, padtype="odd")``
    filters that run alone:

    * both run ends get SciPy's odd extension of :func:`default_padlen` samples and
      SciPy's steady-state initial conditions, so a gap edge is treated like a record
      edge (no NaN can spread through the IIR recursion, and no sample of one run
      influences another run);
    * bad samples come out NaN;
    * runs with ``length <= default_padlen(sos)`` are too short for the odd extension
      and come out NaN as well.

    Parameters
    ----------
    sos : array_like
        ``(n_sections, 6)`` second-order sections.
    x : array_like
        Real data; all leading dimensions are batched.
    bad : array_like of bool, optional
        Broadcastable to ``x``; True marks additional bad samples (e.g. saturation).
    axis : int, optional
        Time axis.
    saturation : float, optional
        Samples with ``|x| >= saturation`` are bad; judged while the runs are found, so
        no mask array is needed.
    max_abs : float, optional
        Samples with ``|x| > max_abs`` are bad, and filtered samples with
        ``|y| > max_abs`` (a filter overshoot) come out NaN.
    dtype : {numpy.float64, numpy.float32}, optional
        Output dtype.  The filter always runs in float64; float32 output is that
        result rounded as it is written, equal to ``.astype(numpy.float32)`` of the
        float64 output without its full-size temporary.

    Returns
    -------
    numpy.ndarray
        Shaped like ``x``, of ``dtype``.

    Examples
    --------
    >>> import numpy as np
    >>> sos = bandpass_sos(0.5, 10.0, 100.0)
    >>> x = np.random.default_rng(0).standard_normal((2, 3000))
    >>> x[0, 1000:1100] = np.nan
    >>> y = sosfiltfilt_runs(sos, x)
    >>> bool(np.isnan(y[0, 1000:1100]).all()), bool(np.isfinite(y[1]).all())
    (True, True)
    """
    sos = np.ascontiguousarray(_validate_sos(sos), np.float64)
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("x must be at least 1-D")
    if np.iscomplexobj(x):
        raise TypeError("sosfiltfilt_runs supports real input only")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    # |x| > max_abs is |x| >= the next float64 above it (float32 samples widen exactly),
    # so one threshold judges both conditions
    thr = np.inf
    if saturation is not None:
        thr = float(saturation)
    big = np.inf
    if max_abs is not None:
        big = float(max_abs)
        thr = min(thr, float(np.nextafter(big, np.inf)))
    edge = default_padlen(sos)
    x2, shape = _as_rows(_kernel_dtype(x), axis)
    if bad is None:
        b2 = np.zeros((1, 1), np.bool_)
        use_bad = False
    else:
        bb = np.broadcast_to(np.asarray(bad, dtype=bool), x.shape)
        b2, _ = _as_rows(bb, axis)
        use_bad = True
    out = np.empty(x2.shape, dtype)
    if x2.size:
        rows, starts, lens = _scan_runs(x2, b2.view(np.uint8), use_bad, thr, edge, out)
        _, slow = _run_filtfilt(sos, x2, out, rows, starts, lens, edge, 1, big)
        for r, s, n in slow:
            y = ss.sosfiltfilt(sos, x2[r, s : s + n])
            out[r, s : s + n] = np.where(np.abs(y) > big, np.nan, y)
    return np.moveaxis(out.reshape(shape), -1, axis)


# ------------------------------------------------------------------ rational resampling

#: Window of the anti-aliasing FIR, :func:`scipy.signal.resample_poly`'s default.
RESAMPLE_WINDOW: tuple[str, float] = ("kaiser", 5.0)
# Largest up or down factor :func:`rational_ratio` accepts (the FIR has 20 * max + 1 taps).
_MAX_FACTOR = 1000

# Outputs of one phase summed side by side in resample_poly (a 116 x 64 float64 staging
# buffer for 256 -> 100 Hz stays in L2).
_RS_LANES = 64

_FIR_CACHE: dict[tuple[int, int, Any], np.ndarray] = {}


def rational_ratio(
    source_rate: float,
    target_rate: float,
    max_factor: int = _MAX_FACTOR,
    rtol: float = 1e-9,
) -> tuple[int, int]:
    """Up and down factors that take ``source_rate`` to ``target_rate`` exactly.

    Parameters
    ----------
    source_rate, target_rate : float
        Sampling rates (any unit, both the same).
    max_factor : int, optional
        Largest ``up`` or ``down`` accepted.
    rtol : float, optional
        ``up / down`` must equal ``target_rate / source_rate`` to this relative tolerance.

    Returns
    -------
    (int, int)
        ``up, down`` in lowest terms, from
        ``fractions.Fraction(target / source).limit_denominator(max_factor)``.

    Raises
    ------
    ValueError
        A rate is not finite and positive, or the ratio is not a fraction of integers up to
        ``max_factor`` (an "irrational-looking" ratio such as 100 / 256.016).

    Examples
    --------
    >>> rational_ratio(256.0, 100.0)
    (25, 64)
    """
    for name, rate in (("source_rate", source_rate), ("target_rate", target_rate)):
        if not (isinstance(rate, int | float | np.number) and np.isfinite(rate) and rate > 0):
            raise ValueError(f"{name} must be a finite positive number, got {rate!r}")
    ratio = Fraction(float(target_rate)) / Fraction(float(source_rate))
    frac = ratio.limit_denominator(max_factor)
    up, down = frac.numerator, frac.denominator
    err = abs(float(frac - ratio)) / float(ratio)
    if err > rtol or up > max_factor:
        raise ValueError(
            f"cannot resample {source_rate} Hz to {target_rate} Hz: the ratio "
            f"{float(ratio):.12g} is not a fraction up/down with up, down <= {max_factor} "
            f"(nearest {up}/{down}, off by {err:.2g}); give the record its nominal rate"
        )
    return up, down


def resample_fir(up: int, down: int, window: Any = RESAMPLE_WINDOW) -> np.ndarray:
    """Anti-aliasing FIR of :func:`scipy.signal.resample_poly` for ``up / down``.

    Parameters
    ----------
    up, down : int
        Factors in lowest terms.
    window : str or tuple, optional
        Window of :func:`scipy.signal.firwin` (default Kaiser, beta 5).

    Returns
    -------
    numpy.ndarray
        ``2 * half + 1`` float64 taps, ``half = 10 * max(up, down)``, cut-off at the lower
        of the two Nyquist frequencies, gain ``up``: exactly SciPy's design.

    Examples
    --------
    >>> resample_fir(25, 64).size
    1281
    """
    key = (int(up), int(down), window)
    h = _FIR_CACHE.get(key)
    if h is None:
        max_rate = max(up, down)
        half = 10 * max_rate
        h = ss.firwin(2 * half + 1, 1.0 / max_rate, window=window) * up
        h = np.ascontiguousarray(h, np.float64)
        h.flags.writeable = False
        _FIR_CACHE[key] = h
    return h


def resample_halo(up: int, down: int) -> int:
    """Input samples on each side that the output of an input chunk depends on.

    The output samples that fall inside input samples ``[a, b)`` (those at positions
    ``m * down / up`` in ``[a, b)``) need input ``[a - halo, b + halo)``.

    Examples
    --------
    >>> resample_halo(25, 64)
    26
    """
    return -(-10 * max(up, down) // up)


def resample_length(n: int, up: int, down: int) -> int:
    """Output samples of an ``n``-sample record: ``ceil(n * up / down)`` (as SciPy).

    Examples
    --------
    >>> resample_length(256 * 86400, 25, 64)
    8640000
    """
    return -(-int(n) * up // down)


def _polyphase_table(h: np.ndarray, up: int, down: int):
    """Per output phase ``p = m % up``: taps (input time ascending), count, first input.

    Output ``m`` is ``sum_k x[k] h[m * down - k * up + half]`` (SciPy's ``upfirdn``
    alignment); for phase ``p`` its inputs start at ``klo[p] + down * (m // up)``.
    """
    half = (h.size - 1) // 2
    p = np.arange(up, dtype=np.int64)
    klo = -((half - p * down) // up)  # ceil((p * down - half) / up)
    e = p * down + half - klo * up  # index into h of the first tap
    ntap = e // up + 1
    hp = np.zeros((up, int(ntap.max())), np.float64)
    for q in range(up):
        hp[q, : ntap[q]] = h[e[q] - up * np.arange(ntap[q])]
    return hp, ntap, klo


@numba.njit(cache=True, nogil=True, fastmath=False)
def _polyphase_rows(x, hp, ntap, klo, up, down, x_off, m0, lanes, out):
    """Outputs ``m0 .. m0 + out.shape[1] - 1`` of every row of ``x`` into ``out``.

    ``x[:, i]`` is input sample ``x_off + i``.  An output whose taps reach outside ``x`` is
    NaN; NaN inputs make the outputs whose taps hold them NaN (plain arithmetic).  Output
    ``m = up * j + p`` (phase ``p``) sums ``hp[p, t] * x[klo[p] + down * j + t]``.  The
    fast path takes ``lanes`` consecutive ``j`` side by side: their inputs are copied once
    per group into ``buf[i, lane]`` (lane ``l`` starting at ``kmin + down * (j + l)``) so
    that every phase reads whole rows of it and the lane loop vectorises (``lanes`` is a
    run-time value so LLVM vectorises the loop rather than unrolling it).  Both paths sum
    each output in the same order (input time ascending, float64), so any split of a
    record is bit-identical.
    """
    nrow, nx = x.shape
    nm = out.shape[1]
    if nm == 0:
        return
    kmin = klo.min()
    rows = 0
    for p in range(up):
        rows = max(rows, klo[p] - kmin + ntap[p])
    buf = np.empty((rows, lanes))
    acc = np.zeros(lanes)
    j_first = m0 // up
    j_end = (m0 + nm - 1) // up + 1
    for r in range(nrow):
        xr = x[r]
        orow = out[r]
        for jb in range(j_first, j_end, lanes):
            b0 = kmin + down * jb - x_off
            inside = b0 >= 0 and b0 + down * (lanes - 1) + rows <= nx
            if inside:
                for lane in range(lanes):
                    src = xr[b0 + down * lane : b0 + down * lane + rows]
                    for i in range(rows):
                        buf[i, lane] = src[i]
            for p in range(up):
                nt = ntap[p]
                hrow = hp[p]
                mlo = up * jb + p
                if inside and mlo >= m0 and mlo + up * (lanes - 1) < m0 + nm:
                    d = klo[p] - kmin
                    for lane in range(lanes):
                        acc[lane] = 0.0
                    # four taps per sweep (same order of additions as one at a time)
                    t = 0
                    while t + 4 <= nt:
                        c0, c1, c2, c3 = hrow[t], hrow[t + 1], hrow[t + 2], hrow[t + 3]
                        r0, r1, r2, r3 = buf[d + t], buf[d + t + 1], buf[d + t + 2], buf[d + t + 3]
                        for lane in range(lanes):
                            a = acc[lane]
                            a += c0 * r0[lane]
                            a += c1 * r1[lane]
                            a += c2 * r2[lane]
                            a += c3 * r3[lane]
                            acc[lane] = a
                        t += 4
                    while t < nt:
                        c0 = hrow[t]
                        r0 = buf[d + t]
                        for lane in range(lanes):
                            acc[lane] += c0 * r0[lane]
                        t += 1
                    for lane in range(lanes):
                        orow[mlo + up * lane - m0] = acc[lane]
                    continue
                b = klo[p] + down * jb - x_off
                for lane in range(lanes):
                    m = mlo + up * lane
                    if m < m0 or m >= m0 + nm:
                        continue
                    bl = b + down * lane
                    v = np.nan
                    if bl >= 0 and bl + nt <= nx:
                        v = 0.0
                        for t in range(nt):
                            v += hrow[t] * xr[bl + t]
                    orow[m - m0] = v


def resample_poly(
    x: Any,
    up: int,
    down: int,
    axis: int = -1,
    window: Any = RESAMPLE_WINDOW,
    *,
    bad: Any | None = None,
    offset: int = 0,
    start: int | None = None,
    stop: int | None = None,
) -> np.ndarray:
    """Band-limited rational resampling by ``up / down``, gap-safe and chunk-exact.

    The FIR is :func:`scipy.signal.resample_poly`'s (Kaiser window, beta 5, half-length
    ``10 * max(up, down)`` taps of the upsampled rate) and output ``m`` sits at input
    position ``m * down / up``, as in SciPy; away from the record ends and gaps the result
    equals SciPy's to float64 round-off.  Unlike SciPy nothing is padded: an output whose
    FIR support (``|m * down - k * up| <= half``) holds a bad input sample or reaches past
    the end of ``x`` is NaN.  A gap therefore grows by at most ``half / up`` input samples
    on each side (:func:`resample_halo`), and the cube's gap handling leaves out the Welch
    segments that hold those NaN.

    Parameters
    ----------
    x : array_like
        Real float data; NaN and ±inf are bad samples.
    up, down : int
        Resampling factors (reduced to lowest terms); see :func:`rational_ratio`.
    axis : int, optional
        Time axis.
    window : str or tuple, optional
        FIR window (see :func:`resample_fir`).
    bad : array_like of bool, optional
        Broadcastable to ``x``; True marks more bad samples (e.g. saturated).
    offset : int, optional
        Index of ``x``'s first sample in a longer record: ``x`` is a chunk (with halos) of
        that record, and ``start``/``stop`` index the record's output.
    start, stop : int, optional
        Output samples to compute, default all those at positions inside ``x``
        (``resample_length(offset + n)`` minus ``resample_length(offset)``). The outputs
        of a chunk ``[a, b)`` of the record are ``resample_length(a)`` to
        ``resample_length(b)``; given a halo of :func:`resample_halo` input samples they
        are bit-identical to those of the whole record.

    Returns
    -------
    numpy.ndarray
        Shaped like ``x`` with ``stop - start`` samples along ``axis``; float64 (float32
        for float32 input, summed in float64).

    Examples
    --------
    >>> import numpy as np, scipy.signal
    >>> x = np.random.default_rng(0).standard_normal(2560)
    >>> y = resample_poly(x, 25, 64)
    >>> ref = scipy.signal.resample_poly(x, 25, 64)
    >>> bool(np.allclose(y[20:-20], ref[20:-20])), bool(np.isnan(y[:5]).all())
    (True, True)
    """
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("x must be at least 1-D")
    if np.iscomplexobj(x) or not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"resample_poly supports real input only, got {x.dtype}")
    up, down = int(up), int(down)
    if up < 1 or down < 1:
        raise ValueError(f"up and down must be >= 1, got up={up}, down={down}")
    g = math.gcd(up, down)
    up, down = up // g, down // g
    x2, shape = _as_rows(_kernel_dtype(x), axis)
    n = x2.shape[1]
    start = resample_length(offset, up, down) if start is None else int(start)
    stop = resample_length(offset + n, up, down) if stop is None else int(stop)
    if not 0 <= start <= stop:
        raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
    bb = None
    if bad is not None:
        bb, _ = _as_rows(np.broadcast_to(np.asarray(bad, bool), x.shape), axis)
    if x2.size and not _all_good(x2.reshape(-1), np.inf):
        bb = ~np.isfinite(x2) if bb is None else bb | ~np.isfinite(x2)
    if bb is not None and bb.any():
        x2 = np.where(bb, np.nan, x2)
    out = np.empty((x2.shape[0], stop - start), x2.dtype)
    if up == down == 1:
        m = np.arange(start, stop) - offset
        ok = (m >= 0) & (m < n)
        out[:, ok] = x2[:, m[ok]]
        out[:, ~ok] = np.nan
    else:
        hp, ntap, klo = _polyphase_table(resample_fir(up, down, window), up, down)
        _polyphase_rows(x2, hp, ntap, klo, up, down, int(offset), start, _RS_LANES, out)
    return np.moveaxis(out.reshape((*shape[:-1], stop - start)), -1, axis)


# ---------------------------------------------------------------------- Welch kernels


# Reassociation is allowed here (not in the IIR): it lets the segment means vectorise
# and only moves results by round-off.
@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _build_segments(x, r0, r1, win, nseg, step, nfft, dcode, buf, keep, mask_nf):
    """Detrend, window and zero-pad every segment of rows ``r0:r1`` into ``buf``.

    With ``mask_nf`` a segment holding a non-finite sample is zero-filled and left out
    (``keep[r, k] = False``), found in the pass that sums it for the detrend.
    """
    nper = win.size
    for r in range(r0, r1):
        for k in range(nseg):
            # 1-D views keep the index arithmetic simple enough for LLVM to vectorise.
            seg = x[r, k * step : k * step + nper]
            dst = buf[(r - r0) * nseg + k]
            acc = 0.0
            poison = 0.0  # NaN when a sample is not finite; a sum could overflow instead
            if dcode != 0 or mask_nf:
                for i in range(nper):
                    acc += seg[i]
                    poison += seg[i] * 0.0
            if mask_nf and poison != 0.0:
                keep[r, k] = False
                for i in range(nfft):
                    dst[i] = 0.0
                continue
            if dcode == 1:
                mean = acc / nper
                for i in range(nper):
                    dst[i] = (seg[i] - mean) * win[i]
            elif dcode == 2:
                # Least-squares line with a centred abscissa (same fit as scipy's
                # lstsq on [t, 1], better conditioned).
                mean = acc / nper
                tc = 0.5 * (nper - 1)
                num = 0.0
                den = 0.0
                for i in range(nper):
                    t = i - tc
                    num += t * (seg[i] - mean)
                    den += t * t
                slope = num / den if den > 0 else 0.0
                for i in range(nper):
                    dst[i] = (seg[i] - mean - slope * (i - tc)) * win[i]
            else:
                for i in range(nper):
                    dst[i] = seg[i] * win[i]
            for i in range(nper, nfft):
                dst[i] = 0.0


@numba.njit(cache=True, nogil=True)
def _segment_keep(mask, nseg, step, nper, keep):
    """``keep[r, k]`` is False when segment ``k`` of row ``r`` holds a masked sample."""
    nrow, n = mask.shape
    cs = np.empty(n + 1, np.int64)
    for r in range(nrow):
        cs[0] = 0
        for i in range(n):
            cs[i + 1] = cs[i] + (1 if mask[r, i] else 0)
        for k in range(nseg):
            s = k * step
            keep[r, k] = cs[s + nper] == cs[s]


@numba.njit(cache=True, nogil=True)
def _average_psd(spec, r0, r1, nseg, keep, scale, dlo, dhi, median, b0, out, nused):
    """Scale ``|X|^2`` and average the kept segments of rows ``r0:r1`` into ``out``.

    ``spec`` holds the FFTs of the segments of those rows; ``out[:, j]`` is bin ``b0 + j``.
    Bins ``dlo:dhi`` are doubled (one-sided spectrum).  Median uses SciPy's bias for the
    kept count.
    """
    nb = out.shape[1]
    tmp = np.empty(nseg)
    for r in range(r0, r1):
        cnt = 0
        for k in range(nseg):
            if keep[r, k]:
                cnt += 1
        nused[r] = cnt
        if cnt == 0:
            for j in range(nb):
                out[r, j] = np.nan
            continue
        base = (r - r0) * nseg
        if not median:
            for j in range(nb):
                out[r, j] = 0.0
            for k in range(nseg):
                if keep[r, k]:
                    row = spec[base + k, b0 : b0 + nb]
                    acc = out[r]
                    for j in range(nb):
                        v = row[j]
                        acc[j] += v.real * v.real + v.imag * v.imag
            for j in range(nb):
                f = b0 + j
                g = 2.0 * scale if dlo <= f < dhi else scale
                out[r, j] *= g / cnt
        else:
            bias = 1.0
            for i in range(1, (cnt - 1) // 2 + 1):
                bias += 1.0 / (2 * i + 1) - 1.0 / (2 * i)
            for j in range(nb):
                f = b0 + j
                m = 0
                for k in range(nseg):
                    if keep[r, k]:
                        v = spec[base + k, f]
                        p = (v.real * v.real + v.imag * v.imag) * scale
                        if dlo <= f < dhi:
                            p *= 2.0
                        tmp[m] = p
                        m += 1
                t = np.sort(tmp[:cnt])
                if cnt % 2:
                    med = t[cnt // 2]
                else:
                    med = 0.5 * (t[cnt // 2 - 1] + t[cnt // 2])
                out[r, j] = med / bias


# ------------------------------------------------------------------------ public Welch


def _bin_range(bins: slice | None, nbins: int) -> tuple[int, int]:
    """``[b0, b1)`` of ``bins`` among ``nbins`` frequency bins (all when None)."""
    if bins is None:
        return 0, nbins
    if not isinstance(bins, slice):
        raise TypeError(f"bins must be a slice of frequency bins, got {type(bins).__name__}")
    b0, b1, step = bins.indices(nbins)
    if step != 1 or b1 <= b0:
        raise ValueError(
            f"bins must be a non-empty slice with step 1 of the {nbins} frequency bins, got {bins}"
        )
    return b0, b1


def _welch_params(x, window, nperseg, noverlap, nfft, scaling, average, detrend, n):
    """Resolve window and segment parameters with SciPy's rules and messages."""
    if isinstance(window, str | tuple):
        nperseg = int(nperseg) if nperseg is not None else 256
        if nperseg < 1:
            raise ValueError(f"Parameter {nperseg=} is not a positive integer!")
        if n < nperseg:
            warnings.warn(
                f"{nperseg=} is greater than signal length max(len(x), len(y)) = {n}, "
                f"using nperseg = {n}",
                stacklevel=4,
            )
            nperseg = n
        win = ss.get_window(window, nperseg)
    else:
        win = np.asarray(window)
        if nperseg is None:
            nperseg = len(win)
    if nperseg != len(win):
        raise ValueError(f"{nperseg=} does not equal {len(win)=}")
    nfft = int(nfft) if nfft is not None else nperseg
    if nfft < nperseg:
        raise ValueError(f"{nfft=} must be greater than or equal to {nperseg=}!")
    noverlap = int(noverlap) if noverlap is not None else nperseg // 2
    if noverlap >= nperseg:
        raise ValueError(f"{noverlap=} must be less than {nperseg=}!")
    scales = {"spectrum": "magnitude", "density": "psd"}
    if scaling not in scales:
        raise ValueError(f"Parameter {scaling=} not in {scales}!")
    if average not in ("mean", "median"):
        raise ValueError(f"Parameter {average=} must be 'median' or 'mean'!")
    if not (detrend is False or callable(detrend) or detrend in ("constant", "linear")):
        raise ValueError("Trend type must be 'linear' or 'constant'.")
    return win, nperseg, nfft, noverlap


def welch_masked(
    x: Any,
    mask: Any | None,
    fs: float = 1.0,
    window: str | tuple | Any = "hann",
    nperseg: int | None = None,
    noverlap: int | None = None,
    nfft: int | None = None,
    detrend: str | Callable | bool = "constant",
    return_onesided: bool = True,
    scaling: str = "density",
    axis: int = -1,
    average: str = "mean",
    *,
    fft_dtype: Any = np.float64,
    mask_nonfinite: bool = False,
    bins: slice | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch PSD that leaves out segments touching masked samples.

    Parameters are those of :func:`scipy.signal.welch` plus ``mask``.

    Parameters
    ----------
    x : array_like
        Real data (complex input is delegated to SciPy when ``mask`` is None).
    mask : array_like of bool or None
        Broadcastable to ``x``; True marks a bad sample.  A segment containing a bad
        sample is left out of the average; when no segment is left the PSD is NaN.
    fs, window, nperseg, noverlap, nfft, detrend, return_onesided, scaling, axis, average
        As in :func:`scipy.signal.welch`; ``nperseg=None`` means 256 for a named
        window and ``len(window)`` for an array window.  ``average="median"`` takes
        the median of the kept segments divided by SciPy's median bias for their
        number.
    fft_dtype : {numpy.float64, numpy.float32}
        Precision of the segments and their FFT. ``float32`` is about twice as fast
        and good to ~1e-6 relative, enough for a cube stored as float32; the default
        matches SciPy to ~1e-12.
    mask_nonfinite : bool, optional
        Also leave out segments that hold a NaN or ±inf sample, as if ``mask`` were
        True there.  Found while the segments are built, so data with NaN-marked gaps
        need no mask array and no zero-filled copy.
    bins : slice, optional
        Only these frequency bins (indices into ``f`` of the full result, step 1):
        ``f`` and ``Pxx`` hold just them, and a one-sided spectrum is averaged for them
        alone, which saves most of the averaging when a narrow band is kept.

    Returns
    -------
    f : numpy.ndarray
        Sample frequencies.
    Pxx : numpy.ndarray
        PSD (or power spectrum), frequency axis in place of ``axis``; dtype as SciPy.
    n_used : numpy.ndarray
        int64, ``Pxx`` shape without the frequency axis: segments averaged.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((2, 4096))
    >>> m = np.zeros(x.shape, bool)
    >>> m[0, 100] = True
    >>> f, P, n_used = welch_masked(x, m, fs=100.0, nperseg=1024)
    >>> P.shape, n_used.tolist()
    ((2, 513), [6, 7])
    """
    x = np.asarray(x)
    if x.size == 0:
        return np.empty(x.shape), np.empty(x.shape), np.zeros(0, np.int64)
    axis = int(axis)
    if axis < -x.ndim or axis >= x.ndim:
        raise np.exceptions.AxisError(axis, x.ndim)
    axis %= x.ndim
    n = x.shape[axis]
    win, nperseg, nfft, noverlap = _welch_params(
        x, window, nperseg, noverlap, nfft, scaling, average, detrend, n
    )
    step = nperseg - noverlap
    nseg = (n - noverlap) // step
    out_dtype = np.result_type(x, np.complex64)
    real_dtype = np.empty(0, out_dtype).real.dtype
    outer = x.shape[:axis] + x.shape[axis + 1 :]
    if mask_nonfinite and not np.issubdtype(x.dtype, np.floating):
        mask_nonfinite = False  # nothing to find in integer samples
    slow = (
        np.iscomplexobj(x)
        or callable(detrend)
        or nseg < 1
        or np.iscomplexobj(win)
        or x.dtype == object
    )
    if slow and mask_nonfinite:
        nonfinite = ~np.isfinite(x)
        if nonfinite.any():
            mask = nonfinite if mask is None else np.broadcast_to(mask, x.shape) | nonfinite
            x = np.where(nonfinite, 0, x)
    if slow and mask is None:
        f, pxx = ss.welch(
            x,
            fs=fs,
            window=window,
            nperseg=nperseg,
            noverlap=noverlap,
            nfft=nfft,
            detrend=detrend,
            return_onesided=return_onesided,
            scaling=scaling,
            axis=axis,
            average=average,
        )
        # SciPy returns two-sided spectra of complex data whatever return_onesided says
        b0, b1 = _bin_range(bins, f.size)
        pxx = np.take(pxx, np.arange(b0, b1), axis=axis)
        return f[b0:b1], pxx, np.full(outer, max(nseg, 0), np.int64)
    if slow:
        if np.iscomplexobj(x) or np.iscomplexobj(win) or nseg < 1:
            raise ValueError("mask is only supported for real data with at least one segment")
        f, pxx, n_used = _welch_masked_numpy(
            x, mask, fs, win, nperseg, noverlap, nfft, detrend, return_onesided,
            scaling, axis, average, real_dtype,
        )  # fmt: skip
        b0, b1 = _bin_range(bins, f.size)
        return f[b0:b1], np.take(pxx, np.arange(b0, b1), axis=axis), n_used

    x2, _shape = _as_rows(_kernel_dtype(x), axis)
    nrow = x2.shape[0]
    keep = np.ones((nrow, nseg), np.bool_)
    if mask is not None:
        mm = np.broadcast_to(np.asarray(mask, dtype=bool), x.shape)
        m2, _ = _as_rows(mm, axis)
        _segment_keep(m2, nseg, step, nperseg, keep)
    win64 = np.ascontiguousarray(win, np.float64)
    if scaling == "density":
        scale = 1.0 / (fs * (win64 * win64).sum())
    else:
        scale = 1.0 / win64.sum() ** 2
    nf = nfft // 2 + 1
    if return_onesided:
        dlo, dhi = 1, (nf - 1 if nfft % 2 == 0 else nf)
    else:
        dlo, dhi = 0, 0
    dcode = 0 if detrend is False else (1 if detrend == "constant" else 2)
    b0, b1 = _bin_range(bins, nf if return_onesided else nfft)
    # a two-sided spectrum mirrors the one-sided bins, so it is averaged in full
    a0, a1 = (b0, b1) if return_onesided else (0, nf)
    pxx = np.empty((nrow, a1 - a0), np.float64)
    nused = np.empty(nrow, np.int64)
    rows_per_chunk = max(1, _FFT_CHUNK // (nseg * nfft))
    rows_per_chunk = min(rows_per_chunk, nrow)
    single = np.dtype(fft_dtype) == np.float32
    if not single and np.dtype(fft_dtype) != np.float64:
        raise ValueError(f"fft_dtype must be float32 or float64, got {fft_dtype!r}")
    buf = np.empty((rows_per_chunk * nseg, nfft), np.float32 if single else np.float64)
    if not single:
        spec = np.empty((rows_per_chunk * nseg, nf), np.complex128)
    median = average == "median"
    for r0 in range(0, nrow, rows_per_chunk):
        r1 = min(nrow, r0 + rows_per_chunk)
        m = (r1 - r0) * nseg
        _build_segments(x2, r0, r1, win64, nseg, step, nfft, dcode, buf, keep, mask_nonfinite)
        if single:
            # numpy's FFT always computes in double; scipy's keeps single precision
            spec = scipy.fft.rfft(buf[:m], axis=-1, workers=1)
        else:
            np.fft.rfft(buf[:m], axis=-1, out=spec[:m])
        _average_psd(spec, r0, r1, nseg, keep, scale, dlo, dhi, median, a0, pxx, nused)
    if return_onesided:
        f = np.fft.rfftfreq(nfft, 1.0 / fs)[b0:b1]
    else:
        f = np.fft.fftfreq(nfft, 1.0 / fs)[b0:b1]
        full = np.empty((nrow, nfft), np.float64)
        full[:, :nf] = pxx
        full[:, nf:] = pxx[:, 1 : nfft - nf + 1][:, ::-1]
        pxx = full[:, b0:b1]
    pxx = pxx.reshape((*outer, pxx.shape[-1])).astype(real_dtype, copy=False)
    return f, np.moveaxis(pxx, -1, axis), nused.reshape(outer)


def _welch_masked_numpy(
    x, mask, fs, win, nperseg, noverlap, nfft, detrend, return_onesided, scaling, axis,
    average, real_dtype,
):  # fmt: skip
    """Slow NumPy path (callable detrend); same segment periodograms as SciPy."""
    xm = np.moveaxis(x, axis, -1).astype(np.float64)
    mm = np.moveaxis(np.broadcast_to(np.asarray(mask, bool), x.shape), axis, -1)
    n = xm.shape[-1]
    step = nperseg - noverlap
    nseg = (n - noverlap) // step
    win = np.asarray(win, np.float64)
    periodograms = []
    keep = []
    for k in range(nseg):
        seg = xm[..., k * step : k * step + nperseg]
        if callable(detrend):
            seg = detrend(seg)
        elif detrend:
            seg = ss.detrend(seg, type=detrend, axis=-1)
        spec = np.fft.fft(seg * win, n=nfft, axis=-1)
        if return_onesided:
            spec = spec[..., : nfft // 2 + 1]
        periodograms.append(spec.real**2 + spec.imag**2)
        keep.append(~mm[..., k * step : k * step + nperseg].any(axis=-1))
    p = np.stack(periodograms, axis=-1)
    kp = np.stack(keep, axis=-1)[..., None, :]
    if scaling == "density":
        p *= 1.0 / (fs * (win * win).sum())
    else:
        p *= 1.0 / win.sum() ** 2
    if return_onesided:
        p[..., 1 : -1 if nfft % 2 == 0 else None, :] *= 2
    nused = kp[..., 0, :].sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if average == "mean":
            pxx = np.where(kp, p, 0.0).sum(axis=-1) / nused[..., None]
        else:
            pxx = np.nanmedian(np.where(kp, p, np.nan), axis=-1)
            bias = np.array([_median_bias(int(c)) for c in nused.ravel()]).reshape(nused.shape)
            pxx = pxx / bias[..., None]
    pxx[nused == 0] = np.nan
    f = np.fft.rfftfreq(nfft, 1.0 / fs) if return_onesided else np.fft.fftfreq(nfft, 1.0 / fs)
    return f, np.moveaxis(pxx.astype(real_dtype), -1, axis), nused.astype(np.int64)


def _median_bias(n: int) -> float:
    ii_2 = 2 * np.arange(1.0, (n - 1) // 2 + 1)
    return float(1 + np.sum(1.0 / (ii_2 + 1) - 1.0 / ii_2))


def welch(
    x: Any,
    fs: float = 1.0,
    window: str | tuple | Any = "hann",
    nperseg: int | None = None,
    noverlap: int | None = None,
    nfft: int | None = None,
    detrend: str | Callable | bool = "constant",
    return_onesided: bool = True,
    scaling: str = "density",
    axis: int = -1,
    average: str = "mean",
    mask: Any | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density, a numerically equal drop-in for SciPy's.

    Thin wrapper over :func:`welch_masked` that drops ``n_used``.  With
    ``mask=None`` the result equals :func:`scipy.signal.welch`; with a mask, segments
    holding a True sample are left out of the average (NaN when none is left).

    Parameters
    ----------
    x, fs, window, nperseg, noverlap, nfft, detrend, return_onesided, scaling, axis, average
        As in :func:`scipy.signal.welch` (``nperseg=None`` means 256 for a named window).
    mask : array_like of bool, optional
        True marks bad samples.

    Returns
    -------
    f : numpy.ndarray
        Sample frequencies.
    Pxx : numpy.ndarray
        Power spectral density or power spectrum.

    Examples
    --------
    >>> import numpy as np, scipy.signal
    >>> x = np.random.default_rng(0).standard_normal(10000)
    >>> f, p = welch(x, fs=100.0, nperseg=1024)
    >>> bool(np.allclose(p, scipy.signal.welch(x, fs=100.0, nperseg=1024)[1]))
    True
    """
    f, pxx, _ = welch_masked(
        x,
        mask,
        fs=fs,
        window=window,
        nperseg=nperseg,
        noverlap=noverlap,
        nfft=nfft,
        detrend=detrend,
        return_onesided=return_onesided,
        scaling=scaling,
        axis=axis,
        average=average,
    )
    return f, pxx

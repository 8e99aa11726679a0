"""Spectrogram cube parameters.

``CubeConfig.preset("iar")`` holds the parameters of the IAR paper (Eskdalemuir search
coils): 100 Hz, Butterworth band-pass 0.5–10 Hz of order 4, 100 s blocks (864 a day), Welch
periodograms with a 4096-point Hann window. The paper does not state the Welch overlap;
the preset uses 50 % (2048 samples), the `scipy.signal.welch` default a Python user of the
paper would reach for, which fits three segments in a 10,000-sample block. The frequency
axis is cropped to 0–10 Hz, the pass band of the filter: it holds the IAR fringes
(0.5–6 Hz) and the first Schumann resonance (~7.8 Hz) that the paper's images show.

A record at another rate (a 256 Hz station, say) gets the preset's grid with
``CubeConfig.preset("iar", resample=True)``: it is resampled to 100 Hz (band-limited,
rational polyphase, :func:`xspecseg.dsp.resample_poly`) before the band-pass.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.signal as ss

from .calibration import (
    PoleZeroResponse,
    TabulatedResponse,
    calibration_from_config,
    callable_name,
    resolve_callable,  # noqa: F401  (xspecseg.config.resolve_callable, as before)
)

Detrend = Literal["constant", "linear", False]

_PRESETS: dict[str, dict[str, Any]] = {
    "iar": dict(
        sampling_rate=100.0,
        block_seconds=100.0,
        nperseg=4096,
        noverlap=2048,
        nfft=4096,
        window="hann",
        detrend="constant",
        band=(0.5, 10.0),
        order=4,
        fmin=0.0,
        fmax=10.0,
    ),
}


@dataclasses.dataclass(frozen=True)
class CubeConfig:
    """How a waveform becomes a spectrogram cube.

    Parameters
    ----------
    sampling_rate : float
        Sampling rate of the cube's computation (Hz). A waveform at another rate is refused,
        unless ``resample`` is set.
    block_seconds : float
        Length of one periodogram block; blocks start on a UTC grid from midnight, so
        ``86400 / block_seconds`` must be a whole number.
    nperseg, noverlap, nfft, window, detrend :
        Welch parameters, as in :func:`scipy.signal.welch` (whole numbers of samples;
        ``noverlap < nperseg <= nfft``).
    band : (float, float) or None
        Butterworth band-pass corners in Hz (zero-phase, ``sosfiltfilt``),
        ``0 < low < high < sampling_rate / 2``; None skips it.
    order : int
        Butterworth order of the band-pass.
    fmin, fmax : float
        Frequency crop of the stored cube: the bins ``f`` with ``fmin <= f <= fmax``
        (to 1e-6 of a bin). Neither needs to fall on a bin: ``fmin`` snaps up to the next
        bin and ``fmax`` down to the previous one (:meth:`frequencies` gives the result);
        at least one bin must lie between them, and ``fmax <= sampling_rate / 2``.
    saturation : float or None
        Samples with ``|x| >= saturation`` are masked like gaps (in the recorded samples,
        before any resampling).
    calibration : callable, mapping or None
        ``calibration(f)`` gives the sensor's ``|S(f)|``, multiplying the amplitude spectrum
        (the PSD is multiplied by ``|S(f)|**2``); a ``units`` attribute on the callable
        names the calibrated unit. In a TOML file it takes one of two forms:

        * data, which runs nothing: a table ``frequency``/``magnitude``/``units``, a
          two-column ``file`` with ``units``, or ``poles``/``zeros``/``gain``/``units``
          (:class:`xspecseg.calibration.TabulatedResponse`,
          :class:`xspecseg.calibration.PoleZeroResponse`; a mapping given here is read
          the same way);
        * a string ``"module:function"``, e.g.
          ``"xspecseg.io:sierra_nevada_calibration"``: loading the file imports that
          module, running its top-level code, and the cube calls the function. A TOML
          config in this form is code: load only files you trust.

        The cube's attrs record the data forms as their JSON table, a function by its
        ``"module:qualname"``.
    resample : bool
        Accept a waveform at any other sampling rate and resample it to ``sampling_rate``
        before the band-pass: rational polyphase resampling by ``up / down`` (from
        :func:`xspecseg.dsp.rational_ratio`; rates whose ratio is not a fraction of
        integers up to 1000 are refused) with SciPy's Kaiser-windowed anti-aliasing FIR
        (:func:`xspecseg.dsp.resample_poly`). Chunk-exact; output samples whose FIR
        support holds a gap or saturated sample are NaN, so gaps grow by the FIR
        half-length (``10 * max(up, down) / up`` input samples, 0.1 s for 256 -> 100 Hz)
        and the Welch segments holding them are left out. False (default): a waveform at
        another rate is an error.

    Examples
    --------
    >>> cfg = CubeConfig.preset("iar")
    >>> cfg.blocks_per_day, cfg.block_samples
    (864, 10000)
    >>> CubeConfig.preset("iar", resample=True).resample  # e.g. for a 256 Hz station
    True
    """

    sampling_rate: float = 100.0
    block_seconds: float = 100.0
    nperseg: int = 4096
    noverlap: int | None = None
    nfft: int | None = None
    window: str = "hann"
    detrend: Detrend = "constant"
    band: tuple[float, float] | None = (0.5, 10.0)
    order: int = 4
    fmin: float = 0.0
    fmax: float | None = None
    saturation: float | None = None
    calibration: Callable[[np.ndarray], np.ndarray] | None = None
    resample: bool = False

    def __post_init__(self) -> None:
        # types first (one-line ValueErrors naming the key), then defaults, then ranges
        norm: dict[str, Any] = {
            "sampling_rate": _real("sampling_rate", self.sampling_rate),
            "block_seconds": _real("block_seconds", self.block_seconds),
            "nperseg": _whole("nperseg", self.nperseg),
            "order": _whole("order", self.order, "a whole number"),
            "fmin": _real("fmin", self.fmin),
        }
        for name in ("noverlap", "nfft"):
            if getattr(self, name) is not None:
                norm[name] = _whole(name, getattr(self, name))
        if self.fmax is not None:
            norm["fmax"] = _real("fmax", self.fmax)
        if self.saturation is not None:
            norm["saturation"] = _real("saturation", self.saturation, finite=False)
        if self.band is not None:
            norm["band"] = _band(self.band)
        if isinstance(self.window, list):
            norm["window"] = tuple(self.window)
        if isinstance(self.calibration, Mapping):
            # the data forms run nothing; a relative ``file`` is taken from the working folder
            norm["calibration"] = calibration_from_config(self.calibration)
        if not isinstance(self.resample, bool | np.bool_):
            raise ValueError(f"resample must be true or false, got {self.resample!r}")
        norm["resample"] = bool(self.resample)
        for k, v in norm.items():
            object.__setattr__(self, k, v)
        if self.noverlap is None:
            object.__setattr__(self, "noverlap", self.nperseg // 2)
        if self.nfft is None:
            object.__setattr__(self, "nfft", self.nperseg)
        if self.fmax is None:
            object.__setattr__(self, "fmax", self.sampling_rate / 2)
        self.validate()

    # -- derived sizes -----------------------------------------------------------------
    @property
    def block_samples(self) -> int:
        return round(self.block_seconds * self.sampling_rate)

    @property
    def blocks_per_day(self) -> int:
        return round(86400.0 / self.block_seconds)

    @property
    def day_samples(self) -> int:
        return self.block_samples * self.blocks_per_day

    @property
    def segments_per_block(self) -> int:
        step = self.nperseg - self.noverlap
        return (self.block_samples - self.nperseg) // step + 1

    def frequencies(self) -> np.ndarray:
        """The cube's frequency axis (after the crop).

        Examples
        --------
        >>> f = CubeConfig.preset("iar", fmin=0.5).frequencies()
        >>> round(float(f[0]), 4), round(float(f[-1]), 4), f.size  # 0.5 snaps up
        (0.5127, 9.9854, 389)
        """
        f = np.fft.rfftfreq(self.nfft, 1.0 / self.sampling_rate)
        return f[self.frequency_slice()]

    def frequency_slice(self) -> slice:
        """Slice of the ``rfftfreq(nfft)`` bins kept by the crop ``fmin <= f <= fmax``."""
        f = np.fft.rfftfreq(self.nfft, 1.0 / self.sampling_rate)
        tol = 1e-6 * self.sampling_rate / self.nfft  # a bound that is a bin up to round-off
        idx = np.flatnonzero((f >= self.fmin - tol) & (f <= self.fmax + tol))
        if idx.size == 0:
            df = self.sampling_rate / self.nfft
            below = math.floor(self.fmin / df) * df
            raise ValueError(
                f"no frequency bin in fmin={self.fmin} .. fmax={self.fmax} Hz: the nearest "
                f"bins are {below:.6g} and {below + df:.6g} Hz (spacing sampling_rate/nfft = "
                f"{df:.6g} Hz)"
            )
        return slice(int(idx[0]), int(idx[-1]) + 1)

    def validate(self) -> None:
        """Raise ``ValueError`` for a configuration that cannot build a cube.

        Every message is one line naming the offending key and value.

        Examples
        --------
        >>> CubeConfig(band=(0.5, 5.0, 9.0))
        Traceback (most recent call last):
        ...
        ValueError: band must be two corner frequencies [low, high] in Hz, got (0.5, 5.0, 9.0)
        """
        fs = self.sampling_rate
        if not (isinstance(fs, float) and math.isfinite(fs) and fs > 0):
            raise ValueError(f"sampling_rate must be a finite positive number (Hz), got {fs!r}")
        self._validate_blocks()
        self._validate_welch()
        if self.band is not None:
            lo, hi = _band(self.band)
            if not 0 < lo < hi < fs / 2:
                raise ValueError(
                    f"band={list(self.band)} must satisfy 0 < low < high < sampling_rate/2 "
                    f"= {fs / 2} Hz"
                )
        if isinstance(self.order, bool) or not isinstance(self.order, int) or self.order < 1:
            raise ValueError(f"order must be a whole number >= 1, got {self.order!r}")
        if not 0 <= self.fmin <= fs / 2:
            raise ValueError(f"fmin={self.fmin} must be in 0 .. sampling_rate/2 = {fs / 2} Hz")
        if not self.fmin <= self.fmax <= fs / 2:
            raise ValueError(
                f"fmax={self.fmax} must be in fmin={self.fmin} .. sampling_rate/2 = {fs / 2} Hz"
            )
        self.frequency_slice()  # at least one bin in the crop
        if self.saturation is not None and not self.saturation > 0:
            raise ValueError(f"saturation must be positive, got {self.saturation}")
        if self.calibration is not None and not callable(self.calibration):
            raise TypeError("calibration must be a callable of frequency (Hz)")
        if isinstance(self.calibration, TabulatedResponse):
            # a table that misses part of the crop is refused here, where a TOML error
            # names the file, rather than when the cube is built
            self.calibration(self.frequencies())

    def _validate_blocks(self) -> None:
        bsec = self.block_seconds
        if not (isinstance(bsec, float) and math.isfinite(bsec) and bsec > 0):
            raise ValueError(f"block_seconds must be a finite positive number, got {bsec!r}")
        bs = bsec * self.sampling_rate
        if abs(bs - round(bs)) > 1e-9 * bs or round(bs) < 1:
            raise ValueError(
                f"block_seconds * sampling_rate = {bs} is not a whole number of samples "
                f"(block_seconds={bsec}, sampling_rate={self.sampling_rate})"
            )
        per_day = 86400.0 / bsec
        if abs(per_day - round(per_day)) > 1e-9:
            raise ValueError(
                f"86400 / block_seconds = {per_day}: blocks must tile a UTC day exactly "
                f"(block_seconds={bsec})"
            )

    def _validate_welch(self) -> None:
        for name in ("nperseg", "noverlap", "nfft"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"{name} must be a whole number of samples, got {v!r}")
        if not 0 < self.nperseg <= self.block_samples:
            raise ValueError(
                f"nperseg={self.nperseg} must be in 1..block_samples={self.block_samples}"
            )
        if not 0 <= self.noverlap < self.nperseg:
            raise ValueError(
                f"noverlap={self.noverlap} must be in 0..nperseg-1 (nperseg={self.nperseg})"
            )
        if self.nfft < self.nperseg:
            raise ValueError(f"nfft={self.nfft} must be >= nperseg={self.nperseg}")
        if self.detrend not in ("constant", "linear", False):
            raise ValueError(f"detrend must be 'constant', 'linear' or False, got {self.detrend!r}")
        try:
            ss.get_window(self.window, self.nperseg)
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"window={self.window!r} is not a scipy.signal window: {err}"
            ) from None

    # -- construction ------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> CubeConfig:
        """A named parameter set (``"iar"``), with optional overrides."""
        try:
            params = dict(_PRESETS[name])
        except KeyError:
            raise ValueError(f"unknown preset {name!r}; known: {sorted(_PRESETS)}") from None
        params.update(overrides)
        return cls(**params)

    @classmethod
    def from_toml(cls, path: str | Path) -> CubeConfig:
        """Read a config from a TOML file: top-level keys, or a ``[cube]`` table.

        A ``preset = "iar"`` key starts from that preset and the other keys override it.
        Values are checked as in the constructor; an error names the file, the key and
        the value. ``calibration`` is read by
        :func:`xspecseg.calibration.calibration_from_config`: its table forms run nothing
        (a ``file`` is taken relative to the TOML file's folder); its string form
        ``"module:function"`` imports that module, so such a file is as trusted as code.

        Examples
        --------
        >>> from pathlib import Path
        >>> _ = Path("cube.toml").write_text('[cube]\\npreset = "iar"\\nresample = true\\n')
        >>> cfg = CubeConfig.from_toml("cube.toml")
        >>> cfg.band, cfg.resample
        ((0.5, 10.0), True)
        """
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        data = data.get("cube", data)
        known = {f.name for f in dataclasses.fields(cls)} | {"preset"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown cube config keys {sorted(unknown)}")
        try:
            if data.get("calibration") is not None:
                data["calibration"] = calibration_from_config(
                    data["calibration"], base_dir=Path(path).parent
                )
            preset = data.pop("preset", None)
            return cls.preset(preset, **data) if preset else cls(**data)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None

    def to_attrs(self) -> dict[str, Any]:
        """Every field under its own name, as zarr/netCDF-safe attribute values."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "band":
                v = [] if v is None else [float(v[0]), float(v[1])]
            elif f.name == "calibration":
                v = "none" if v is None else _calibration_attr(v)
            elif f.name == "saturation":
                v = "none" if v is None else float(v)
            elif f.name == "detrend":
                v = "none" if v is False else v
            elif f.name == "resample":
                v = int(v)  # netCDF has no boolean attribute
            out[f.name] = v
        return out

    def matches_attrs(self, attrs: dict[str, Any]) -> list[str]:
        """Names of the fields whose value differs from the attrs of a stored cube."""
        mine = self.to_attrs()
        diff = []
        for k, v in mine.items():
            other = attrs.get(k)
            if isinstance(v, list):
                same = other is not None and list(np.asarray(other, float)) == v
            elif isinstance(v, float):
                same = other is not None and not isinstance(other, str) and np.isclose(v, other)
            else:
                same = other == v
            if not same:
                diff.append(k)
        return diff


def _real(name: str, value: Any, *, finite: bool = True) -> float:
    """``value`` as a float, or a one-line ``ValueError`` naming ``name`` and the value."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if math.isnan(v) or (finite and not math.isfinite(v)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return v


def _whole(name: str, value: Any, what: str = "a whole number of samples") -> int:
    """``value`` as an int (``4096`` or ``4096.0``; not ``"4096"`` or ``4096.5``)."""
    ok = not isinstance(value, bool | np.bool_) and isinstance(value, numbers.Real)
    if not ok or not float(value).is_integer():
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def _band(value: Any) -> tuple[float, float]:
    """``(low, high)`` floats from a pair; a list of another length is an error."""
    pair = isinstance(value, Sequence | np.ndarray) and not isinstance(value, str)
    if not pair or np.ndim(value) != 1 or len(value) != 2:
        raise ValueError(f"band must be two corner frequencies [low, high] in Hz, got {value!r}")
    return _real("band low corner", value[0]), _real("band high corner", value[1])


def _calibration_attr(cal: Callable) -> str:
    """A data-form calibration as its JSON table (exact floats: appending to a store with
    the same table is accepted, with another refused); a function as ``module:qualname``."""
    if isinstance(cal, TabulatedResponse | PoleZeroResponse):
        return json.dumps(cal.to_config())
    return callable_name(cal)

"""Spectrogram cube parameters.

``CubeConfig.preset("iar")`` holds the parameters of the IAR paper (Eskdalemuir search
coils): 100 Hz, Butterworth band-pass 0.5–10 Hz of order 4, 100 s blocks (864 a day), Welch
periodograms with a 4096-point Hann window. The paper does not state the Welch overlap;
the preset uses 50 % (2048 samples), the `scipy.signal.welch` default a Python user of the
paper would reach for, which fits three segments in a 10,000-sample block. The frequency
axis is cropped to 0–10 Hz, the pass band of the filter: it holds the IAR fringes
(0.5–6 Hz) and the first Schumann resonance (~7.8 Hz) that the paper's images show.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

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
        Expected sampling rate of the waveform (Hz); a waveform at another rate is refused.
    block_seconds : float
        Length of one periodogram block; blocks start on a UTC grid from midnight, so
        ``86400 / block_seconds`` must be a whole number.
    nperseg, noverlap, nfft, window, detrend :
        Welch parameters, as in :func:`scipy.signal.welch`.
    band : (float, float) or None
        Butterworth band-pass corners in Hz (zero-phase, ``sosfiltfilt``); None skips it.
    order : int
        Butterworth order of the band-pass.
    fmin, fmax : float
        Frequency crop of the stored cube (inclusive).
    saturation : float or None
        Samples with ``|x| >= saturation`` are masked like gaps.
    calibration : callable or None
        ``calibration(f)`` gives the sensor's ``|S(f)|``, multiplying the amplitude spectrum
        (the PSD is multiplied by ``|S(f)|**2``). In a TOML file, name it as
        ``"module:function"``, e.g. ``"xspecseg.io:sierra_nevada_calibration"``. A
        ``units`` attribute on the callable names the calibrated unit.

    Examples
    --------
    >>> cfg = CubeConfig.preset("iar")
    >>> cfg.blocks_per_day, cfg.block_samples
    (864, 10000)
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

    def __post_init__(self) -> None:
        if self.noverlap is None:
            object.__setattr__(self, "noverlap", self.nperseg // 2)
        if self.nfft is None:
            object.__setattr__(self, "nfft", self.nperseg)
        if self.band is not None:
            object.__setattr__(self, "band", (float(self.band[0]), float(self.band[1])))
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
        """The cube's frequency axis (after the crop)."""
        f = np.fft.rfftfreq(self.nfft, 1.0 / self.sampling_rate)
        return f[self.frequency_slice()]

    def frequency_slice(self) -> slice:
        f = np.fft.rfftfreq(self.nfft, 1.0 / self.sampling_rate)
        idx = np.flatnonzero((f >= self.fmin) & (f <= self.fmax))
        return slice(int(idx[0]), int(idx[-1]) + 1)

    def validate(self) -> None:
        """Raise ``ValueError`` for a configuration that cannot build a cube."""
        fs = self.sampling_rate
        if not fs > 0:
            raise ValueError(f"sampling_rate must be positive, got {fs}")
        bs = self.block_seconds * fs
        if abs(bs - round(bs)) > 1e-9 * bs or round(bs) < 1:
            raise ValueError(
                f"block_seconds * sampling_rate = {bs} is not a whole number of samples"
            )
        per_day = 86400.0 / self.block_seconds
        if abs(per_day - round(per_day)) > 1e-9:
            raise ValueError(
                f"86400 / block_seconds = {per_day}: blocks must tile a UTC day exactly"
            )
        if not 0 < self.nperseg <= self.block_samples:
            raise ValueError(
                f"nperseg={self.nperseg} must be in 1..block_samples={self.block_samples}"
            )
        if not 0 <= self.noverlap < self.nperseg:
            raise ValueError(f"noverlap={self.noverlap} must be in 0..nperseg-1")
        if self.nfft < self.nperseg:
            raise ValueError(f"nfft={self.nfft} must be >= nperseg={self.nperseg}")
        if self.detrend not in ("constant", "linear", False):
            raise ValueError(f"detrend must be 'constant', 'linear' or False, got {self.detrend!r}")
        if self.band is not None:
            lo, hi = self.band
            if not 0 < lo < hi < fs / 2:
                raise ValueError(f"band={self.band} must satisfy 0 < low < high < fs/2 = {fs / 2}")
        if self.order < 1:
            raise ValueError(f"order must be >= 1, got {self.order}")
        if self.fmax < self.fmin or self.fmin > fs / 2:
            raise ValueError(f"empty frequency crop fmin={self.fmin}, fmax={self.fmax}")
        if self.saturation is not None and not self.saturation > 0:
            raise ValueError(f"saturation must be positive, got {self.saturation}")
        if self.calibration is not None and not callable(self.calibration):
            raise TypeError("calibration must be a callable of frequency (Hz)")

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
        """
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        data = data.get("cube", data)
        known = {f.name for f in dataclasses.fields(cls)} | {"preset"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown cube config keys {sorted(unknown)}")
        if isinstance(data.get("calibration"), str):
            data["calibration"] = resolve_callable(data["calibration"])
        preset = data.pop("preset", None)
        if "band" in data and data["band"] is not None:
            data["band"] = tuple(data["band"])
        return cls.preset(preset, **data) if preset else cls(**data)

    def to_attrs(self) -> dict[str, Any]:
        """Every field under its own name, as zarr/netCDF-safe attribute values."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "band":
                v = [] if v is None else [float(v[0]), float(v[1])]
            elif f.name == "calibration":
                v = "none" if v is None else callable_name(v)
            elif f.name == "saturation":
                v = "none" if v is None else float(v)
            elif f.name == "detrend":
                v = "none" if v is False else v
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


def callable_name(func: Callable) -> str:
    """``"module:qualname"`` of a function, the form :func:`resolve_callable` reads back."""
    module = getattr(func, "__module__", None)
    qual = getattr(func, "__qualname__", None)
    if module and qual:
        return f"{module}:{qual}"
    return repr(func)


def resolve_callable(spec: str) -> Callable:
    """Import ``"package.module:function"`` (a calibration named in a TOML file)."""
    import importlib

    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"callable {spec!r} must be written 'package.module:function'")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import {spec!r}: {err}") from err
    if not callable(obj):
        raise ValueError(f"{spec!r} is not callable")
    return obj

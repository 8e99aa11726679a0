"""Sensor calibrations given as data: a table of ``|S(f)|`` or the poles and zeros of ``S(s)``.

A cube's calibration is a callable of frequency (Hz) giving ``|S(f)|``, the factor that
turns the recorded amplitude spectrum into the physical one (the PSD is multiplied by
``|S(f)|**2``), with a ``units`` attribute naming the physical unit. A TOML cube config
can name a Python function for it (``calibration = "module:function"``), but importing
that module runs its code. The two classes here are the data form: a station describes its
sensor with numbers, and loading the config runs nothing.

:class:`TabulatedResponse`
    ``|S|`` at a list of frequencies, interpolated linearly in log-log between them.
:class:`PoleZeroResponse`
    ``|S(f)| = |gain * prod(s - z) / prod(s - p)|`` with ``s = 2 pi i f`` (poles and
    zeros in rad/s) or ``s = i f`` (in Hz), the two Laplace conventions of SEED.

:func:`calibration_from_config` reads the value of the ``calibration`` key of a TOML file
into one of them (or, for the string form, imports the named function).

Examples
--------
>>> table = TabulatedResponse([1.0, 10.0, 100.0], [2.0, 20.0, 20.0], units="nT")
>>> table([1.0, 10.0, 50.0]).tolist()
[2.0, 20.0, 20.0]
>>> coil = PoleZeroResponse(poles=[0.0], zeros=[], gain=1.0, units="nT", unit_of_s="Hz")
>>> coil([0.5, 2.0]).tolist()  # a search coil's voltage grows with f: S falls as 1/f
[2.0, 0.5]
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = [
    "PoleZeroResponse",
    "TabulatedResponse",
    "calibration_from_config",
    "callable_name",
    "resolve_callable",
]

UnitOfS = Literal["rad/s", "Hz"]

# a cube bin at a table end up to round-off (rfftfreq of another nfft, a decimal table)
# still counts as inside the table
_END_TOLERANCE = 1e-9

_TABLE_KEYS = ("frequency", "magnitude", "units")
_FILE_KEYS = ("file", "units")
_POLE_ZERO_KEYS = ("poles", "zeros", "gain", "units", "unit_of_s")


@dataclasses.dataclass(frozen=True)
class TabulatedResponse:
    """A calibration ``|S(f)|`` given as a table, interpolated linearly in log-log.

    Between two table points ``(f0, m0)`` and ``(f1, m1)`` the magnitude is
    ``exp(interp(log f, [log f0, log f1], [log m0, log m1]))``: a power law through both
    points, so a sensor's ``f**n`` slopes are followed exactly by a few points, where a
    linear interpolation would bow between them. At a
    table frequency the table's magnitude is returned exactly.

    Outside the table nothing is guessed: a frequency below the first or above the last
    table frequency (beyond ``1e-9`` of it, round-off of a bin that lies on the end) is a
    ``ValueError`` naming the table's range. A cube evaluates its calibration only at the
    frequencies it keeps (``fmin .. fmax``), so the table must cover that crop. The one
    exception is 0 Hz, which lies at minus infinity on the log axis of the interpolation:
    it gives NaN (no response known), which a cube accepts at 0 Hz only and stores as a
    NaN bin; set ``fmin`` above 0 to leave that bin out.

    Parameters
    ----------
    frequency : sequence of float
        Table frequencies in Hz: at least two, finite, positive and strictly increasing.
    magnitude : sequence of float
        ``|S(f)|`` at those frequencies: finite and positive (the log of zero is not
        interpolated), in physical unit per recorded unit (nT per V, say).
    units : str
        The physical unit of the calibrated record (``"nT"``): the cube's PSD is then in
        ``units**2 / Hz``.

    Examples
    --------
    >>> s = TabulatedResponse([1.0, 100.0], [1.0, 1e-4], units="pT")  # |S| = f**-2
    >>> s([1.0, 10.0, 100.0]).tolist()
    [1.0, 0.01, 0.0001]
    >>> s([0.0, 1.0]).tolist()  # 0 Hz is not on a log axis
    [nan, 1.0]
    >>> s([200.0])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: calibration table covers 1 .. 100 Hz, not 200 Hz (1 of 1 frequencies ...
    """

    frequency: tuple[float, ...]
    magnitude: tuple[float, ...]
    units: str

    def __post_init__(self) -> None:
        # tuples of floats: a config holding the table stays hashable and compares by value
        freq = _floats("frequency", self.frequency)
        mag = _floats("magnitude", self.magnitude)
        if len(freq) != len(mag):
            raise ValueError(
                f"calibration table has {len(freq)} frequencies but {len(mag)} magnitudes"
            )
        if len(freq) < 2:
            raise ValueError(
                f"calibration table needs at least 2 points to interpolate, got {len(freq)}"
            )
        for name, values in (("frequency", freq), ("magnitude", mag)):
            for i, v in enumerate(values):
                if not (math.isfinite(v) and v > 0):
                    raise ValueError(
                        f"calibration table {name}[{i}] = {v!r}: every {name} must be finite "
                        f"and positive"
                    )
        for i in range(1, len(freq)):
            if not freq[i] > freq[i - 1]:
                raise ValueError(
                    f"calibration table frequency must be strictly increasing: "
                    f"frequency[{i}] = {freq[i]!r} follows frequency[{i - 1}] = {freq[i - 1]!r}"
                )
        object.__setattr__(self, "frequency", freq)
        object.__setattr__(self, "magnitude", mag)
        object.__setattr__(self, "units", _units(self.units))

    def __call__(self, f: Any) -> np.ndarray:
        """``|S(f)|`` (float64, shaped like ``f``) at frequencies ``f`` in Hz."""
        f = np.asarray(f, dtype=np.float64)
        table_f = np.asarray(self.frequency)
        table_m = np.asarray(self.magnitude)
        lo, hi = table_f[0], table_f[-1]
        zero = f == 0
        with np.errstate(invalid="ignore"):
            inside = (f >= lo * (1 - _END_TOLERANCE)) & (f <= hi * (1 + _END_TOLERANCE))
        outside = ~(inside | zero)
        if outside.any():
            first = f[outside].flat[0]
            raise ValueError(
                f"calibration table covers {lo:g} .. {hi:g} Hz, not {first:g} Hz "
                f"({int(outside.sum())} of {f.size} frequencies outside it): extend the "
                f"table, or crop the cube inside it with fmin and fmax"
            )
        x = np.clip(np.where(zero, lo, f), lo, hi)
        out = np.exp(np.interp(np.log(x), np.log(table_f), np.log(table_m)))
        # exact at the table's own frequencies (exp(log(m)) may be off by an ulp)
        idx = np.minimum(np.searchsorted(table_f, x), table_f.size - 1)
        out = np.where(table_f[idx] == x, table_m[idx], out)
        return np.where(zero, np.nan, out)

    def to_config(self) -> dict[str, Any]:
        """The TOML table form (JSON-able): what a cube records as its ``calibration``.

        Examples
        --------
        >>> TabulatedResponse([1.0, 2.0], [3.0, 4.0], units="nT").to_config()
        {'frequency': [1.0, 2.0], 'magnitude': [3.0, 4.0], 'units': 'nT'}
        """
        return {
            "frequency": list(self.frequency),
            "magnitude": list(self.magnitude),
            "units": self.units,
        }


@dataclasses.dataclass(frozen=True)
class PoleZeroResponse:
    """A calibration ``|S(f)|`` given by the poles and zeros of ``S(s)`` in the Laplace domain.

    ``|S(f)| = |gain * prod(s - z) / prod(s - p)|`` with ``s = 2 pi i f`` when the poles
    and zeros are in rad/s (``unit_of_s="rad/s"``, SEED's "Laplace transform (rad/s)")
    or ``s = i f`` when they are in Hz (``unit_of_s="Hz"``, SEED's "Laplace transform
    (Hz)"). The product is formed as a sum of logarithms, so many poles neither overflow
    nor underflow.

    ``S`` multiplies the recorded spectrum. A sensor response as SEED or StationXML give
    it (recorded unit per physical unit: V per nT) is the inverse: give its zeros as
    ``poles``, its poles as ``zeros`` and ``1 / gain``.

    At a pole on the imaginary axis (``p = 0`` of a search coil at 0 Hz) ``|S|`` is
    ``inf``, at such a zero 0; a cube accepts a non-finite calibration at 0 Hz only.

    Parameters
    ----------
    poles, zeros : sequence of complex
        Complex numbers, or ``[re, im]`` pairs (the TOML form), in ``unit_of_s``.
    gain : float
        The normalisation factor (its sign does not matter): finite and non-zero.
    units : str
        The physical unit of the calibrated record (``"nT"``).
    unit_of_s : {"rad/s", "Hz"}
        The unit of the poles and zeros.

    Examples
    --------
    >>> s = PoleZeroResponse(poles=[-2 * np.pi], zeros=[], gain=2 * np.pi, units="nT")
    >>> round(float(s([1.0])[0]), 6)  # a one-pole low-pass at 1 Hz: 1/sqrt(2) there
    0.707107
    >>> PoleZeroResponse(poles=[[-1.0, 0.0]], zeros=[], gain=1.0, units="nT",
    ...                  unit_of_s="Hz") == PoleZeroResponse([-1.0], [], 1.0, "nT", "Hz")
    True
    """

    poles: tuple[complex, ...]
    zeros: tuple[complex, ...]
    gain: float
    units: str
    unit_of_s: UnitOfS = "rad/s"

    def __post_init__(self) -> None:
        object.__setattr__(self, "poles", _complexes("poles", self.poles))
        object.__setattr__(self, "zeros", _complexes("zeros", self.zeros))
        gain = _float("gain", self.gain)
        if not (math.isfinite(gain) and gain != 0):
            raise ValueError(f"calibration gain must be finite and non-zero, got {self.gain!r}")
        object.__setattr__(self, "gain", gain)
        object.__setattr__(self, "units", _units(self.units))
        if self.unit_of_s not in ("rad/s", "Hz"):
            raise ValueError(f"unit_of_s must be 'rad/s' or 'Hz', got {self.unit_of_s!r}")

    def __call__(self, f: Any) -> np.ndarray:
        """``|S(f)|`` (float64, shaped like ``f``) at frequencies ``f`` in Hz."""
        f = np.asarray(f, dtype=np.float64)
        s = 1j * f * (2 * np.pi if self.unit_of_s == "rad/s" else 1.0)
        log_mag = np.full(f.shape, math.log(abs(self.gain)))
        with np.errstate(divide="ignore", invalid="ignore"):
            for z in self.zeros:
                log_mag += np.log(np.abs(s - z))
            for p in self.poles:
                log_mag -= np.log(np.abs(s - p))
            return np.asarray(np.exp(log_mag))

    def to_config(self) -> dict[str, Any]:
        """The TOML table form (JSON-able): what a cube records as its ``calibration``.

        Examples
        --------
        >>> PoleZeroResponse([-1 + 2j], [0], 3.0, "nT").to_config()["poles"]
        [[-1.0, 2.0]]
        """
        return {
            "poles": [[z.real, z.imag] for z in self.poles],
            "zeros": [[z.real, z.imag] for z in self.zeros],
            "gain": self.gain,
            "units": self.units,
            "unit_of_s": self.unit_of_s,
        }


def calibration_from_config(
    value: Any, *, base_dir: str | Path | None = None
) -> Callable[[np.ndarray], np.ndarray] | None:
    """The calibration a TOML cube config's ``calibration`` value describes.

    ``"module:function"``
        Imports ``module`` and returns its ``function``
        (:func:`resolve_callable`). Importing runs the module's code: a
        config in this form is as trusted as code.
    a table with ``frequency``, ``magnitude``, ``units``
        A :class:`TabulatedResponse`. Runs nothing.
    a table with ``file``, ``units``
        A :class:`TabulatedResponse` read from a text file of two columns, frequency (Hz)
        and magnitude, separated by a comma or blanks; ``#`` starts a comment (header
        lines must be comments). A relative path is taken from ``base_dir`` (the TOML
        file's folder). Runs nothing.
    a table with ``poles``, ``zeros``, ``gain``, ``units`` and optional ``unit_of_s``
        A :class:`PoleZeroResponse`; poles and zeros as ``[re, im]`` pairs. Runs nothing.

    None is None, and a callable (a response already built) is returned as it is.

    Parameters
    ----------
    value : str, mapping, callable or None
        The value of the ``calibration`` key.
    base_dir : path, optional
        The folder relative ``file`` paths are taken from (default: the working folder).

    Returns
    -------
    callable or None

    Raises
    ------
    ValueError
        A key that none of the forms has, a missing key, an unreadable file or bad
        numbers; the message names the key or the file.

    Examples
    --------
    >>> cal = calibration_from_config({"frequency": [1, 10], "magnitude": [5, 5],
    ...                                "units": "nT"})
    >>> cal.units, cal([3.0]).tolist()
    ('nT', [5.0])
    >>> calibration_from_config({"frequency": [1, 10], "colour": "red"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: calibration: unknown key 'colour' (a table of frequency and magnitude takes ...
    """
    if value is None or isinstance(value, TabulatedResponse | PoleZeroResponse):
        return value
    if isinstance(value, str):
        return resolve_callable(value)
    if isinstance(value, Mapping):
        return _from_table(value, base_dir)
    if callable(value):
        return value
    raise ValueError(
        f'calibration must be "module:function" or a table (frequency and magnitude, a file, '
        f"or poles and zeros), got {value!r}"
    )


def callable_name(func: Callable) -> str:
    """``"module:qualname"`` of a function, the form :func:`resolve_callable` reads back."""
    module = getattr(func, "__module__", None)
    qual = getattr(func, "__qualname__", None)
    if module and qual:
        return f"{module}:{qual}"
    return repr(func)


# here, not in config (which imports this module): calibration_from_config reads the
# "module:function" form with it, and the import between the two goes one way only
def resolve_callable(spec: str) -> Callable:
    """Import ``"package.module:function"`` (a calibration named in a TOML file).

    Importing runs the module's top-level code, and the cube then runs the function: a
    config file that names a calibration this way is as trusted as code. The table and
    poles-zeros forms of a calibration (:class:`TabulatedResponse`,
    :class:`PoleZeroResponse`) run nothing.

    Examples
    --------
    >>> resolve_callable("xspecseg.io:sierra_nevada_calibration").units
    'pT'
    """
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


def _from_table(table: Mapping[str, Any], base_dir: str | Path | None) -> Any:
    keys = set(table)
    if "file" in keys:
        form, allowed = "a table file", _FILE_KEYS
    elif keys & {"poles", "zeros", "gain", "unit_of_s"}:
        form, allowed = "poles and zeros", _POLE_ZERO_KEYS
    else:
        form, allowed = "a table of frequency and magnitude", _TABLE_KEYS
    for key in table:
        if key not in allowed:
            raise ValueError(
                f"calibration: unknown key {key!r} ({form} takes the keys {', '.join(allowed)})"
            )
    required = [k for k in allowed if k != "unit_of_s"]
    missing = [k for k in required if k not in table]
    if missing:
        raise ValueError(
            f"calibration: {form} needs the keys {', '.join(required)}; "
            f"missing {', '.join(missing)}"
        )
    if form == "a table file":
        freq, mag = _read_table(table["file"], base_dir)
        return TabulatedResponse(freq, mag, table["units"])
    if form == "poles and zeros":
        return PoleZeroResponse(
            table["poles"],
            table["zeros"],
            table["gain"],
            table["units"],
            table.get("unit_of_s", "rad/s"),
        )
    return TabulatedResponse(table["frequency"], table["magnitude"], table["units"])


def _read_table(name: Any, base_dir: str | Path | None) -> tuple[list[float], list[float]]:
    """Two columns (frequency, magnitude) of a text file; ``#`` starts a comment."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"calibration file must be a path, got {name!r}")
    path = Path(name).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"calibration file {path} cannot be read: {err}") from None
    freq, mag = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [x.strip() for x in line.split(",")] if "," in line else line.split()
        try:
            if len(fields) != 2:
                raise ValueError
            f, m = float(fields[0]), float(fields[1])
        except ValueError:
            raise ValueError(
                f"calibration file {path} line {number}: {line!r} is not two numbers "
                f"(frequency, magnitude); start comment and header lines with #"
            ) from None
        freq.append(f)
        mag.append(m)
    try:
        TabulatedResponse(freq, mag, "checked")
    except ValueError as err:
        raise ValueError(f"calibration file {path}: {err}") from None
    return freq, mag


def _float(name: str, value: Any) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ValueError(f"calibration {name} must be a number, got {value!r}")
    return float(value)


def _floats(name: str, values: Any) -> tuple[float, ...]:
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise ValueError(f"calibration table {name} must be a list of numbers, got {values!r}")
    values = list(values.ravel() if isinstance(values, np.ndarray) else values)
    return tuple(_float(f"table {name}[{i}]", v) for i, v in enumerate(values))


def _complexes(name: str, values: Any) -> tuple[complex, ...]:
    """Complex numbers from numbers or ``[re, im]`` pairs."""
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise ValueError(f"calibration {name} must be a list of [re, im] pairs, got {values!r}")
    if isinstance(values, np.ndarray):
        values = values.tolist()
    out = []
    for i, v in enumerate(values):
        if isinstance(v, numbers.Number) and not isinstance(v, bool | np.bool_):
            z = complex(v)
        elif isinstance(v, list | tuple) and len(v) == 2:
            z = complex(_float(f"{name}[{i}] re", v[0]), _float(f"{name}[{i}] im", v[1]))
        else:
            raise ValueError(f"calibration {name}[{i}] must be [re, im], got {v!r}")
        if not (math.isfinite(z.real) and math.isfinite(z.imag)):
            raise ValueError(f"calibration {name}[{i}] must be finite, got {v!r}")
        out.append(z)
    return tuple(out)


def _units(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            f"calibration units must name the physical unit of the calibrated record "
            f'(units = "nT", say), got {value!r}'
        )
    return value

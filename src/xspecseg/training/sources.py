"""Cheap, picklable descriptions of training data, and the images they stand for.

A Dask task (a fold of a cross-validation, a point of a grid search) receives a small dict
instead of arrays and rebuilds the images with :func:`load_data`; the command line's
``--data`` value becomes such a dict through :func:`parse_data`.

Examples
--------
>>> spec = parse_data("synth-iar", nights=1, seed=0)
>>> spec, len(load_data(spec))
({'source': 'synth-iar', 'nights': 1, 'seed': 0}, 1)
"""

from __future__ import annotations

from typing import Any

from .images import from_cube
from .imageset import ImageSet
from .synthetic import synth_cses, synth_iar

__all__ = ["load_data", "parse_data"]


def load_data(spec: dict[str, Any]) -> ImageSet:
    """Build an :class:`ImageSet` from a cheap, picklable description.

    ``spec["source"]`` is ``"synth-iar"`` (keywords of :func:`synth_iar`),
    ``"synth-cses"`` (of :func:`synth_cses`), ``"cube"`` (``path`` plus keywords of
    :func:`from_cube`) or ``"npz"`` (``path`` of a saved :class:`ImageSet`, optional
    ``band``). Dask tasks receive this instead of arrays, so nothing large is shipped.

    Examples
    --------
    >>> len(load_data({"source": "synth-iar", "nights": 1, "seed": 0}))
    1
    """
    spec = dict(spec)
    source = spec.pop("source")
    for k in ("band", "night"):
        if k in spec and spec[k] is not None:
            spec[k] = tuple(spec[k])
    if "components" in spec and spec["components"] is not None:
        spec["components"] = tuple(spec["components"])
    if source == "synth-iar":
        return synth_iar(**spec)
    if source == "synth-cses":
        return synth_cses(**spec)
    if source == "cube":
        path = spec.pop("path")
        return from_cube(path, **spec)
    if source == "npz":
        s = ImageSet.load(spec["path"])
        return s.crop_band(spec.get("band"))
    raise ValueError(f"unknown data source {source!r}")


def parse_data(text: str, **kwargs: Any) -> dict[str, Any]:
    """A data spec from the command-line form: ``synth-iar``, ``synth-cses``,
    ``cube:PATH`` or ``npz:PATH``; keywords are added to the spec (None dropped).

    Examples
    --------
    >>> parse_data("cube:site.zarr", masks="masks/")
    {'source': 'cube', 'path': 'site.zarr', 'masks': 'masks/'}
    """
    kw = {k: v for k, v in kwargs.items() if v is not None}
    if text in ("synth-iar", "synth-cses"):
        return {"source": text, **kw}
    for prefix in ("cube", "npz"):
        if text.startswith(prefix + ":"):
            return {"source": prefix, "path": text[len(prefix) + 1 :], **kw}
    raise ValueError(f"unknown data {text!r}: use synth-iar, synth-cses, cube:PATH or npz:PATH")

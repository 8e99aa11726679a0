"""xspecseg: spectrogram cubes, segmentation and catalogues for geophysical field records.

Submodules and the public names are imported on first use, so ``import xspecseg`` stays
cheap (the command line starts fast, and torch is loaded only by the stages needing it).

Examples
--------
>>> import xspecseg as xs
>>> cfg = xs.CubeConfig.preset("iar")
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__ as __version__

_SUBMODULES = {
    "calibration", "catalogue", "classical", "cli", "cluster", "config", "contract", "cube", "dsp",
    "events", "geomag", "infer", "io", "models", "plot", "stats", "synth", "testing", "train",
}  # fmt: skip
_NAMES = {
    "CubeConfig": "config",
    "TabulatedResponse": "calibration",
    "PoleZeroResponse": "calibration",
    "ModelCard": "contract",
    "InputRepresentation": "contract",
    "build_cube": "cube",
    "write_cube": "cube",
    "open_cube": "cube",
    "select_component": "cube",
    "predict": "infer",
    "write_probability": "infer",
    "open_probability": "infer",
    "verify_probability": "infer",
    "extract_events": "events",
    "select_events": "events",
    "magnetic_latitude": "geomag",
    "season_of": "geomag",
    "hemisphere_of": "geomag",
    "local_time": "geomag",
    "seasonal_distribution": "stats",
    "maglat_distribution": "stats",
    "frequency_distribution": "stats",
    "monthly_occurrence": "stats",
    "local_time_occurrence": "stats",
    "write_catalogue": "catalogue",
    "open_catalogue": "catalogue",
    "empty_catalogue": "catalogue",
    "validate_catalogue": "catalogue",
}

__all__ = sorted({"__version__", *_SUBMODULES, *_NAMES})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module 'xspecseg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__

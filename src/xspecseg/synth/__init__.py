"""Synthetic test beds with exact truth.

A day of a synthetic record is the same whichever window asks for it, so truth masks and
cubes can be rebuilt piecewise.

Examples
--------
>>> from xspecseg import synth
>>> wave = synth.ground_station("2013-02-14", days=1, seed=0)
>>> wave.dims
('component', 'time')
"""

from __future__ import annotations

from .cses import cses_orbits, cses_truth, randomised_cses_params
from .ground import (
    GroundParams,
    disturbances,
    ground_station,
    iar_truth,
    iar_truth_nights,
    randomised_ground_params,
)

__all__ = [
    "GroundParams",
    "cses_orbits",
    "cses_truth",
    "disturbances",
    "ground_station",
    "iar_truth",
    "iar_truth_nights",
    "randomised_cses_params",
    "randomised_ground_params",
]

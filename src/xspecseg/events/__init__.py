"""Probability cube -> event catalogue, chunk by chunk.

:func:`extract_events` thresholds a (lazy) probability cube, finds connected regions and
reduces each to one row of the catalogue described in the docs' concepts page. It never
holds more than one time-chunk of the cube (plus small per-event summaries) in memory.

The package is layered:

- :mod:`~xspecseg.events.core`: labelling per time-chunk, merging across chunk borders
  (union-find on the border pixels) and combining the per-chunk partial statistics, whose
  chunk and combine steps :mod:`~xspecseg.events.aggregations` declares once per property;
- :mod:`~xspecseg.events.rowstats`: the row-mean log10 PSD and :func:`impulsiveness`;
- :mod:`~xspecseg.events.fringes`: the IAR fringe comb (``delta_f``,
  ``fringe_frequency``) and its :class:`FringeOptions`;
- :mod:`~xspecseg.events.cuts`: the event cuts and :func:`select_events`;
- :mod:`~xspecseg.events.position`: component, position, season and hemisphere;
- :mod:`~xspecseg.events.extract`: the xarray shell, :func:`extract_events`.

Examples
--------
>>> import numpy as np, xarray as xr
>>> p = np.zeros((50, 40), np.float32); p[10:20, 5:15] = 0.9
>>> prob = xr.DataArray(p, dims=("time", "frequency"), name="probability",
...     coords={"time": np.arange(50).astype("M8[m]").astype("M8[ns]"),
...             "frequency": np.arange(40.0)})
>>> cat = extract_events(prob.chunk(time=7), threshold=0.5)
>>> int(cat.sizes["event"]), int(cat.area_pixels[0])
(1, 100)
"""

from __future__ import annotations

from .context import CONTEXT_VARIABLES, event_context
from .cuts import EVENT_CUT_KEYS, event_bandwidth, event_duration, select_events
from .extract import extract_events
from .fringes import IAR_MAX_FREQUENCY, FringeOptions
from .rowstats import impulsiveness
from .score import EventScore

__all__ = [
    "CONTEXT_VARIABLES",
    "EVENT_CUT_KEYS",
    "IAR_MAX_FREQUENCY",
    "EventScore",
    "FringeOptions",
    "event_bandwidth",
    "event_context",
    "event_duration",
    "extract_events",
    "impulsiveness",
    "select_events",
]

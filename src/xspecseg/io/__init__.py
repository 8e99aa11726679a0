"""Readers and writers of waveforms (and satellite files).

``open_waveform`` streams: opening reads headers and sidecars only, samples are
read by dask tasks when a chunk is computed.
"""

from __future__ import annotations

from .cses import read_cses
from .mseed import open_mseed
from .raw import open_raw_int16, sierra_nevada_calibration
from .waveform import FORMATS, infer_format, open_waveform, write_waveform

__all__ = [
    "FORMATS",
    "infer_format",
    "open_mseed",
    "open_raw_int16",
    "open_waveform",
    "read_cses",
    "sierra_nevada_calibration",
    "write_waveform",
]

"""Constants of the CSES-01 EFD level-2 VLF product, shared by its reader and generator.

:func:`xspecseg.io.read_cses` checks files against these and
:mod:`xspecseg.synth.cses` writes files by them, so the two cannot drift apart.
"""

from __future__ import annotations

import re

__all__ = [
    "COMPONENTS",
    "DF_HZ",
    "FILE_GLOB",
    "FILE_PREFIX",
    "FILL_VALUE",
    "NAME_RE",
    "N_FREQ",
    "PSD_UNITS",
    "ROW_MS",
    "SAMPLE_RATE_HZ",
    "SPECTRUM_NAMES",
    "TRACK",
    "TRUTH_BITS",
    "TRUTH_NAME",
]

#: Frequency bins per spectrum.
N_FREQ = 1024
#: Bin width (Hz).
DF_HZ = 25.0
#: Time between spectra (ms): 2.048 s.
ROW_MS = 2048
#: VLF waveform rate (Hz); the 1024 bins of 25 Hz reach its Nyquist frequency.
SAMPLE_RATE_HZ = 51200
#: The fill value of the product's datasets.
FILL_VALUE = -9999.0
#: Electric-field components, in the order of their spectra.
COMPONENTS = ("X", "Y", "Z")
#: The power-spectrum dataset of each component.
SPECTRUM_NAMES = {"X": "A131_P", "Y": "A132_P", "Z": "A133_P"}
#: Units of the power spectra.
PSD_UNITS = "(mV/m)^2/Hz"
#: Track datasets every file must hold, (N, 1) each.
TRACK = ("UTC_TIME", "GEO_LAT", "GEO_LON", "ALTITUDE", "MAG_LAT")
#: The truth mask of synthetic files (real files lack it): uint8, one bit per component.
TRUTH_NAME = "SYNTH_TRUTH"
#: The bit of each component in the truth mask.
TRUTH_BITS = {"X": 1, "Y": 2, "Z": 4}
#: How every VLF half-orbit file name starts; then ``<orbit:5><0 desc|1 asc>_...``.
FILE_PREFIX = "CSES_01_EFD_3_L02_A1_"
#: The EFD files among a folder's entries (other payloads' files share folders with them).
FILE_GLOB = "CSES_01_EFD_*.h5"
#: A level-2 EFD file name, with the orbit number and direction as groups.
NAME_RE = re.compile(
    r"^CSES_01_EFD_\d_L02_A\d_(?P<orbit>\d{5})(?P<dir>[01])_"
    r"\d{8}_\d{6}_\d{8}_\d{6}_\d{3}\.h5$"
)

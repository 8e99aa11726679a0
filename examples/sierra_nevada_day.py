"""The real Sierra Nevada ELF day (../shared/data): calibrated cube and a quicklook PNG.

Run from the repository root: ``python examples/sierra_nevada_day.py [out.png]``. The
station's coil calibration and its saturation level come from ``sierra_nevada.toml``.
The record is not distributed with xspecseg: without it the script says so and stops.
"""

import sys
from pathlib import Path

import numpy as np

import xspecseg as xs

day = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sierra_nevada_elf"
out = Path(sys.argv[1] if len(sys.argv) > 1 else "sierra_nevada_quicklook.png")
if not (day / "2015-03-01").is_dir():
    # not an error: the gallery runs this script wherever the site is built
    print(f"the Sierra Nevada record is not here ({day.resolve() / '2015-03-01'}): nothing to do")
    sys.exit(0)
wave = xs.io.open_waveform(day.resolve() / "2015-03-01")  # reads headers only
cfg = xs.CubeConfig.from_toml(Path(__file__).with_name("sierra_nevada.toml"))
cube = xs.build_cube(wave, cfg).compute()
ns = cube.psd.sel(component="NS").dropna("time", how="all")
print(f"{ns.sizes['time']} blocks of 10 min, {float(cube.valid_fraction.mean()):.2f} valid")
print(
    "median amplitude at the Schumann peaks (pT/sqrt(Hz)):",
    {f: float(np.sqrt(ns.sel(frequency=f, method="nearest").median())) for f in (7.8, 14.1, 20.3)},
)
xs.plot.quicklook(ns, title="Sierra Nevada ELF, NS coil, 2015-03-01", path=out)
print(f"quicklook -> {out.resolve()}")

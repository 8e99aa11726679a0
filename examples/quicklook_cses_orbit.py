"""Quick look at one synthetic CSES EFD VLF half-orbit holding a nucleus-shaped anomaly.

Writes a few half-orbits with a raised anomaly rate, picks the one whose anomaly lies
farthest from the poles, and draws its log10 PSD (time x 0–25.6 kHz) of the Z component
with :func:`xspecseg.plot.plot_halforbit`: latitude ticks, the truth outlined and the
injected anomalies' nominal extents boxed; a second figure zooms on the anomaly.

Usage::

    python examples/quicklook_cses_orbit.py [out.png] [--orbits-dir DIR]

writes ``out.png`` and ``out_zoom.png``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import xarray as xr

from xspecseg.io.cses import read_cses
from xspecseg.plot import plot_halforbit
from xspecseg.synth.cses import cses_anomaly_table, cses_orbits, cses_truth


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="quicklook_cses_orbit.png")
    ap.add_argument("--orbits-dir", default=None, help="where to write the HDF5 files")
    ap.add_argument("--start", default="2022-04-10")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args(argv)

    # A raised rate so that the day surely holds anomalies; the table (no files) tells
    # which half-orbit to write: the one whose anomaly lies farthest from the poles, so
    # the whole nucleus is inside the recorded pass.
    rate = dict(rate_scale=30.0)
    tab = cses_anomaly_table(args.start, days=1, seed=args.seed, **rate)
    pick = tab.loc[tab.latitude.abs().idxmin()]
    orbit_dir = Path(args.orbits_dir or tempfile.mkdtemp(prefix="cses_"))
    paths = cses_orbits(
        args.start, days=1, seed=args.seed, out_dir=orbit_dir, orbits=[pick.orbit], **rate
    )
    sats = [read_cses(p, component="Z", log10=True) for p in paths]
    sat = next(s for s in sats if s.orbit_direction.values[0] == pick.orbit_direction)
    sat = sat.load()
    truth = cses_truth(sat).compute()

    # the anomalies injected into this half-orbit as a catalogue: their nominal time spans
    # (within the recorded pass, which one may outlast) and +-2 sigma in frequency, the
    # boxes plot_halforbit draws around catalogued events
    same = tab[(tab.orbit == pick.orbit) & (tab.orbit_direction == pick.orbit_direction)]
    first, last = sat.time.values[0], sat.time.values[-1]
    start = same.start_time.to_numpy().astype("datetime64[ns]")
    end = same.end_time.to_numpy().astype("datetime64[ns]")
    nominal = xr.Dataset(
        {
            "start_time": ("event", np.maximum(start, first)),
            "end_time": ("event", np.minimum(end, last)),
            "f_min": ("event", np.maximum(0.0, same.f_center - 2 * same.sigma_f).to_numpy()),
            "f_max": ("event", (same.f_center + 2 * same.sigma_f).to_numpy()),
        }
    )
    out = Path(args.out)
    plot_halforbit(sat, catalogue=nominal, detections=truth, path=out)

    # zoom: +-3 min around the anomaly, up to 12.5 kHz
    centre = np.datetime64(pick.time, "ns")
    near = {
        "time": slice(centre - np.timedelta64(180, "s"), centre + np.timedelta64(180, "s")),
        "frequency": slice(None, 12_500.0),
    }
    zoom = out.with_name(f"{out.stem}_zoom{out.suffix}")
    plot_halforbit(
        sat.sel(near),
        catalogue=nominal,
        detections=truth.sel(near),
        title=f"zoom: f_c {pick.f_center / 1e3:.1f} kHz, {pick.duration_s:.0f} s; white: "
        "injected nucleus-shaped anomalies (outline: truth, box: nominal extent)",
        path=zoom,
    )
    name = sat.attrs["source_files"][0]
    print(f"wrote {out} and {zoom} ({int(truth.sum())} truth pixels) from {orbit_dir / name}")
    return out


if __name__ == "__main__":
    main()

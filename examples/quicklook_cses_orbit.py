"""Quick look at one synthetic CSES EFD VLF half-orbit holding a nucleus-shaped anomaly.

Writes a few half-orbits with a raised anomaly rate, picks the first one whose truth is
non-empty, and saves log10 PSD (time x 0–25.6 kHz) of the Z component with latitude
ticks and the truth outlined.

Usage::

    python examples/quicklook_cses_orbit.py [out.png] [--orbits-dir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from xspecseg.io.cses import read_cses
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
    psd = sat.psd.compute()
    truth = cses_truth(sat).compute()

    t_s = (sat.time - sat.time[0]).values / np.timedelta64(1, "s")
    f_khz = sat.frequency.values / 1000.0
    fig, (ax, zoom) = plt.subplots(
        1, 2, figsize=(14, 4.8), width_ratios=[3, 1], constrained_layout=True
    )
    vmin, vmax = np.nanpercentile(psd.values, [1, 99.7])
    style = dict(shading="nearest", cmap="jet", vmin=vmin, vmax=vmax, rasterized=True)
    for a in (ax, zoom):
        im = a.pcolormesh(t_s, f_khz, psd.values.T, **style)
        if truth.any():
            a.contour(
                t_s, f_khz, truth.values.T.astype(float), levels=[0.5], colors="w", linewidths=1
            )
        a.set_ylabel("frequency (kHz)")
    ax.set_ylim(0, 25.6)
    # latitude ticks where the pass crosses round latitudes
    lat = sat.latitude.values
    mlat = sat.magnetic_latitude.values
    ticks = [int(np.argmin(np.abs(lat - la))) for la in range(-60, 61, 20)]
    ticks = [i for i, la in zip(ticks, range(-60, 61, 20)) if abs(lat[i] - la) < 0.5]
    ax.set_xticks(t_s[ticks], [f"{lat[i]:.0f}°" for i in ticks])
    ax.set_xlabel("geographic latitude")
    sec = ax.secondary_xaxis("top")
    sec.set_xticks(t_s[ticks], [f"{mlat[i]:.0f}°" for i in ticks])
    sec.set_xlabel("magnetic latitude (AACGM-v2)")
    # zoom: +-3 min around the anomaly, ticked in latitude too
    tc = (pick.time - sat.time.values[0]) / np.timedelta64(1, "s")
    zoom.set_xlim(tc - 180, tc + 180)
    zoom.set_ylim(0, 12.5)
    zt = [i for i in range(0, lat.size, 30) if abs(t_s[i] - tc) < 180]
    zoom.set_xticks(t_s[zt], [f"{lat[i]:.1f}°\n{mlat[i]:.1f}°" for i in zt], fontsize=8)
    zoom.set_xlabel("geographic / magnetic latitude")
    zoom.set_title(f"zoom: f_c {pick.f_center / 1e3:.1f} kHz, {pick.duration_s:.0f} s", fontsize=9)
    fig.colorbar(im, ax=zoom, label="log10 PSD Ez [(mV/m)²/Hz]")
    name = sat.attrs["source_files"][0]
    ax.set_title(
        f"{name}\norbit {int(sat.orbit[0])} {sat.orbit_direction.values[0]}, "
        f"{str(sat.time.values[0])[:19]} UTC; white: injected nucleus-shaped anomaly",
        fontsize=9,
    )
    out = Path(args.out)
    fig.savefig(out, dpi=110)
    print(f"wrote {out} ({int(truth.sum())} truth pixels) from {orbit_dir / name}")
    return out


if __name__ == "__main__":
    main()

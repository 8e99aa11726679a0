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

    # A raised rate so that one of the first half-orbits of the day holds an anomaly;
    # the table (no files) tells which orbit to write.
    rate = dict(rate_scale=30.0)
    tab = cses_anomaly_table(args.start, days=1, seed=args.seed, **rate)
    first = tab.sort_values("time").iloc[0]
    orbit_dir = Path(args.orbits_dir or tempfile.mkdtemp(prefix="cses_"))
    paths = cses_orbits(
        args.start, days=1, seed=args.seed, out_dir=orbit_dir, orbits=[first.orbit], **rate
    )
    sat = None
    for path in paths:
        cand = read_cses(path, component="Z", log10=True)
        if cand.orbit_direction[0] == first.orbit_direction:
            sat = cand
    assert sat is not None
    psd = sat.psd.compute()
    truth = cses_truth(sat).compute()

    t_s = (sat.time - sat.time[0]).values / np.timedelta64(1, "s")
    f_khz = sat.frequency.values / 1000.0
    fig, ax = plt.subplots(figsize=(12, 4.8), constrained_layout=True)
    vmin, vmax = np.nanpercentile(psd.values, [1, 99.7])
    im = ax.pcolormesh(
        t_s,
        f_khz,
        psd.values.T,
        shading="nearest",
        cmap="jet",
        vmin=vmin,
        vmax=vmax,
        rasterized=True,
    )
    if truth.any():
        ax.contour(
            t_s, f_khz, truth.values.T.astype(float), levels=[0.5], colors="w", linewidths=1.2
        )
    # latitude ticks: where the pass crosses round latitudes
    lat = sat.latitude.values
    ticks = []
    for la in range(-60, 61, 20):
        i = int(np.argmin(np.abs(lat - la)))
        if abs(lat[i] - la) < 0.5:
            ticks.append((t_s[i], la))
    ax.set_xticks([t for t, _ in ticks])
    ax.set_xticklabels([f"{la}°" for _, la in ticks])
    ax.set_xlabel("geographic latitude")
    mlat = sat.magnetic_latitude.values
    sec = ax.secondary_xaxis("top")
    sec.set_xticks([t for t, _ in ticks])
    sec.set_xticklabels([f"{mlat[int(np.argmin(np.abs(t_s - t)))]:.0f}°" for t, _ in ticks])
    sec.set_xlabel("magnetic latitude (AACGM-v2)")
    ax.set_ylabel("frequency (kHz)")
    ax.set_ylim(0, 25.6)
    fig.colorbar(im, ax=ax, label=f"log10 PSD Ez [{sat.psd.attrs['units'][6:-1]}]")
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

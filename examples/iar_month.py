"""A synthetic IAR month through the shipped U-net: fringe spacing (delta_f) against the truth.

Generates a month of a synthetic ground station (H and D at 100 Hz), builds the cube,
runs ``iar-default`` (which takes the H+D sum), extracts events with their fringes and
compares each event's ``delta_f`` with the generator's median spacing of that night
(:func:`xspecseg.synth.iar_truth_nights`). Events of the first and last night, which the
window cuts, are left out: the truth is a median over the whole night.

Usage::

    python examples/iar_month.py                     # January 2013, seed 21
    python examples/iar_month.py --start 2013-11-01 --days 30 --seed 7

Prints the error statistics and writes nothing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import xspecseg as xs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--start", default="2013-01-01")
    ap.add_argument("--days", type=int, default=31)
    ap.add_argument("--seed", type=int, default=21, help="not a training seed")
    ap.add_argument("--model", default="iar-default")
    ap.add_argument("--min-pixels", type=int, default=200)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    wave = xs.synth.ground_station(start=args.start, days=args.days, seed=args.seed)
    cube = xs.build_cube(wave, xs.CubeConfig.preset("iar"))
    prob = xs.predict(cube.psd, args.model)
    cat = xs.extract_events(prob, psd=cube.psd, min_pixels=args.min_pixels).compute()
    nights = xs.synth.iar_truth_nights(args.start, days=args.days, seed=args.seed).to_dataframe()

    rows = []
    first, last = cube.time.values[0], cube.time.values[-1]
    for k in range(cat.sizes["event"]):
        ev = cat.isel(event=k)
        evening = (ev.peak_time.values - np.timedelta64(12, "h")).astype("M8[D]")
        if evening not in nights.index or not bool(nights.loc[evening, "has_iar"]):
            continue
        if ev.start_time.values <= first or ev.end_time.values >= last:
            continue
        if not np.isfinite(float(ev.delta_f)):
            continue
        rows.append(
            {
                "night": evening,
                "pixels": int(ev.area_pixels),
                "delta_f": float(ev.delta_f),
                "truth": float(nights.loc[evening, "delta_f"]),
            }
        )
    df = pd.DataFrame(rows)
    n_iar = int(nights.has_iar.sum())
    print(
        f"{args.days} days from {args.start}, seed {args.seed}, model {args.model}: "
        f"{cat.sizes['event']} events, {n_iar} IAR nights, {len(df)} events with delta_f "
        f"on {df.night.nunique() if len(df) else 0} nights ({time.perf_counter() - t0:.0f} s)"
    )
    if df.empty:
        return 1
    err = df.delta_f - df.truth
    big = df.pixels >= 1000
    print(
        f"delta_f - truth: mean {err.mean():+.3f} Hz, median |err| {err.abs().median():.3f} Hz, "
        f"{(err.abs() <= 0.05).mean():.0%} within 0.05 Hz, max |err| {err.abs().max():.3f} Hz"
    )
    if big.any():
        e = err[big]
        print(
            f"events >= 1000 px ({int(big.sum())}): median |err| {e.abs().median():.3f} Hz, "
            f"max |err| {e.abs().max():.3f} Hz, mean {e.mean():+.3f} Hz"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

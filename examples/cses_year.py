"""One simulated year of CSES-01 orbits through ``cses-default``, against the configured truth.

Generates every half-orbit of a year (Z component, the paper's anomaly rates), runs the
shipped model (``cses-default``) on each day, catalogues the detections (after the
model's recommended event cuts, see ``xspecseg tune-events``) and compares
their seasonal, hemispheric and magnetic-latitude distributions with the anomalies the
generator was configured to inject. One task per UTC day runs on a Dask cluster; a
day's orbit files are deleted once its catalogue is written, so the disk holds a day
at a time. Each day's catalogue is kept under ``OUTPUT/days/``: a re-run skips finished
days, so an interrupted run resumes (a day made with a different threshold, or a cut
stricter than the model's current ones, is made again; a looser cut is tightened to the
model's with :func:`xspecseg.events.select_events`).

Usage::

    python examples/cses_year.py -o cses-year                 # 365 days from 2021-12-01
    python examples/cses_year.py -o cses-year --every 3       # every 3rd day (docs: validation)
    python examples/cses_year.py -o cses-test --days 4        # a quick look

Writes ``OUTPUT/cses_year_events.nc`` (the detections), ``OUTPUT/cses_year_table.nc``
(the comparison) and PNG figures, and prints the comparison table.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import xspecseg as xs
from xspecseg import plot, stats
from xspecseg.events import EVENT_CUT_KEYS, select_events
from xspecseg.geomag import season_of
from xspecseg.synth.cses import _SEASON_DAYS, CsesParams, cses_anomaly_table

SEASONS = ["DJF", "MAM", "JJA", "SON"]
MAGLAT_BINS = np.arange(50.0, 86.0, 4.0)  # |magnetic latitude|, deg


def one_day(day: str, seed: int, model: str, out: str) -> str:
    """Detect anomalies in the half-orbits starting on ``day``; write their catalogue."""
    from xspecseg.io import read_cses
    from xspecseg.synth import cses_orbits, cses_truth

    dst = Path(out) / "days" / f"{day}.nc"
    if dst.exists() and reusable(xs.open_catalogue(dst).attrs, model_cuts(model)):
        return str(dst)
    # the day is this task's whole job: compute it here (explicitly: inside a worker dask
    # would otherwise send the day's data back to the scheduler as a graph of its own)
    here = {"scheduler": "synchronous"}
    with tempfile.TemporaryDirectory(dir=Path(out)) as tmp:
        files = cses_orbits(start=day, days=1, seed=seed, out_dir=tmp, components=("Z",))
        sat = read_cses(files, component="Z").load()
        prob = xs.predict(sat["psd"], model).compute(**here)
        threshold = float(prob.attrs["threshold"])
        cat = xs.extract_events(prob, psd=sat["psd"], min_pixels=50, compute_kwargs=here)
        # pixel confusion inside the model's band (probabilities are 0 outside), against
        # the truth stored in the files
        lo, hi = xs.models.checkpoint.read_card(model).band
        band = (sat.frequency.values >= lo) & (sat.frequency.values <= hi)
        truth = cses_truth(sat).values[:, band]
        detected = prob.values[:, band] >= threshold
        cat.attrs.update(
            day=day,
            half_orbits=len(files),
            tp=int((detected & truth).sum()),
            fp=int((detected & ~truth).sum()),
            fn=int((~detected & truth).sum()),
        )
        xs.write_catalogue(cat, dst)
    return str(dst)


def model_cuts(model: str) -> dict[str, float]:
    """The event cuts ``model`` recommends (and its threshold)."""
    cfg = xs.models.load(model).xspecseg_config
    keys = ("threshold", *EVENT_CUT_KEYS)
    return {k: float(cfg[k]) for k in keys if cfg.get(k) is not None}


def reusable(day_attrs: dict, cuts: dict[str, float]) -> bool:
    """Whether a finished day's catalogue holds every event the model's cuts pass.

    True when it was made at the same threshold with no cut stricter than the model's
    (the tighter cuts of a retuned model are then applied in :func:`collect`).
    """
    if float(day_attrs.get("threshold", -1.0)) != cuts.get("threshold"):
        return False
    for key in EVENT_CUT_KEYS:
        if key not in day_attrs:
            continue
        if key not in cuts:
            return False
        made, now = float(day_attrs[key]), cuts[key]
        if (made < now) if key.startswith("max_") else (made > now):
            return False
    return True


def collect(paths: list[str], model: str) -> tuple[xr.Dataset, dict[str, int]]:
    cuts = {k: v for k, v in model_cuts(model).items() if k != "threshold"}
    cats, totals = [], {"tp": 0, "fp": 0, "fn": 0, "half_orbits": 0}
    for p in paths:
        c = select_events(xs.open_catalogue(p).load(), **cuts)
        for k in totals:
            totals[k] += int(c.attrs[k])
        if c.sizes["event"]:
            cats.append(c.drop_vars("event", errors="ignore"))
    cat = xr.concat(cats, dim="event", combine_attrs="drop_conflicts") if cats else None
    if cat is not None:
        cat = cat.assign_coords(event=np.arange(cat.sizes["event"]))
    return cat, totals


def match(cat: xr.Dataset, truth: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Which detections overlap an injected anomaly in time, and which anomalies are found."""
    ds, de = cat.start_time.values, cat.end_time.values
    ts = truth.start_time.values.astype("M8[ns]")
    te = truth.end_time.values.astype("M8[ns]")
    overlap = (ds[:, None] <= te[None, :]) & (de[:, None] >= ts[None, :])
    return overlap.any(axis=1), overlap.any(axis=0)


def table(
    cat: xr.Dataset, truth: pd.DataFrame, days: pd.DatetimeIndex, params: CsesParams
) -> xr.Dataset:
    det_hit, found = match(cat, truth)
    seasonal = stats.seasonal_distribution(cat)
    truth_cat = xr.Dataset(
        {
            "peak_time": ("event", truth.time.values.astype("M8[ns]")),
            "latitude": ("event", truth.latitude.values),
            "magnetic_latitude": ("event", truth.magnetic_latitude.values),
        }
    )
    seasonal_truth = stats.seasonal_distribution(truth_cat)
    # the generator's expected count: each day draws season_counts / days-in-season
    day_seasons = pd.Series(season_of(days.values))
    per_season = {s: float((day_seasons == s).sum()) for s in SEASONS}
    configured = xr.DataArray(
        [
            [
                params.season_counts[s] * per_season[s] / _SEASON_DAYS[s] * f
                for f in (params.north_fraction, 1 - params.north_fraction)
            ]
            for s in SEASONS
        ],
        dims=("season", "hemisphere"),
        coords={"season": SEASONS, "hemisphere": ["N", "S"]},
    )
    mlat = stats.maglat_distribution(
        cat.assign(magnetic_latitude=np.abs(cat.magnetic_latitude)), MAGLAT_BINS
    )
    mlat_truth = stats.maglat_distribution(
        truth_cat.assign(magnetic_latitude=np.abs(truth_cat.magnetic_latitude)), MAGLAT_BINS
    )
    out = xr.Dataset(
        {
            "configured": configured,
            "injected": seasonal_truth["count"].reindex_like(configured, fill_value=0),
            "detected": seasonal["count"].reindex_like(configured, fill_value=0),
            "detected_true": stats.seasonal_distribution(cat.isel(event=det_hit))[
                "count"
            ].reindex_like(configured, fill_value=0),
            "maglat_injected": mlat_truth["count"].rename(
                {mlat_truth["count"].dims[0]: "abs_maglat"}
            ),
            "maglat_detected": mlat["count"].rename({mlat["count"].dims[0]: "abs_maglat"}),
        },
        attrs={
            "detections": int(cat.sizes["event"]),
            "detections_matching_an_anomaly": int(det_hit.sum()),
            "anomalies_injected": len(truth),
            "anomalies_found": int(found.sum()),
        },
    )
    return out


def report(tab: xr.Dataset, totals: dict[str, int]) -> str:
    lines = ["season  hemi  configured  injected  detected  (matching an anomaly)"]
    for s in SEASONS:
        for h in ("N", "S"):
            sel = dict(season=s, hemisphere=h)
            lines.append(
                f"{s:6s}  {h:4s}  {float(tab.configured.sel(sel)):10.1f}  "
                f"{int(tab.injected.sel(sel)):8d}  {int(tab.detected.sel(sel)):8d}  "
                f"({int(tab.detected_true.sel(sel))})"
            )
    for name in ("configured", "injected", "detected"):
        v = tab[name]
        north = float(v.sel(hemisphere="N").sum() / v.sum())
        shares = " ".join(f"{s} {float(v.sel(season=s).sum() / v.sum()):.3f}" for s in SEASONS)
        lines.append(f"{name:10s}: total {float(v.sum()):6.1f}, north {north:.3f}, {shares}")
    lines.append("|maglat| bin   injected  detected")
    edges = MAGLAT_BINS
    for k in range(tab.sizes["abs_maglat"]):
        lines.append(
            f"{edges[k]:4.0f}-{edges[k + 1]:2.0f} deg  {int(tab.maglat_injected[k]):8d}  "
            f"{int(tab.maglat_detected[k]):8d}"
        )
    tp, fp, fn = totals["tp"], totals["fp"], totals["fn"]
    lines.append(
        f"{totals['half_orbits']} half-orbits; {tab.attrs['anomalies_found']} of "
        f"{tab.attrs['anomalies_injected']} injected anomalies found; "
        f"{tab.attrs['detections_matching_an_anomaly']} of {tab.attrs['detections']} "
        f"detections overlap one; pixel IoU {tp / max(tp + fp + fn, 1):.3f}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--start", default="2021-12-01", help="first UTC day (default: %(default)s)")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument(
        "--every",
        type=int,
        default=1,
        help="process every N-th day only (the expectation and the injected truth are "
        "taken over the same days; default: every day)",
    )
    ap.add_argument("--seed", type=int, default=2024, help="not a training seed")
    ap.add_argument("--model", default="cses-default")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    args = ap.parse_args(argv)

    from dask.distributed import as_completed
    from tqdm import tqdm

    from xspecseg.cluster import dask_client

    out = Path(args.output)
    (out / "days").mkdir(parents=True, exist_ok=True)
    dates = pd.date_range(args.start, periods=args.days, freq="D")[:: args.every]
    days = [str(d.date()) for d in dates]
    t0 = time.perf_counter()
    with dask_client(args.scheduler, args.workers) as client:
        futures = client.map(one_day, days, seed=args.seed, model=args.model, out=str(out))
        paths = []
        for fut in tqdm(as_completed(futures), total=len(futures), desc="days", unit="day"):
            paths.append(fut.result())
    elapsed = time.perf_counter() - t0
    for leftover in out.glob("tmp*"):
        shutil.rmtree(leftover, ignore_errors=True)

    cat, totals = collect(sorted(paths), args.model)
    if cat is None:
        print("no detections")
        return 1
    if args.every == 1:
        truth = cses_anomaly_table(args.start, days=args.days, seed=args.seed)
    else:  # the anomalies of the processed days only
        truth = pd.concat(
            [cses_anomaly_table(d, days=1, seed=args.seed) for d in days], ignore_index=True
        )
    params = CsesParams()
    tab = table(cat, truth, dates, params)
    xs.write_catalogue(cat, out / "cses_year_events.nc", attrs={"model": args.model})
    tab.attrs.update({k: int(v) for k, v in totals.items()})
    # netCDF has no interval type: label the |maglat| bins by their centres
    centres = 0.5 * (MAGLAT_BINS[:-1] + MAGLAT_BINS[1:])
    tab.assign_coords(abs_maglat=("abs_maglat", centres, {"units": "degrees"})).to_netcdf(
        out / "cses_year_table.nc"
    )
    plot.seasonal_counts(stats.seasonal_distribution(cat), path=out / "seasonal_counts.png")
    plot.maglat_histogram(
        stats.maglat_distribution(cat, np.arange(-90, 91, 4)), path=out / "maglat_histogram.png"
    )
    plot.event_map(cat, path=out / "event_map.png")
    print(f"{args.days} days from {args.start}, seed {args.seed}, model {args.model}: "
          f"{elapsed / 60:.1f} min")  # fmt: skip
    print(report(tab, totals))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

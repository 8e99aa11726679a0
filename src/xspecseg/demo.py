"""The whole chain on embedded synthetic data: ``xspecseg demo`` / ``make demo``.

Ground: a synthetic station (two weeks) -> cube -> ``predict`` with the shipped IAR U-net
-> events with fringe spacing -> distributions -> figures. Satellite: a week of synthetic
CSES-01 orbits -> cses-default -> catalogue -> seasonal and magnetic-latitude distributions ->
figures. Everything lands in one output folder; a summary says what was found, the IoU
against the synthetic truth and where every output is.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import stats, synth
from .catalogue import write_catalogue
from .cluster import compute_on
from .config import CubeConfig
from .cube import build_cube, open_cube, select_component, write_cube
from .events import extract_events
from .infer import night_spans, open_probability, predict, write_probability
from .io import read_cses

# The demo's data are generated with seeds the shipped models never saw in training.
GROUND_SEED = 7
CSES_SEED = 7


@dataclass
class Summary:
    lines: list[str] = field(default_factory=list)
    outputs: list[tuple[str, Path]] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.lines.append(text)
        print(text, flush=True)

    def output(self, what: str, path: Path) -> None:
        self.outputs.append((what, Path(path)))


def _iou(pred: np.ndarray, truth: np.ndarray) -> float:
    from .models.metrics import ConfusionMatrix  # optional extra: torch

    cm = ConfusionMatrix()
    cm.update(pred, truth)
    return float(cm.iou())


def ground_chain(out: Path, days: int, client: Any, progress: bool, summary: Summary) -> None:
    from . import plot  # optional extra: matplotlib

    t0 = time.perf_counter()
    wave = synth.ground_station(start="2013-01-20", days=days, seed=GROUND_SEED)
    cube_path = out / "ground_cube.zarr"
    write_cube(build_cube(wave, CubeConfig.preset("iar")), cube_path, progress=progress,
               client=client)  # fmt: skip
    cube = open_cube(cube_path)
    psd = select_component(cube, "H+D")  # iar-default's input: the horizontal PSD
    prob_path = out / "ground_probability.zarr"
    with warnings.catch_warnings():
        # whole days from 00 UT: the half nights at the record's ends are examined as nights
        # with a gap, which predict says; the demo scores the complete nights
        warnings.filterwarnings("ignore", "night.s. cut short", UserWarning)
        prob = predict(psd, "iar-default")
    write_probability(prob, prob_path, progress=progress, client=client)
    prob = open_probability(prob_path)
    threshold = float(prob.attrs["threshold"])

    truth = synth.iar_truth(cube).values
    detected = prob.values >= threshold
    spans = night_spans(cube.time.values, ("18:00", "06:00"))
    night = np.zeros(cube.sizes["time"], bool)
    for s, e in spans:
        night[s:e] = True
    iou = _iou(detected[night], truth[night])
    nights = synth.iar_truth_nights(start="2013-01-19", days=days + 1, seed=GROUND_SEED)
    has_iar = nights["has_iar"].to_series()
    free = [
        (s, e) for s, e in spans
        if not has_iar[cube.time.values[s].astype("datetime64[D]")]
    ]  # fmt: skip
    fp = [detected[s:e].mean() for s, e in free]

    cat = extract_events(prob, psd=psd)
    cat_path = write_catalogue(cat, out / "ground_events.nc",
                               attrs={"model": "iar-default", "threshold": threshold,
                                      "input_cube": str(cube_path)})  # fmt: skip
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    s, e = max(spans, key=lambda span: truth[span[0] : span[1]].sum())  # the richest night
    plot.quicklook(psd.isel(time=slice(s, e)).sel(frequency=slice(0, 8)).load(),
                   detections=prob.isel(time=slice(s, e)).sel(frequency=slice(0, 8)) >= threshold,
                   truth=xr.DataArray(truth[s:e], dims=("time", "frequency"),
                                      coords={"time": psd.time[s:e],
                                              "frequency": psd.frequency}).sel(
                                                  frequency=slice(0, 8)),
                   title="synthetic night (held-out seed), shipped IAR U-net, outlined",
                   path=figs / "ground_night_quicklook.png")  # fmt: skip
    dfs = cat["delta_f"].values if "delta_f" in cat else np.array([])
    if cat.sizes["event"]:
        freq = stats.frequency_distribution(cat, np.arange(0.0, 8.01, 0.5))
        plot.frequency_histogram(freq, path=figs / "ground_frequency_histogram.png")
        summary.output("figure: IAR peak frequencies", figs / "ground_frequency_histogram.png")
    summary.add(
        f"ground: {days} days of synthetic H/D at 100 Hz -> cube -> iar-default: "
        f"{len(spans)} nights, {cat.sizes['event']} IAR events, median delta_f "
        f"{np.nanmedian(dfs) if np.isfinite(dfs).any() else float('nan'):.2f} Hz; "
        f"night IoU vs truth {iou:.3f}; false positives on {len(free)} IAR-free night(s) "
        f"{100 * float(np.mean(fp)) if fp else float('nan'):.2f} % of pixels "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    summary.output("ground spectrogram cube (zarr)", cube_path)
    summary.output("ground probabilities (zarr)", prob_path)
    summary.output("ground event catalogue (netCDF)", Path(cat_path))
    summary.output("figure: a night with TP/FP/FN", figs / "ground_night_quicklook.png")


def cses_chain(out: Path, days: float, client: Any, progress: bool, summary: Summary) -> None:
    from . import plot  # optional extra: matplotlib
    from .models.checkpoint import read_card  # optional extra: torch

    t0 = time.perf_counter()
    orbit_dir = out / "cses_orbits"
    synth.cses_orbits(start="2022-04-01", days=days, seed=CSES_SEED, out_dir=orbit_dir,
                      components=("Z",), rate_scale=10.0)  # fmt: skip
    sat = read_cses(orbit_dir, component="Z")
    truth = synth.cses_truth(sat)
    prob_path = out / "cses_probability.zarr"
    write_probability(predict(sat["psd"], "cses-default"), prob_path, progress=progress,
                      client=client)  # fmt: skip
    prob, model = open_probability(prob_path), "cses-default (DeepLabV3+)"
    lo, hi = read_card("cses-default").band  # probabilities are 0 outside
    band = (sat.frequency.values >= lo) & (sat.frequency.values <= hi)
    detected = prob.values >= float(prob.attrs["threshold"])
    iou_text = f"{_iou(detected[:, band], truth.values[:, band]):.3f}"
    summary.output("CSES probabilities (zarr)", prob_path)
    threshold = float(prob.attrs["threshold"])
    cat = extract_events(prob, psd=sat["psd"], min_pixels=50)
    cat_path = write_catalogue(cat, out / "cses_events.nc",
                               attrs={"model": model, "threshold": threshold,
                                      "input_cube": str(orbit_dir)})  # fmt: skip
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    seasonal = stats.seasonal_distribution(cat)
    plot.seasonal_counts(seasonal, path=figs / "cses_seasonal_counts.png")
    maglat = stats.maglat_distribution(cat, np.arange(-90, 91, 4))
    plot.maglat_histogram(maglat, path=figs / "cses_maglat_histogram.png")
    plot.event_map(cat, path=figs / "cses_event_map.png")
    n_files = len(list(orbit_dir.glob("*.h5")))
    north = int(seasonal["count"].sel(hemisphere="N").sum())
    summary.add(
        f"CSES-01: {days:g} days, {n_files} half-orbit files -> {model}: "
        f"{cat.sizes['event']} anomaly regions after the model's event cuts ({north} north); "
        f"pixel IoU vs truth {iou_text} "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    summary.output("CSES half-orbit files (HDF5, EFD level-2 layout)", orbit_dir)
    summary.output("CSES event catalogue (netCDF)", Path(cat_path))
    summary.output("figure: CSES seasons x hemispheres", figs / "cses_seasonal_counts.png")
    summary.output("figure: CSES magnetic latitudes", figs / "cses_maglat_histogram.png")
    summary.output("figure: CSES event map", figs / "cses_event_map.png")


def run_demo(
    output: str | Path = "xspecseg-demo",
    *,
    ground_days: int = 14,
    cses_days: float = 7.0,
    workers: int | None = None,
    progress: bool = True,
) -> Summary:
    """Run both chains; return (and print) the summary.

    Where it runs follows the command line's rule (:func:`xspecseg.cluster.choose`):
    ``workers`` > 1 starts a ``LocalCluster``; by default a demo of up to
    :data:`xspecseg.cluster.SMALL_JOB_DAYS` days runs in this process, a longer one on
    a ``LocalCluster`` with one worker per core.

    Examples
    --------
    >>> # not run in the test suite: the whole chain, data to figures, is too slow for it
    >>> summary = run_demo("demo", ground_days=3, cses_days=1)  # doctest: +SKIP
    >>> cube = dict(summary.outputs)["ground spectrogram cube (zarr)"]  # doctest: +SKIP
    """
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    summary = Summary()
    t0 = time.perf_counter()
    with compute_on(None, workers, days=max(ground_days, cses_days)) as client:
        ground_chain(out, ground_days, client, progress, summary)
        cses_chain(out, cses_days, client, progress, summary)
    print()
    print(f"xspecseg demo finished in {time.perf_counter() - t0:.0f} s")
    for line in summary.lines:
        print(f"  {line}")
    print("outputs:")
    for what, path in summary.outputs:
        print(f"  {what}: {path.resolve()}")
    return summary

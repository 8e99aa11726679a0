"""Chunk-wise segmentation of spectrogram cubes on Dask: seam-free, model loaded once.

``predict`` turns a (time, frequency) PSD into a lazy ``probability`` DataArray on the same
grid. Two ways to cut the record into network inputs, both independent of the chunking and
both cut by :mod:`xspecseg.imageunits`, the cutters training uses:

* **images** — when the model's checkpoint names an image unit (IAR nights, e.g.
  18:00–06:00 UT across midnight; CSES half-orbits), every image is cut whole from the
  record and segmented on its own, exactly as in training. Outside the images the
  probability is 0 (not evaluated).
* **tiles** — otherwise (a bare ``nn.Module``, a model without a window) the whole time axis
  is one image, cut into overlapping tiles whose halo covers the network's receptive field
  and whose offsets are multiples of its total down-sampling factor, so the result equals a
  whole-image run. Models with global operations (global pooling attention) cannot be tiled
  exactly and need an image unit.

Where the PSD is NaN (no data) the probability is NaN. The model reaches every worker once:
a checkpoint path or shipped name travels as a string (the client reads only its
``config.json``, the model card; the workers load the weights), an in-memory model as one
serialised copy in the graph, and each worker process keeps the built model in a cache.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import os
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import dask
import dask.array as da
import numpy as np
import xarray as xr
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph
from dask.system import cpu_count

from . import _store
from ._chunks import halo_map
from ._compute import fuse_private_inputs
from ._optional import needs_extra
from ._provenance import append_history, history_line, sha256_file
from ._version import __version__
from .cluster import worker_io_threads
from .contract import Architecture, InputRepresentation, ModelCard, architecture_of, card_of
from .cube import select_component

# night_spans and orbit_spans stay importable from here for code written before the
# cutters moved to xspecseg.imageunits
from .imageunits import (  # noqa: F401
    DEFAULT_NIGHT,
    night_images,
    night_spans,
    orbit_spans,
    tile_geometry,
    tile_spans,
)

__all__ = [
    "PROVENANCE_ATTRS",
    "ModelSource",
    "open_probability",
    "predict",
    "verify_probability",
    "write_probability",
]


# ----------------------------------------------------------------------------------------
# the model, once per worker process
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSource:
    """A picklable, hashable way to obtain a model on any worker.

    ``kind`` is ``"name"`` (a shipped model), ``"path"`` (a checkpoint) or ``"object"``
    (a model in memory, identified by a hash of its weights; it travels inside this object,
    which the graph holds once, so each worker receives it once).
    """

    kind: Literal["name", "path", "object"]
    ref: str
    obj: Any = field(default=None, repr=False, compare=False)

    def __hash__(self) -> int:
        return hash((self.kind, self.ref))

    def __dask_tokenize__(self):
        return ("xspecseg.ModelSource", self.kind, self.ref)


_CACHE: dict[tuple[str, str, str], Any] = {}
# a bare nn.Module without a card: log10 of the PSD, no band, tiles
_BARE_CARD = ModelCard(architecture="")
_CACHE_LOCK = threading.Lock()


def _build(source: ModelSource, device: str):
    if source.kind in ("name", "path"):
        from .models import load  # optional extra: torch

        model = load(source.ref, device=device)
    else:
        import copy

        model = copy.deepcopy(source.obj).to(device)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def cached_model(source: ModelSource, device: str):
    """The model for ``source`` on ``device``, built at most once per process."""
    key = (source.kind, source.ref, device)
    with _CACHE_LOCK:
        model = _CACHE.get(key)
        if model is None:
            model = _build(source, device)
            _CACHE[key] = model
    return model


def _source_of(model: Any) -> tuple[ModelSource, dict, ModelCard | None]:
    """(source, config dict, card) of a model, checkpoint path or shipped name.

    A path or a name is not loaded: only its ``config.json`` is read (the workers load the
    weights). The card is None for a bare module without one.
    """
    if isinstance(model, str | os.PathLike):
        from .models.checkpoint import read_config  # optional extra: torch
        from .models.registry import check_checkpoint_kwargs  # optional extra: torch

        ref = os.fspath(model)
        config = read_config(ref)
        # refuse a config the workers could not build now, not when the graph runs
        check_checkpoint_kwargs(config["name"], config["kwargs"])
        kind = "path" if os.path.exists(ref) else "name"
        if kind == "path":
            ref = os.path.abspath(ref)
        return ModelSource(kind, ref), config, ModelCard.from_config(config)
    with needs_extra("models"):
        import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, a checkpoint path or a shipped name, "
            f"got {type(model).__name__}"
        )
    card = card_of(model)
    config = card.to_config() if card is not None else {}
    # the whole pickled module, not only its weights: two models may share weights but
    # differ in structure or flags, and the per-process cache must tell them apart
    import pickle

    try:
        digest = hashlib.sha256(pickle.dumps(model))
    except Exception:  # unpicklable (works with the local scheduler only)
        digest = hashlib.sha256(f"{type(model).__qualname__}-{id(model)}".encode())
        for name, value in model.state_dict().items():
            digest.update(name.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return ModelSource("object", digest.hexdigest()[:24], obj=model), config, card


def _architecture(source: ModelSource, card: ModelCard) -> Architecture:
    """What tiling needs to know of the network (built without weights for a checkpoint)."""
    if source.kind == "object":
        return architecture_of(source.obj)
    from .models import get_model  # optional extra: torch

    return architecture_of(get_model(card.architecture, **card.kwargs))


# ----------------------------------------------------------------------------------------
# running the network on numpy images
# ----------------------------------------------------------------------------------------
_HOST_THREADS: dict[str, int] = {}
_GATES: dict[str, threading.BoundedSemaphore] = {}
_GATES_LOCK = threading.Lock()


def _current_worker() -> Any:
    """The distributed worker running this task, or None."""
    try:
        from distributed import get_worker
    except ImportError:
        return None
    try:
        return get_worker()
    except ValueError:  # not inside a distributed worker
        return None


def _lanes(nthreads: int, io: int) -> int:
    """Network passes a worker of ``nthreads`` threads, ``io`` of them for I/O, runs at once."""
    return max(1, int(nthreads) - io)


def _worker_share() -> int | None:
    """Cores per network lane on this host, counting every worker of the cluster here."""
    worker = _current_worker()
    if worker is None:
        return None
    key = worker.address
    if key not in _HOST_THREADS:
        host = worker.address.rsplit(":", 1)[0]
        # the workers of one host are assumed alike (a LocalCluster's are)
        io = worker_io_threads()
        try:
            infos = worker.client.scheduler_info(n_workers=-1)["workers"].values()
            lanes = sum(_lanes(w["nthreads"], io) for w in infos if w["host"] in host)
        except Exception:  # an older scheduler: assume this worker is alone
            lanes = _lanes(worker.state.nthreads, io)
        # the cores this process may use (affinity, cgroup quota), not the host's: a
        # worker pinned to a few cores of a large node must not start a thread per core
        _HOST_THREADS[key] = max(1, cpu_count() // max(1, lanes))
    return _HOST_THREADS[key]


def _network_gate() -> Any:
    """Hold while a task runs the network: on a worker with I/O threads
    (:func:`xspecseg.cluster.worker_io_threads`), at most its other threads' count of
    passes at once, so that the I/O threads read, sum and write the neighbouring chunks
    instead of running a second network beside the first."""
    io = worker_io_threads()
    worker = _current_worker() if io else None
    if worker is None:
        return contextlib.nullcontext()
    with _GATES_LOCK:
        if worker.address not in _GATES:
            _GATES[worker.address] = threading.BoundedSemaphore(_lanes(worker.state.nthreads, io))
        return _GATES[worker.address]


def _torch_threads(threads: int | None) -> None:
    """Give torch this task's share of the cores, so that workers do not oversubscribe."""
    with needs_extra("models"):
        import torch

    if threads is None:
        threads = _worker_share()
    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _forward(model, images: list[np.ndarray], device: str, batch_size: int, amp: bool):
    """Probabilities for a list of 2-D images; equal shapes go through in batches."""
    with needs_extra("models"):
        import torch

    out: list[np.ndarray | None] = [None] * len(images)
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, img in enumerate(images):
        by_shape.setdefault(img.shape, []).append(i)
    dev = torch.device(device)
    for idx in by_shape.values():
        for k in range(0, len(idx), batch_size):
            part = idx[k : k + batch_size]
            batch = torch.from_numpy(np.stack([images[i] for i in part])[:, None]).to(dev)
            with torch.inference_mode():
                if amp and dev.type == "cuda":
                    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
                    with torch.autocast("cuda", dtype=dtype):
                        logits = model(batch)
                else:
                    logits = model(batch)
                logits = logits.float()
                prob = (
                    torch.sigmoid(logits[:, 0])
                    if logits.shape[1] == 1
                    else (torch.softmax(logits, dim=1)[:, 1])
                )
            prob = prob.cpu().numpy()
            for j, i in enumerate(part):
                out[i] = prob[j]
    return out


def _tile_block(
    block: np.ndarray,
    *,
    left: int,
    right: int,
    offset: int,
    source: ModelSource,
    representation: InputRepresentation,
    band: slice,
    tile: int,
    tile_halo: int,
    total: int,
    device: str,
    batch_size: int,
    amp: bool,
    threads: int | None,
) -> np.ndarray:
    """Probabilities for the rows ``[offset + left, offset + n - right)`` of the image."""
    _torch_threads(threads)
    model = cached_model(source, device)
    a = offset + left
    b = offset + block.shape[0] - right
    tiles = tile_spans(a, b, total, tile, tile_halo)
    with _network_gate():
        x = representation(block[:, band])
        images = [x[t.lo - offset : t.hi - offset] for t in tiles]
        probs = _forward(model, images, device, batch_size, amp)
    out = np.zeros((b - a, block.shape[1]), np.float32)
    for t, p in zip(tiles, probs, strict=True):
        keep0, keep1 = max(t.t0, a), min(t.t1, b)
        out[keep0 - a : keep1 - a, band] = p[keep0 - t.lo : keep1 - t.lo]
    out[np.isnan(block[left : block.shape[0] - right])] = np.nan
    return out


def _image_block(
    block: np.ndarray,
    *,
    spans: tuple[tuple[int, ...], ...],
    band: slice,
    source: ModelSource,
    representation: InputRepresentation,
    device: str,
    batch_size: int,
    amp: bool,
    threads: int | None,
) -> np.ndarray:
    """Probabilities for whole images ``spans`` (row ranges within ``block``); 0 elsewhere.

    A span ``(start, stop, before, after)`` is a night cut short by the record's ends: the
    network sees it with ``before`` and ``after`` rows without data (gaps) around it. The
    block holds every frequency, so the task masks NaN input itself and nothing has to read
    the cube a second time.
    """
    out = np.zeros(block.shape, np.float32)
    if spans:
        pads = [(sp[2], sp[3]) if len(sp) > 2 else (0, 0) for sp in spans]
        _torch_threads(threads)
        model = cached_model(source, device)
        with _network_gate():
            # each image unit whole: a relative representation's backgrounds are its own
            images = [
                representation(_pad_rows(block[sp[0] : sp[1], band], pad))
                for sp, pad in zip(spans, pads, strict=True)
            ]
            probs = _forward(model, images, device, batch_size, amp)
        for sp, (before, _), p in zip(spans, pads, probs, strict=True):
            out[sp[0] : sp[1], band] = p[before : before + sp[1] - sp[0]]
    out[np.isnan(block)] = np.nan
    return out


def _pad_rows(image: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    if pad == (0, 0):
        return image
    return np.pad(image, (pad, (0, 0)), constant_values=np.nan)


# ----------------------------------------------------------------------------------------
# the public wrapper
# ----------------------------------------------------------------------------------------
def _device(device: str | None) -> str:
    if device:
        return device
    with needs_extra("models"):
        import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _band_slice(data: xr.DataArray, band) -> slice:
    f = data["frequency"].values
    if band is None:
        return slice(0, f.size)
    lo, hi = float(band[0]), float(band[1])
    df = float(np.median(np.diff(f))) if f.size > 1 else 0.0
    # a band edge between two bins is covered when the grid reaches within one bin of it
    if f[0] > lo + df + 1e-9 or f[-1] < hi - df - 1e-9:
        raise ValueError(
            f"the model works on {lo:g}-{hi:g} Hz but the data cover "
            f"{f[0]:g}-{f[-1]:g} Hz: build the cube with a frequency crop that holds the band"
        )
    idx = np.flatnonzero((f >= lo - 1e-9) & (f <= hi + 1e-9))
    return slice(int(idx[0]), int(idx[-1]) + 1)


def predict(
    data: xr.DataArray | xr.Dataset,
    model: Any,
    *,
    batch_size: int | None = None,
    device: str | None = None,
    tile: int | None = None,
    halo: int | None = None,
    image_unit: Literal["auto", "night", "half_orbit", "none"] = "auto",
    amp: bool = False,
    threads: int | None = None,
) -> xr.DataArray:
    """Lazy segmentation probabilities of a (time, frequency) spectrogram.

    Parameters
    ----------
    data : xr.DataArray
        PSD with dims ``(time, frequency)`` (one component of a cube, or a satellite
        cube's ``psd``), dask-backed or not; any chunking along ``time``. A cube's
        ``(component, time, frequency)`` PSD is accepted when the model's config names
        its input ``component``: that one is taken, or the sum of several for a model
        trained on summed PSDs (``"H+D"``, see :func:`xspecseg.cube.select_component`).
    model : torch.nn.Module, path or str
        A loaded model, a checkpoint path or a shipped name (``"iar-default"``). The
        checkpoint config decides normalisation, frequency band and image unit; a bare
        module gets log10 of the PSD, no band and tiling.
    batch_size : int, optional
        Images or tiles per forward pass, and per task. Default: as many as hold at most
        2**19 input pixels, at least one (4 IAR nights of 432 x 246, one
        CSES half-orbit of about 1000 x 501). On a CPU a larger pass is not faster per
        image, and a worker's memory grows with it.
    device : str, optional
        ``"cuda"`` when available, else ``"cpu"``.
    tile, halo : int, optional
        Tiling along time for models without an image unit: tile length and halo rows
        (rounded up to the down-sampling factor; the halo defaults to the receptive field).
    image_unit : {"auto", "night", "half_orbit", "none"}
        ``"auto"`` takes it from the checkpoint (``night_window`` -> nights,
        ``image_unit="half_orbit"``), else tiles.
    amp : bool
        Mixed precision (bf16/fp16 autocast) on CUDA.
    threads : int, optional
        torch threads per task; default: the cores divided among the network lanes of
        the workers on the host (a worker's threads less its I/O threads, see below).

    Returns
    -------
    xr.DataArray
        ``probability`` float32 on the input grid, lazy, chunked like the input. NaN where
        the PSD is NaN; 0 outside the model's band and, with an image unit, outside images.

    Notes
    -----
    On a distributed worker with I/O threads (``local_cluster(n, io_threads=1)``, as
    ``xspecseg predict`` starts; or ``DASK_XSPECSEG__IO_THREADS`` in the environment of
    your own workers, see :func:`xspecseg.cluster.worker_io_threads`), at most the
    worker's other threads run the network at once; the I/O threads meanwhile read and
    sum the next chunks and encode and write the finished ones, which a single-threaded
    worker does between two network passes.

    Examples
    --------
    >>> import xspecseg as xs
    >>> from xspecseg.testing import random_waveform
    >>> wave = random_waveform(hours=1)  # components H and D
    >>> _ = xs.write_cube(xs.build_cube(wave, xs.CubeConfig.preset("iar")), "site.zarr",
    ...                   progress=False)
    >>> cube = xs.open_cube("site.zarr")
    >>> prob = xs.predict(cube.psd, "iar-default")  # its input: H+D
    >>> prob.dims
    ('time', 'frequency')
    """
    source, _, carried = _source_of(model)
    card = carried or _BARE_CARD
    data = _model_input(data, card).transpose("time", "frequency")
    dev = _device(device)
    band = _band_slice(data, card.band)
    _check_grid(card, band)
    arr = data.data if isinstance(data.data, da.Array) else da.from_array(np.asarray(data.data))
    arr = arr.rechunk({1: -1})
    unit = card.image_unit if image_unit == "auto" else image_unit
    if unit == "none" and card.representation.needs_whole_units:
        raise ValueError(
            f"the model's input representation ({card.representation.method}) is computed "
            "over whole image units and cannot be tiled: use image_unit='night' or "
            "'half_orbit'"
        )
    if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None; got {batch_size!r}")
    kwargs = dict(
        source=dask.delayed(source, pure=True),  # one copy of the model per worker
        band=band,
        representation=card.representation,
        device=dev,
        batch_size=batch_size,
        amp=amp,
        threads=threads,
    )
    width = band.stop - band.start
    if unit in ("night", "half_orbit"):
        spans = _images(card, data, unit)
        rows = max((sp[1] - sp[0] + sum(sp[2:]) for sp in spans), default=1)
        kwargs["batch_size"] = batch_size or _auto_batch(rows * width)
        # rows of a group of whole images, from the images' spacing (the record's first
        # and last night may be cut short)
        step = np.diff([sp[0] for sp in spans])
        extent = kwargs["batch_size"] * np.median(step) if step.size else arr.shape[0]
        blocks = _fused(_merged(arr, int(extent)))  # one graph pass for both
        prob = _predict_images(blocks, spans, kwargs, out_chunks=arr.chunks[0])
    elif unit == "none":
        tile_n, halo_n = _tiling(source, card, tile, halo)
        kwargs["batch_size"] = batch_size or _auto_batch((tile_n + 2 * halo_n) * width)
        prob = _predict_tiles(_fused(arr), tile_n, halo_n, kwargs)
    else:
        raise ValueError(f"unknown image_unit {image_unit!r}")
    prob = prob.rechunk((arr.chunks[0], -1))
    threshold = card.threshold if carried is not None else getattr(model, "threshold", 0.5)
    return _probability(prob, data, model, source, card, unit, float(threshold))


def _fused(arr: da.Array) -> da.Array:
    """``arr`` with each chunk's reading done by the task that makes the chunk.

    A time chunk of a cube's summed PSD is four tasks in xarray's graph (two zarr
    getters, a block of times, the sum), more after a selection (``isel``, ``sel``: a
    slice per step), and one here: every task that only this chunk uses, however deep
    (see :func:`xspecseg._compute.fuse_private_inputs`). Same keys, same values.
    """
    keys = list(dask.core.flatten(arr.__dask_keys__()))
    dsk = fuse_private_inputs(arr.__dask_optimize__(arr.__dask_graph__(), keys), keys, deep=True)
    graph = HighLevelGraph.from_collections(arr.name, dsk, dependencies=())
    return da.Array(graph, arr.name, chunks=arr.chunks, meta=arr._meta)


def _merged(arr: da.Array, rows: int) -> da.Array:
    """``arr`` with runs of consecutive time chunks joined into blocks of at most ``rows``
    rows (a chunk longer than that stays whole).

    Blocks of about an image group's rows are read by one task each instead of one per
    chunk: a day of a cube is a chunk, and a group holds four nights.
    """
    blocks: list[int] = []
    for c in arr.chunks[0]:
        if blocks and blocks[-1] + c <= rows:
            blocks[-1] += c
        else:
            blocks.append(c)
    return arr if len(blocks) == len(arr.chunks[0]) else arr.rechunk({0: tuple(blocks)})


def _images(card: ModelCard, data: xr.DataArray, unit: str) -> list[tuple[int, ...]]:
    """The model's images in the record; nights cut short by its ends too, with a warning."""
    if unit != "night":
        return list(card.image_spans(data, unit))
    window = card.night_window or DEFAULT_NIGHT
    spans = night_images(data["time"].values, window)
    cut = [sp for sp in spans if sp[2] or sp[3]]
    if cut:
        t = data["time"].values
        said = ", ".join(
            f"{str(t[s])[:16]}–{str(t[e - 1])[:16]} ({e - s} of {e - s + b + a} rows)"
            for s, e, b, a in cut
        )
        warnings.warn(
            f"night(s) cut short by the record's start or end: {said}; each is examined as "
            "a whole night with the missing rows as a gap (its result would change if the "
            "record were extended)",
            stacklevel=3,
        )
    return spans


#: input pixels per forward pass that :func:`predict` batches up to by default
BATCH_PIXELS = 2**19


def _auto_batch(pixels_per_image: int) -> int:
    """Images per forward pass holding at most :data:`BATCH_PIXELS` pixels, at least 1."""
    return max(1, BATCH_PIXELS // max(1, int(pixels_per_image)))


def _check_grid(card: ModelCard, band: slice) -> None:
    """Refuse data on another frequency grid than the model was trained on."""
    if card.frequency_bins is not None and band.stop - band.start != card.frequency_bins:
        raise ValueError(
            f"the model was trained on {card.frequency_bins} frequency bins over "
            f"{card.band} Hz, the data have {band.stop - band.start} there: the cube's "
            "frequency resolution differs from the training cubes'; build the cube with the "
            "model's grid (for the IAR models: xs.CubeConfig.preset('iar'), resampling the "
            "record to 100 Hz if it has another rate)"
        )


def _tiling(
    source: ModelSource, card: ModelCard, tile: int | None, halo: int | None
) -> tuple[int, int]:
    """(tile, halo) rows for a model run without an image unit."""
    arch = _architecture(source, card)
    if not arch.local:
        raise ValueError(
            "this model pools globally (e.g. attention over the whole image), so tiles "
            "cannot reproduce a whole-image run: use a checkpoint with an image unit "
            "(image_unit='night' or 'half_orbit')"
        )
    return tile_geometry(arch.downsampling, arch.receptive_field, tile=tile, halo=halo)


def _predict_tiles(arr: da.Array, tile: int, halo: int, kwargs: dict) -> da.Array:
    """Tiles with their halo across chunk boundaries (see :func:`_tile_block`)."""
    return halo_map(
        arr,
        halo + tile,
        _tile_block,
        out_chunk_shape=lambda m: (m, arr.shape[1]),
        dtype=np.float32,
        axis=0,
        tile=tile,
        tile_halo=halo,
        total=arr.shape[0],
        **kwargs,
    )


def _probability(
    prob: da.Array,
    data: xr.DataArray,
    model: Any,
    source: ModelSource,
    card: ModelCard,
    unit: str,
    threshold: float,
) -> xr.DataArray:
    """The ``probability`` DataArray with its provenance and the input's metadata."""
    identity = _identity(source, card)
    # a shipped name or a checkpoint path as the caller gave it (the source holds it made
    # absolute for the workers); a model in memory has no name but its architecture
    name = os.fspath(model) if source.kind != "object" else identity["model_architecture"]
    out = xr.DataArray(
        prob,
        dims=("time", "frequency"),
        coords=data.coords,
        name="probability",
        attrs={
            "long_name": "probability of the target class",
            "units": "1",
            "threshold": threshold,
            "model": name,
            **identity,
            "image_unit": unit,
        },
    )
    # the model's recommended event filter travels with its threshold
    out.attrs.update(card.event_cuts)
    if card.event_score is not None:
        out.attrs["event_score"] = json.dumps(card.event_score)
    for key in ("component", "station", "latitude", "longitude", "altitude_km"):
        if key in data.attrs:
            out.attrs[key] = data.attrs[key]
    component = _component_of(data)
    if component is not None:
        out.attrs["component"] = component
    out.attrs.update(_history(data.attrs.get("history"), component, name, identity))
    return out


def _history(before: Any, component: str | None, name: str, identity: dict) -> dict:
    """``xspecseg_version`` and the CF ``history`` of the input with a line for this run."""
    what = f" of component {component}" if component else ""
    line = history_line(
        f"predict{what} with model {name} "
        f"({identity['model_architecture']}, weights sha256 {identity['model_sha256'][:16]})"
    )
    before = before if isinstance(before, str) else None
    return {"xspecseg_version": __version__, "history": append_history(before, line)}


def _component_of(data: xr.DataArray) -> str | None:
    if "component" in data.coords and data["component"].ndim == 0:
        return str(data["component"].values)
    comp = data.attrs.get("component")
    return None if comp is None else str(comp)


def _model_input(data: xr.DataArray | xr.Dataset, card: ModelCard) -> xr.DataArray:
    """The (time, frequency) PSD a model takes from ``data`` (see :func:`predict`)."""
    if isinstance(data, xr.Dataset):
        if "psd" not in data:
            raise ValueError("predict needs a cube (a Dataset with 'psd') or a PSD DataArray")
        # the station metadata lives on the cube: keep it with the PSD
        data = data["psd"].assign_attrs({**data.attrs, **data["psd"].attrs})
    wanted = card.component
    # a relative input does not see the level, so a sum and one of its parts look alike
    level_free = card.representation.needs_whole_units
    if "component" in data.dims and set(data.dims) == {"component", "time", "frequency"}:
        have = [str(c) for c in data["component"].values]
        if wanted is None:
            if len(have) == 1:
                return select_component(data, have[0])
            raise ValueError(
                "the PSD has several components and the model's card does not say which "
                "it takes: pass one, e.g. cube.psd.sel(component='H')"
            )
        parts = [p.strip() for p in wanted.split("+")]
        present = [p for p in parts if p in have]
        if present and len(present) < len(parts) and level_free:
            return select_component(data, "+".join(present))
        return select_component(data, wanted)
    if set(data.dims) != {"time", "frequency"}:
        raise ValueError(f"predict needs dims (time, frequency), got {data.dims}")
    have = _component_of(data)
    if wanted is not None and "+" in wanted and have is not None and have != wanted:
        if level_free and set(have.split("+")) <= set(wanted.split("+")):
            return data
        # a single component is about half the level of a sum: a silently biased input
        raise ValueError(
            f"the model takes the summed PSD of components {wanted!r}, got component "
            f"{have!r}: pass the cube's PSD with its component dim, or "
            f"xs.select_component(cube, {wanted!r})"
        )
    return data


def _image_group(
    source: ModelSource, *blocks: np.ndarray, start: int, stop: int, **kwargs: Any
) -> np.ndarray:
    """:func:`_image_block` on the rows ``[start, stop)`` of the input chunks ``blocks``."""
    if len(blocks) == 1:
        return _image_block(blocks[0][start:stop], source=source, **kwargs)
    parts, pos = [], 0
    for b in blocks:  # only the rows wanted are copied
        lo, hi = max(start - pos, 0), min(stop - pos, b.shape[0])
        if hi > lo:
            parts.append(b[lo:hi])
        pos += b.shape[0]
    return _image_block(np.concatenate(parts, axis=0), source=source, **kwargs)


def _join_rows(*pieces: np.ndarray, rows: tuple[tuple[int, int], ...]) -> np.ndarray:
    """The rows ``rows[k]`` of each piece ``k``, one after the other: an output chunk."""
    parts = [p[lo:hi] for p, (lo, hi) in zip(pieces, rows, strict=True)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


def _predict_images(
    arr: da.Array, spans, kwargs, out_chunks: tuple[int, ...] | None = None
) -> da.Array:
    """One task per group of whole images, covering the rows up to the next group.

    The graph is written out: a group's task joins the input chunks it overlaps and an
    output chunk's task (chunks ``out_chunks`` along time, default the input's) takes its
    rows from the groups it overlaps. Rechunking the input to the groups and back with
    dask costs about ten tasks per night, and on a cluster the scheduler's overhead per
    task then weighs as much as the network itself.
    """
    n, nf = arr.shape
    out_chunks = arr.chunks[0] if out_chunks is None else tuple(out_chunks)
    if sum(out_chunks) != n:
        raise ValueError(f"out_chunks {out_chunks} do not add up to the {n} rows of arr")
    kwargs = dict(kwargs)
    source = kwargs.pop("source")
    batch = kwargs["batch_size"]
    groups = [spans[k : k + batch] for k in range(0, len(spans), batch)] or [[]]
    bounds = np.cumsum((0, *arr.chunks[0]))
    token = tokenize(arr, spans, source, kwargs, out_chunks)
    gname, oname = f"image-groups-{token}", f"probability-{token}"
    in_keys = [k[0] for k in arr.__dask_keys__()]
    dsk: dict = {}
    ranges: list[tuple[int, int]] = []
    pos = 0
    for i, group in enumerate(groups):
        end = n if i == len(groups) - 1 else group[-1][1]
        # the input chunks c0..c1-1 hold the rows [pos, end)
        c0 = int(np.searchsorted(bounds, pos, side="right")) - 1
        c1 = max(int(np.searchsorted(bounds, end, side="left")), c0 + 1)
        offset = int(pos - bounds[c0])
        func = functools.partial(
            _image_group,
            start=offset,
            stop=offset + end - pos,
            spans=tuple((sp[0] - pos, sp[1] - pos, *sp[2:]) for sp in group),
            **kwargs,
        )
        dsk[(gname, i)] = (func, source.key, *in_keys[c0:c1])
        ranges.append((pos, end))
        pos = end
    lows = np.array([lo for lo, _ in ranges])
    highs = np.array([hi for _, hi in ranges])
    for j, (a, b) in enumerate(itertools.pairwise(np.cumsum((0, *out_chunks)).tolist())):
        # the groups overlapping [a, b): they are contiguous and in order
        i0 = int(np.searchsorted(highs, a, side="right"))
        i1 = int(np.searchsorted(lows, b, side="left"))
        parts = [(i, *ranges[i]) for i in range(i0, i1)]
        rows = tuple((max(a, lo) - lo, min(b, hi) - lo) for _, lo, hi in parts)
        join = functools.partial(_join_rows, rows=rows)
        dsk[(oname, j, 0)] = (join, *((gname, i) for i, _, _ in parts))
    graph = HighLevelGraph.from_collections(oname, dsk, dependencies=[arr, source])
    return da.Array(graph, oname, chunks=(out_chunks, (nf,)), dtype=np.float32)


# ----------------------------------------------------------------------------------------
# probability stores
# ----------------------------------------------------------------------------------------
#: Probabilities one write task computes and stores: five days of an IAR cube (0-10 Hz),
#: four CSES half-orbits. A task less costs the scheduler and the worker about as much as
#: writing a chunk.
_WRITE_TASK_BYTES = 8 * 2**20
#: uint8 stores map [0, 1] to 0..254 (scale_factor 1/254, 0.002 resolution); 255 is NaN.
UINT8_SCALE = 1.0 / 254.0
UINT8_FILL = 255


def _encode_uint8(block: np.ndarray) -> np.ndarray:
    out = np.rint(np.clip(block, 0.0, 1.0) / UINT8_SCALE)
    out[np.isnan(block)] = UINT8_FILL
    return out.astype(np.uint8)


#: The provenance :func:`predict` records and a probability store keeps: the model as the
#: caller named it (a shipped name or a checkpoint path), its architecture, the sha256 of
#: its weights, its input representation and threshold, and the version of xspecseg.
PROVENANCE_ATTRS = (
    "model", "model_architecture", "model_sha256", "threshold", "representation",
    "xspecseg_version",
)  # fmt: skip
#: Identity a resume must share with the store where the store records it (see
#: :func:`_same_model` for the weights and the model's name).
_IDENTITY_ATTRS = ("encoding", "representation", "model_architecture")
#: Dataset-level attributes that stay off the ``probability`` variable itself.
_DATASET_ATTRS = ("history", "Conventions")


def _weights_sha256(model: Any) -> str:
    """Hash of a module's weights (names, dtypes, shapes, values): the same in every
    process, unlike ``ModelSource.ref`` of a module that cannot be pickled."""
    with needs_extra("models"):
        import torch

    digest = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        # raw bytes through uint8: numpy has no bfloat16
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _identity(source: ModelSource, card: ModelCard | None) -> dict[str, str]:
    """``model_architecture``, ``model_sha256`` and ``representation`` of a model.

    The hash is that of the checkpoint's weight file (``model.safetensors``) for a path or
    a shipped name, of the weights themselves (:func:`_weights_sha256`) for a model in
    memory.
    """
    card = card or _BARE_CARD
    if source.kind == "object":
        sha = _weights_sha256(source.obj)
        arch = card.architecture or type(source.obj).__name__
    else:
        from .models.checkpoint import locate  # optional extra: torch

        weights = locate(source.ref)[1]
        if not weights.is_file():
            raise ValueError(f"{weights} is missing: the checkpoint has no weights")
        sha = sha256_file(weights)
        arch = card.architecture
    rep = json.dumps(card.representation.to_dict(), sort_keys=True)
    return {"model_architecture": arch, "model_sha256": sha, "representation": rep}


def _graph_source(prob: xr.DataArray) -> ModelSource | None:
    """The model :func:`predict` put into ``prob``'s task graph (one delayed object), if
    there is exactly one: the probabilities then say which model made them."""
    if not isinstance(prob.data, da.Array):
        return None
    layers = getattr(prob.data.__dask_graph__(), "layers", {})
    found = set()
    for name, layer in layers.items():
        if not str(name).startswith(f"{ModelSource.__name__}-"):
            continue
        for value in layer.values():
            value = getattr(value, "value", value)  # dask wraps literals in DataNode
            if isinstance(value, ModelSource):
                found.add(value)
    return found.pop() if len(found) == 1 else None


def _model_identity(prob: xr.DataArray, model: Any) -> dict[str, str]:
    """``model_architecture``, ``model_sha256`` and ``representation`` of the model behind
    ``prob`` (see :func:`_identity`).

    Taken from ``model`` if given, else from ``prob``'s graph, else from its attributes
    (probabilities computed before writing, or read back from a store); empty when unknown.
    """
    if model is None:
        source = _graph_source(prob)
    elif isinstance(model, str | os.PathLike):
        kind = "path" if os.path.exists(model) else "name"
        source = ModelSource(kind, os.fspath(model))
    else:
        source = ModelSource("object", "", obj=model)
    keys = ("model_architecture", "model_sha256", "representation")
    if source is None:
        return {k: str(prob.attrs[k]) for k in keys if k in prob.attrs}
    if source.kind == "object":
        card = card_of(source.obj)
    else:
        from .models.checkpoint import read_card  # optional extra: torch

        card = read_card(source.ref)
    return _identity(source, card)


def _same_model(stored: dict, new: dict) -> list[str]:
    """Whether new probabilities come from the store's model (a list of differences).

    Where both sides record the weights' hash it decides, whatever the model was called
    (one checkpoint given by another path is the same model); a store that records it
    refuses data that do not. Otherwise the names must match; stores of xspecseg <= 0.1
    kept the architecture under ``model`` and the first 16 hex digits of the hash.
    """
    old_sha, new_sha = stored.get("model_sha256"), new.get("model_sha256")
    if old_sha and new_sha:
        n = min(len(str(old_sha)), len(str(new_sha)))
        same = str(old_sha)[:n] == str(new_sha)[:n]
        return [] if same else [_store.differs("model_sha256", old_sha, new_sha)]
    if old_sha:
        return [_store.differs("model_sha256", old_sha, new_sha)]
    old, name = stored.get("model"), new.get("model")
    if _store.same_attr(old, name):
        return []
    legacy = "model_architecture" not in stored and "model_architecture" in new
    if legacy and _store.same_attr(old, new["model_architecture"]):
        return []
    return [_store.differs("model", old, name)]


def write_probability(
    prob: xr.DataArray,
    store: str | os.PathLike,
    *,
    dtype: Literal["float32", "uint8"] = "float32",
    model: Any = None,
    progress: bool = True,
    client: Any = None,
    break_lock: bool = False,
) -> list[np.datetime64]:
    """Write a probability cube to zarr chunk by chunk; resumable like ``write_cube``.

    ``dtype="uint8"`` stores ``round(p * 254)`` with CF ``scale_factor = 1/254`` (NaN is
    255), a quarter of the size at 0.002 resolution; :func:`open_probability` decodes it.

    The store records its encoding (``dtype``), the model's provenance (``model`` as it
    was named, ``model_architecture``, ``model_sha256`` of its weights, its input
    ``representation`` and ``threshold``, see :data:`PROVENANCE_ATTRS`), ``image_unit``
    and ``xspecseg_version``; a resume or append with other weights, representation,
    threshold, image unit or encoding is refused, so one store never mixes two models'
    or two encodings' results. Each write adds a line to the store's ``history``.

    Parameters
    ----------
    prob : xr.DataArray
        From :func:`predict` (lazy), or read back with :func:`open_probability`.
    store : path
        Directory of the zarr store.
    dtype : {"float32", "uint8"}
        Encoding of a new store; a resumed store must be given its own.
    model : torch.nn.Module, path or str, optional
        The model passed to :func:`predict`; default: the one in ``prob``'s task graph,
        else the one its attributes record (probabilities computed before writing).
    progress, client, break_lock
        As for :func:`xspecseg.cube.write_cube`.

    Returns
    -------
    list of numpy.datetime64
        The first time of each time chunk written by this call (as
        :func:`xspecseg.cube.write_cube` returns the days it wrote).

    Examples
    --------
    >>> import xspecseg as xs
    >>> from xspecseg.testing import random_waveform
    >>> cube = xs.build_cube(random_waveform(hours=1), xs.CubeConfig.preset("iar"))
    >>> prob = xs.predict(cube, "iar-default")
    >>> xs.write_probability(prob, "prob.zarr", progress=False)  # one day: one time chunk
    [np.datetime64('2020-01-01T00:00:00.000000000')]
    """
    da_ = prob if isinstance(prob.data, da.Array) else prob.chunk()
    attrs = {k: v for k, v in da_.attrs.items() if isinstance(v, str | int | float)}
    attrs.update(_model_identity(prob, model))
    attrs.setdefault("xspecseg_version", __version__)
    var_attrs = {k: v for k, v in attrs.items() if k not in _DATASET_ATTRS}
    encoding = {}
    if dtype == "uint8":
        data = da_.data.map_blocks(_encode_uint8, dtype=np.uint8)
        var = xr.Variable(da_.dims, data, {**var_attrs, "scale_factor": UINT8_SCALE})
        encoding = {"probability": {"_FillValue": np.uint8(UINT8_FILL)}}
    elif dtype == "float32":
        var = xr.Variable(da_.dims, da_.data.astype(np.float32), var_attrs)
    else:
        raise ValueError(f"dtype must be 'float32' or 'uint8', got {dtype!r}")
    ds = xr.Dataset({"probability": var}, coords=da_.coords)
    ds.attrs = {"Conventions": "CF-1.10", **attrs, "encoding": dtype}
    chunk_bytes = max(da_.data.chunks[0]) * int(np.prod(da_.shape[1:])) * 4
    written = _store.write_committed(
        ds, store, what="probability", check_attrs=("image_unit", "threshold"),
        recorded_attrs=_IDENTITY_ATTRS, check=_same_model, encoding=encoding,
        progress=progress, client=client, break_lock=break_lock,
        chunks_per_task=max(1, _WRITE_TASK_BYTES // max(chunk_bytes, 1)),
    )  # fmt: skip
    starts = _store.chunk_starts(store, "probability")
    return [starts[i] for i in sorted(written)]


def open_probability(
    store: str | os.PathLike, *, incomplete: Literal["mask", "raise"] = "mask"
) -> xr.DataArray:
    """Open a probability store lazily (unfinished chunks read as NaN).

    The attributes are the store's and the variable's: the provenance of
    :data:`PROVENANCE_ATTRS`, the model's event cuts, the station and the store's
    ``history``.

    Examples
    --------
    >>> import xspecseg as xs
    >>> from xspecseg.testing import random_waveform
    >>> cube = xs.build_cube(random_waveform(hours=1), xs.CubeConfig.preset("iar"))
    >>> prob = xs.predict(cube.psd, "iar-default")
    >>> _ = xs.write_probability(prob, "prob.zarr", progress=False)
    >>> xs.open_probability("prob.zarr").attrs["model"]
    'iar-default'
    """
    ds = _store.open_committed(store, what="probability", incomplete=incomplete)
    prob = ds["probability"].astype(np.float32)
    prob.attrs = {**ds.attrs, **ds["probability"].attrs}
    if "history" in ds.attrs:  # the store's, with a line per write
        prob.attrs["history"] = ds.attrs["history"]
    prob.name = "probability"
    return prob


def verify_probability(store: str | os.PathLike, *, repair: bool = False) -> list[np.datetime64]:
    """First times of the time chunks of a probability store whose data cannot be trusted.

    Like :func:`xspecseg.cube.verify_cube`: a chunk fails when it does not decode (a
    checksum mismatch included) or, in stores written with checksums, is missing;
    ``repair=True`` marks them unwritten, so re-running :func:`write_probability` with the
    same probabilities rewrites exactly those (and, as there, an interrupted append is
    rolled back and the commit flags of a 0.1 store move into ``_xspecseg/``).

    Examples
    --------
    >>> import xspecseg as xs
    >>> from xspecseg.testing import random_waveform
    >>> cube = xs.build_cube(random_waveform(hours=1), xs.CubeConfig.preset("iar"))
    >>> prob = xs.predict(cube.psd, "iar-default")
    >>> _ = xs.write_probability(prob, "prob.zarr", progress=False)
    >>> xs.infer.verify_probability("prob.zarr", repair=True)
    []
    """
    bad = _store.verify_committed(store, what="probability", repair=repair)
    starts = _store.chunk_starts(store, "probability")
    return [starts[i] for i in bad]

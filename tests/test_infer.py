"""Chunk-wise inference: the result must not depend on the chunking."""

from __future__ import annotations

import contextlib
import os
from typing import ClassVar

import dask
import numpy as np
import pytest
import torch
import xarray as xr
from dask.system import cpu_count

import xspecseg as xs
from xspecseg.contract import ModelCard
from xspecseg.imageunits import night_spans
from xspecseg.infer import predict
from xspecseg.testing import chunk_indices


class TinyUNet(torch.nn.Module):
    """Two levels, reflect-padded to even sizes inside, like the real models."""

    def __init__(self, global_pool: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.b = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.c = torch.nn.Conv2d(8, 1, 3, padding=1)
        self.global_pool = global_pool
        self.xspecseg_info = {"downsampling": 2, "receptive_field": 16, "local": not global_pool}

    def forward(self, x):
        h, w = x.shape[-2:]
        x = torch.nn.functional.pad(x, (0, (-w) % 2, 0, (-h) % 2), mode="reflect")
        y = torch.relu(self.a(x))
        z = torch.relu(self.b(torch.nn.functional.max_pool2d(y, 2)))
        if self.global_pool:
            z = z * z.mean(dim=(2, 3), keepdim=True)
        z = torch.nn.functional.interpolate(z, scale_factor=2)
        return self.c(torch.cat([y, z], 1))[..., :h, :w]


def whole_image(model, x: np.ndarray, config=None) -> np.ndarray:
    with torch.no_grad():
        rep = (
            ModelCard.from_config(config).representation if config else ModelCard("").representation
        )
        inp = torch.from_numpy(rep(x)[None, None])
        p = torch.sigmoid(model(inp))[0, 0].numpy()
    p[np.isnan(x)] = np.nan
    return p


@pytest.fixture
def spectrogram():
    rng = np.random.default_rng(0)
    t = np.datetime64("2020-01-01") + np.arange(2000) * np.timedelta64(100, "s")
    x = (rng.random((2000, 50)) + 0.1).astype(np.float32)
    x[100:130, 5] = np.nan
    return xr.DataArray(
        x, dims=("time", "frequency"),
        coords={"time": t, "frequency": np.arange(50) * 0.1}, attrs={"component": "H"},
    )  # fmt: skip


def test_tiled_prediction_is_independent_of_chunking(spectrogram):
    model = TinyUNet().eval()
    reference = whole_image(model, spectrogram.values)
    one = predict(spectrogram.chunk({"time": -1}), model, tile=64).values
    np.testing.assert_array_equal(np.isnan(one), np.isnan(reference))
    assert np.nanmax(np.abs(one - reference)) <= 1e-4
    for chunks in (864, 301, 77, 1001):
        got = predict(spectrogram.chunk({"time": chunks}), model, tile=64, batch_size=3)
        assert got.data.chunks[0] == spectrogram.chunk({"time": chunks}).data.chunks[0]
        assert np.nanmax(np.abs(got.values - one)) <= 1e-4
        np.testing.assert_array_equal(np.isnan(got.values), np.isnan(one))


def test_prediction_graph_is_lazy(spectrogram):
    def refuse(*args, **kwargs):
        raise AssertionError("something was computed while building the graph")

    lazy = spectrogram.chunk({"time": 500})
    with dask.config.set(scheduler=refuse):
        prob = predict(lazy, TinyUNet().eval(), tile=64)
    assert prob.name == "probability" and prob.dtype == np.float32
    assert prob.attrs["component"] == "H"
    graph = dict(prob.data.__dask_graph__())
    # a key holding the model; tasks refer to that key, they do not embed the model
    sources = [k for k, v in graph.items() if "ModelSource(kind=" in repr(v)]
    assert len(sources) == 1, "the model must sit in the graph once, not in every task"


def test_night_images_across_midnight_on_day_chunks(spectrogram):
    model = TinyUNet().eval()
    model.xspecseg_config = {"night_window": [18.0, 6.0], "threshold": 0.7}
    with pytest.warns(UserWarning, match="cut short by the record's start"):
        prob = predict(spectrogram.chunk({"time": 864}), model)
    assert prob.attrs["image_unit"] == "night" and prob.attrs["threshold"] == 0.7
    values = prob.values
    spans = night_spans(spectrogram.time.values, (18.0, 6.0))
    assert len(spans) == 2 and all(e - s == 432 for s, e in spans)
    inside = np.zeros(2000, bool)
    for s, e in spans:
        inside[s:e] = True
        expect = whole_image(model, spectrogram.values[s:e])
        assert np.nanmax(np.abs(values[s:e] - expect)) <= 1e-4
    # the record starts at 00 UT: 00-06 is the second half of a night, examined as the
    # whole window with its first half a gap
    padded = np.concatenate([np.full((216, 50), np.nan), spectrogram.values[:216]])
    expect = whole_image(model, padded)[216:]
    assert np.nanmax(np.abs(values[:216] - expect)) <= 1e-4
    inside[:216] = True
    assert (values[~inside][~np.isnan(values[~inside])] == 0).all()
    assert np.isnan(values[100:130, 5]).all()
    t = spectrogram.time.values[spans[0][0]]
    assert str(t.astype("datetime64[m]")) == "2020-01-01T18:00"


def test_half_orbit_images(spectrogram):
    model = TinyUNet(global_pool=True).eval()
    model.xspecseg_config = {"image_unit": "half_orbit"}
    orbit = np.repeat([5, 5, 6, 7], [700, 300, 500, 500])
    direction = np.repeat(
        ["descending", "ascending", "descending", "ascending"], [700, 300, 500, 500]
    )
    sat = spectrogram.assign_coords(orbit=("time", orbit), orbit_direction=("time", direction))
    prob = predict(sat.chunk({"time": 333}), model).values
    for s, e in ((0, 700), (700, 1000), (1000, 1500), (1500, 2000)):
        expect = whole_image(model, spectrogram.values[s:e])
        assert np.nanmax(np.abs(prob[s:e] - expect)) <= 1e-4


def test_global_models_need_an_image_unit(spectrogram):
    with pytest.raises(ValueError, match="pools globally"):
        predict(spectrogram, TinyUNet(global_pool=True).eval())


def test_model_band_must_be_in_the_data(spectrogram):
    model = TinyUNet().eval()
    model.xspecseg_config = {"band": [0.5, 9.0]}
    with pytest.raises(ValueError, match=r"0\.5-9 Hz but the data cover 0-4\.9 Hz"):
        predict(spectrogram, model)
    model.xspecseg_config = {"band": [1.0, 3.0]}
    prob = predict(spectrogram.chunk({"time": 400}), model, tile=64).values
    band = (spectrogram.frequency >= 1.0 - 1e-9) & (spectrogram.frequency <= 3.0 + 1e-9)
    outside = prob[:, ~band.values]
    assert (outside[~np.isnan(outside)] == 0).all()
    expect = whole_image(model, spectrogram.values[:, band.values])
    assert np.nanmax(np.abs(prob[:, band.values] - expect)) <= 1e-4


def test_probability_store_round_trip_and_uint8(tmp_path, spectrogram):
    model = TinyUNet().eval()
    prob = predict(spectrogram.chunk({"time": 500}), model, tile=64)
    ref = prob.values
    path = tmp_path / "p.zarr"
    assert chunk_indices(path, xs.write_probability(prob, path, progress=False)) == [0, 1, 2, 3]
    assert chunk_indices(path, xs.write_probability(prob, path, progress=False)) == []
    back = xs.open_probability(path)
    np.testing.assert_array_equal(back.values, ref)
    assert back.attrs["model"] == "TinyUNet"
    small = tmp_path / "p8.zarr"
    xs.write_probability(prob, small, dtype="uint8", progress=False)
    back8 = xs.open_probability(small).values
    np.testing.assert_array_equal(np.isnan(back8), np.isnan(ref))
    assert np.nanmax(np.abs(back8 - ref)) <= 0.5 / 254 + 1e-6


def test_model_is_built_once_per_worker_on_a_cluster(spectrogram):
    from distributed import Client, LocalCluster

    model = TinyUNet().eval()
    local = predict(spectrogram.chunk({"time": 200}), model, tile=64).values
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        prob = predict(spectrogram.chunk({"time": 200}), model, tile=64)
        remote = prob.compute().values

        def cached():
            from xspecseg import infer

            return len(infer._CACHE)

        counts = client.run(cached)
    assert np.nanmax(np.abs(remote - local)) <= 1e-6
    assert sorted(counts.values()) in ([1, 1], [0, 1])


class SlowUNet(TinyUNet):
    """TinyUNet whose passes take a while and are recorded (thread, start, stop)."""

    passes: ClassVar[list[tuple[int, float, float]]] = []

    def forward(self, x):
        import threading
        import time

        t0 = time.perf_counter()
        time.sleep(0.05)
        out = super().forward(x)
        SlowUNet.passes.append((threading.get_ident(), t0, time.perf_counter()))
        return out


def _overlapping(passes: list[tuple[int, float, float]]) -> int:
    spans = sorted((a, b) for _, a, b in passes)
    return sum(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1))


@contextlib.contextmanager
def _one_worker_in_process(threads: int):
    """A client of a one-worker cluster in this process with ``threads`` threads."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=1, threads_per_worker=threads, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def test_a_worker_with_an_io_thread_runs_one_network_pass_at_a_time():
    """With ``xspecseg.io-threads`` 1, a two-threaded worker runs the network on one
    thread at a time (the other reads and writes) and gives that lane all the cores; with
    0 both threads run passes side by side. The probabilities are the same."""
    from xspecseg import infer

    model = SlowUNet().eval()
    model.xspecseg_config = {"night_window": [18.0, 6.0]}
    rng = np.random.default_rng(2)
    t = np.datetime64("2020-01-01") + np.arange(9 * 864) * np.timedelta64(100, "s")
    data = xr.DataArray(
        (rng.random((t.size, 16)) + 0.1).astype(np.float32),
        dims=("time", "frequency"),
        coords={"time": t, "frequency": np.arange(16) * 0.1},
    ).chunk({"time": 432})  # 8 nights and two halves at the ends, one image per pass
    local = predict(data, model, batch_size=1).values
    threads_before = torch.get_num_threads()
    try:
        with _one_worker_in_process(threads=2) as client:
            results = {}
            for io in (1, 0):
                SlowUNet.passes.clear()
                with dask.config.set({"xspecseg.io-threads": io}):
                    results[io] = predict(data, model, batch_size=1).compute().values
                    share = client.submit(infer._worker_share, pure=False).result()
                passes = list(SlowUNet.passes)
                assert len(passes) == 10 and len({t for t, _, _ in passes}) == 2
                if io == 1:
                    assert _overlapping(passes) == 0
                    assert share == cpu_count()  # one lane on this host
                else:
                    assert _overlapping(passes) > 0
    finally:
        torch.set_num_threads(threads_before)
    for got in results.values():
        np.testing.assert_array_equal(got, local)


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs CPU affinity and two cores",
)
def test_torch_threads_count_the_cores_this_process_may_use():
    """A worker pinned to one core of a larger host (a batch job's cpuset, taskset) gives
    the network one thread, not one per core of the host."""
    from xspecseg import infer

    have = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(have)})
    try:
        with _one_worker_in_process(threads=1) as client:
            share = client.submit(infer._worker_share, pure=False).result()
    finally:
        os.sched_setaffinity(0, have)
    assert share == 1


def test_io_threads_must_be_a_whole_number():
    from xspecseg.cluster import local_cluster, worker_io_threads

    with (
        dask.config.set({"xspecseg.io-threads": "two"}),
        pytest.raises(ValueError, match="io-threads"),
    ):
        worker_io_threads()
    for bad in (1.5, True, -1):
        with dask.config.set({"xspecseg.io-threads": bad}), pytest.raises(ValueError):
            worker_io_threads()
    with dask.config.set({"xspecseg.io-threads": " 2"}):
        assert worker_io_threads() == 2  # as an environment variable may spell it
    with pytest.raises(ValueError, match="io_threads"):
        local_cluster(1, io_threads=-1)


# -- the shipped models against synthetic truth (seeds and dates never used in training) ----


def _iou(pred: np.ndarray, truth: np.ndarray) -> float:
    return float((pred & truth).sum() / max((pred | truth).sum(), 1))


def test_the_shipped_iar_model_finds_injected_fringes():
    wave = xs.synth.ground_station("2013-03-02", days=2, seed=4321, components=("H", "D"))
    cube = xs.build_cube(wave).persist()
    prob = predict(cube.psd, "iar-default").compute()  # it takes the H+D sum
    assert prob.attrs["component"] == "H+D"
    truth = xs.synth.iar_truth(cube).values
    night = np.zeros(truth.shape[0], bool)
    for s, e in night_spans(cube.time.values, ("18:00", "06:00")):
        night[s:e] = True
    band = cube.frequency.values <= 6.0
    assert truth[night][:, band].sum() > 1000  # the window holds IARs to find
    detected = prob.values >= prob.attrs["threshold"]
    assert _iou(detected[night][:, band], truth[night][:, band]) > 0.6
    assert not detected[:, ~band].any()  # nothing outside the model's band


def test_the_shipped_cses_model_finds_injected_anomalies(tmp_path):
    from xspecseg.io import read_cses

    files = xs.synth.cses_orbits("2022-05-03", days=0.3, seed=4321, out_dir=tmp_path,
                                 components=("Z",), rate_scale=20)  # fmt: skip
    sat = read_cses(files, component="Z")
    prob = predict(sat.psd, "cses-default")
    assert prob.attrs["image_unit"] == "half_orbit"
    prob = prob.compute()
    band = sat.frequency.values <= 12_500
    truth = xs.synth.cses_truth(sat).values[:, band]
    assert truth.sum() > 2000
    detected = prob.values[:, band] >= prob.attrs["threshold"]
    assert _iou(detected, truth) > 0.6  # 0.69 here; an untrained network scores ~0


def test_model_input_component_is_taken_from_a_cube(spectrogram):
    """A model trained on H+D sums takes them from the cube itself; a lone H is refused.

    Where one part has no data the other stands in for the sum (scaled to its level), with
    a warning.
    """
    rng = np.random.default_rng(1)
    d = spectrogram.copy(data=(rng.random(spectrogram.shape) + 0.1).astype(np.float32))
    psd = xr.concat([spectrogram, d], dim=xr.IndexVariable("component", ["H", "D"]))
    model = TinyUNet().eval()
    model.xspecseg_config = {"night_window": [18.0, 6.0], "component": "H+D"}
    prob = predict(psd.chunk({"time": 864}), model)
    assert prob.attrs["component"] == "H+D" and prob.dims == ("time", "frequency")
    h = spectrogram.values.astype(np.float64)
    summed = np.where(np.isnan(h), 2 * d.values, h + d.values)
    s, e = night_spans(spectrogram.time.values, (18.0, 6.0))[0]
    expect = whole_image(model, summed[s:e].astype(np.float32))
    with pytest.warns(UserWarning, match="component H has no data between 2020-01-01T02:46:40"):
        prob = prob.compute()
    assert np.nanmax(np.abs(prob.values[s:e] - expect)) <= 1e-4
    assert np.isfinite(prob.values[100:130, 5]).all()  # D stands in where H is missing
    # the same through select_component; a single component is not the model's input
    with pytest.warns(UserWarning, match="component H has no data"):
        same = predict(xs.select_component(psd, "H+D"), model).compute()
    np.testing.assert_array_equal(same.values, prob.values)
    with pytest.raises(ValueError, match="summed PSD of components 'H\\+D', got component 'H'"):
        predict(spectrogram, model)
    model.xspecseg_config = {"night_window": [18.0, 6.0]}
    with pytest.raises(ValueError, match="does not say which"):
        predict(psd, model)
    model.xspecseg_config = {"night_window": [18.0, 6.0], "component": "D"}
    np.testing.assert_array_equal(
        predict(psd, model).values, predict(psd.sel(component="D"), model).values
    )


# -- provenance: which checkpoint made the probabilities ----------------------------------


def test_probabilities_record_the_checkpoint_that_made_them(tmp_path, spectrogram, monkeypatch):
    """``model`` is the checkpoint as the caller named it (not its architecture);
    ``model_sha256`` is the sha256 of its weight file, as ``sha256sum`` prints it."""
    import hashlib
    import json

    from xspecseg.models import get_model, save

    torch.manual_seed(3)
    rep = {"method": "log-fixed", "center": 1.0, "scale": 2.0}
    save(get_model("unet", base_channels=2, depth=1), tmp_path / "ckpt",
         config={"threshold": 0.4, "representation": rep, "max_impulsiveness": 3.0})  # fmt: skip
    monkeypatch.chdir(tmp_path)
    prob = predict(spectrogram.chunk({"time": 500}), "ckpt", tile=64)
    sha = hashlib.sha256((tmp_path / "ckpt" / "model.safetensors").read_bytes()).hexdigest()
    store = tmp_path / "p.zarr"
    xs.write_probability(prob, store, progress=False)
    for attrs in (prob.attrs, xs.open_probability(store).attrs, xr.open_zarr(store).attrs):
        assert attrs["model"] == "ckpt"  # the path as given
        assert attrs["model_architecture"] == "unet"
        assert attrs["model_sha256"] == sha
        assert attrs["threshold"] == 0.4
        assert {k: json.loads(attrs["representation"])[k] for k in rep} == rep
        assert attrs["xspecseg_version"] == xs.__version__
        assert attrs["max_impulsiveness"] == 3.0  # the model's event cut, as before
        assert "predict of component H with model ckpt (unet" in attrs["history"]
    # the store's history has a line per write after predict's
    history = xs.open_probability(store).attrs["history"].splitlines()
    assert history[-1].endswith("write_probability wrote 4 chunk(s)")


def test_a_model_in_memory_is_named_by_its_architecture_and_weights(spectrogram):
    a = predict(spectrogram, TinyUNet().eval(), tile=64).attrs
    assert a["model"] == a["model_architecture"] == "TinyUNet"
    assert len(a["model_sha256"]) == 64
    other = TinyUNet().eval()
    with torch.no_grad():
        other.a.bias.add_(1.0)
    assert predict(spectrogram, other, tile=64).attrs["model_sha256"] != a["model_sha256"]
    assert predict(spectrogram, TinyUNet().eval(), tile=64).attrs["model_sha256"] == a["model_sha256"]  # fmt: skip


# -- the image-unit graph: whole images on any chunking, few tasks -------------------------


@pytest.mark.parametrize("chunks", [2000, 864, 301, 50, 7])
def test_night_images_do_not_depend_on_the_chunking(spectrogram, chunks):
    model = TinyUNet().eval()
    model.xspecseg_config = {"night_window": [18.0, 6.0]}
    one = predict(spectrogram.chunk({"time": -1}), model, batch_size=1).values
    got = predict(spectrogram.chunk({"time": chunks}), model, batch_size=1)
    assert got.data.chunks[0] == spectrogram.chunk({"time": chunks}).data.chunks[0]
    np.testing.assert_array_equal(got.values, one)  # NaN where the input is, 0 elsewhere


def test_image_graph_has_a_task_per_group_and_per_chunk(spectrogram):
    """Nights are not rechunked there and back, and the input is read a group's rows at a
    time: the scheduler's overhead per task would weigh as much as the network on a
    cluster."""
    model = TinyUNet().eval()
    model.xspecseg_config = {"night_window": [18.0, 6.0]}
    lazy = spectrogram.chunk({"time": 100})
    prob = predict(lazy, model, batch_size=1)
    added = set(dict(prob.data.__dask_graph__())) - set(dict(lazy.data.__dask_graph__()))
    nights, chunks = 3, 20  # two whole nights and 00-06 UT at the record's start
    blocks = 3  # the input read by a night's whole chunks at a time: 800, 800, 400 rows
    assert len(added) == nights + chunks + blocks + 1  # and the model, once
    np.testing.assert_array_equal(prob.values, predict(lazy, model, batch_size=2).values)


def _image_groups(prob) -> int:
    return sum(1 for k in dict(prob.data.__dask_graph__()) if str(k[0]).startswith("image-groups"))


@pytest.mark.parametrize("nights_per_pass", [1, 2])
def test_default_batch_holds_a_pixel_budget(spectrogram, monkeypatch, nights_per_pass):
    """Large images (a CSES half-orbit) go one per pass, small ones (IAR nights) several:
    memory per worker follows the budget, not the image size."""
    import xspecseg.infer as infer

    model = TinyUNet().eval()
    model.xspecseg_config = {"night_window": [18.0, 6.0]}
    lazy = spectrogram.chunk({"time": 100})
    spans = infer._source_of(model)[2].image_spans(lazy)
    assert len(spans) == 2
    pixels = max(e - s for s, e in spans) * spectrogram.sizes["frequency"]
    monkeypatch.setattr(infer, "BATCH_PIXELS", nights_per_pass * pixels + pixels // 2)
    prob = predict(lazy, model)
    # and the night cut short at the record's start, an image of the same size
    assert _image_groups(prob) == -(-3 // nights_per_pass)
    np.testing.assert_array_equal(prob.values, predict(lazy, model, batch_size=1).values)
    with pytest.raises(ValueError, match="batch_size"):
        predict(lazy, model, batch_size=0)

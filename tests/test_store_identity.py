"""A store holds one thing: resuming or appending with other data or settings is refused.

Cubes: another station or position, components in another order or with other names.
Probabilities: another encoding, other model weights (same architecture), another input
representation or threshold. Each message names the stored and the new value.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import xarray as xr
import zarr

import xspecseg as xs
from xspecseg._store import FLAG
from xspecseg.testing import chunk_indices, random_waveform

SMALL = xs.CubeConfig(sampling_rate=10.0, block_seconds=600.0, nperseg=1024, noverlap=512,
                      band=(0.1, 2.0), fmax=4.0)  # fmt: skip


@pytest.fixture(scope="module")
def cube() -> xr.Dataset:
    """Two days, computed once; variants are made from it without recomputing."""
    wave = random_waveform(hours=48, sampling_rate=10.0, chunk_seconds=86400)
    return xs.build_cube(wave, SMALL).compute().chunk({"time": 144})


def unfinish(store, index: int) -> None:
    """Clear a chunk's flag, as a killed writer leaves it (for a resume)."""
    zarr.open_group(store, mode="r+")[FLAG][index] = 0


FOREIGN = [
    ("station", lambda c: c.assign_attrs(station="OTHER"), r"station: 'TEST' .*'OTHER'"),
    ("latitude", lambda c: c.assign_attrs(latitude=-41.0), r"latitude: 55.3 .*-41.0"),
    ("longitude", lambda c: c.assign_attrs(longitude=100.0), r"longitude: -3.2 .*100.0"),
    ("component order", lambda c: c.isel(component=[1, 0]), r"component is \[H, D\] in the "
     r"store, \[D, H\] in the new data \(order included\)"),
    ("component names", lambda c: c.assign_coords(component=["X", "Y"]),
     r"component is \[H, D\] .*\[X, Y\]"),
]  # fmt: skip


@pytest.mark.parametrize("mode", ["append", "resume"])
@pytest.mark.parametrize(("name", "change", "message"), FOREIGN, ids=[f[0] for f in FOREIGN])
def test_cube_store_refuses_foreign_data(tmp_path, cube, mode, name, change, message):
    store = tmp_path / "c.zarr"
    if mode == "append":
        xs.write_cube(cube.isel(time=slice(0, 144)), store, progress=False)
    else:
        xs.write_cube(cube, store, progress=False)
        unfinish(store, 1)
    with pytest.raises(ValueError, match=message):
        xs.write_cube(change(cube), store, progress=False)
    assert xs.write_cube(cube, store, progress=False) == [np.datetime64("2020-01-02")]
    np.testing.assert_array_equal(
        xs.open_cube(store, incomplete="raise").psd.values, cube.psd.values
    )


def probability(n: int = 1500) -> xr.DataArray:
    t = np.datetime64("2020-01-01") + np.arange(n) * np.timedelta64(100, "s")
    return xr.DataArray(
        np.random.default_rng(3).random((n, 8)).astype(np.float32),
        dims=("time", "frequency"), coords={"time": t, "frequency": np.arange(8.0)},
        name="probability", attrs={"model": "m", "image_unit": "none"},
    ).chunk({"time": 500})  # fmt: skip


@pytest.mark.parametrize(("first", "then"), [("float32", "uint8"), ("uint8", "float32")])
def test_probability_resume_with_another_encoding_is_refused(tmp_path, first, then):
    store = tmp_path / "p.zarr"
    prob = probability()
    xs.write_probability(prob.isel(time=slice(0, 500)), store, dtype=first, progress=False)
    assert xs.open_probability(store).attrs["encoding"] == first
    with pytest.raises(ValueError, match=f"{first}.* in the store, '?{then}'? in the new data"):
        xs.write_probability(prob, store, dtype=then, progress=False)
    group = zarr.open_group(store, mode="r+")  # a store written before "encoding" was kept:
    del group.attrs["encoding"]  # its array's dtype tells
    with pytest.raises(ValueError, match=f"as {first}, the new data are {then}"):
        xs.write_probability(prob, store, dtype=then, progress=False)
    assert chunk_indices(store, xs.write_probability(prob, store, dtype=first, progress=False)) == [
        1,
        2,
    ]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Two checkpoints of one architecture with other weights, and one with the first's
    weights but another input representation."""
    import torch

    from xspecseg.models import get_model, save

    root = tmp_path_factory.mktemp("ckpt")
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        paths.append(save(get_model("unet", base_channels=4, depth=2), root / f"m{seed}",
                          config={"threshold": 0.5}))  # fmt: skip
    other_rep = root / "m0-rep"
    shutil.copytree(paths[0], other_rep)
    cfg = json.loads((other_rep / "config.json").read_text())
    cfg["representation"] = {"method": "log-fixed", "center": 1.0, "scale": 2.0}
    (other_rep / "config.json").write_text(json.dumps(cfg))
    return paths[0], paths[1], other_rep


@pytest.fixture(scope="module")
def psd() -> xr.DataArray:
    rng = np.random.default_rng(0)
    t = np.datetime64("2020-01-01") + np.arange(768) * np.timedelta64(100, "s")
    return xr.DataArray(
        (rng.random((768, 32)) + 0.1).astype(np.float32), dims=("time", "frequency"),
        coords={"time": t, "frequency": np.arange(32) * 0.1},
    ).chunk({"time": 256})  # fmt: skip


def test_probability_resume_with_another_model_is_refused(tmp_path, checkpoints, psd):
    first, second, other_rep = checkpoints
    store = tmp_path / "p.zarr"
    prob = xs.predict(psd, str(first), tile=128)
    written = xs.write_probability(prob.isel(time=slice(0, 256)), store, progress=False)
    assert chunk_indices(store, written) == [0]
    attrs = xs.open_probability(store).attrs
    assert len(attrs["model_sha256"]) == 64 and attrs["encoding"] == "float32"
    with pytest.raises(ValueError, match=rf"model_sha256: '{attrs['model_sha256']}' in the "
                       r"store, '[0-9a-f]{64}' in the new data"):  # fmt: skip
        xs.write_probability(xs.predict(psd, str(second), tile=128), store, progress=False)
    # the same model given explicitly, for probabilities without their graph
    computed = xs.predict(psd, str(second), tile=128).compute()
    with pytest.raises(ValueError, match="model_sha256"):
        xs.write_probability(computed, store, model=str(second), progress=False)
    with pytest.raises(ValueError, match=r'representation: .*"center": 0.0.* in the store, '
                       r'.*"center": 1.0'):  # fmt: skip
        xs.write_probability(xs.predict(psd, str(other_rep), tile=128), store, progress=False)
    with pytest.raises(ValueError, match=r"threshold: 0.5 in the store, 0.7 in the new data"):
        xs.write_probability(prob.assign_attrs(threshold=0.7), store, progress=False)
    assert chunk_indices(store, xs.write_probability(prob, store, progress=False)) == [1, 2]
    np.testing.assert_array_equal(xs.open_probability(store).values, prob.values)


def test_in_memory_models_are_told_apart_by_their_weights(tmp_path, psd):
    import torch

    from xspecseg.models import get_model

    def model(seed: int):
        torch.manual_seed(seed)
        return get_model("unet", base_channels=4, depth=2).eval()

    store = tmp_path / "p.zarr"
    prob = xs.predict(psd, model(0), tile=128)
    xs.write_probability(prob.isel(time=slice(0, 256)), store, progress=False)
    with pytest.raises(ValueError, match="model_sha256"):
        xs.write_probability(xs.predict(psd, model(1), tile=128), store, progress=False)
    # the same weights in another instance (another process, say) are the same model
    written = xs.write_probability(xs.predict(psd, model(0), tile=128), store, progress=False)
    assert chunk_indices(store, written) == [1, 2]


def test_one_checkpoint_given_by_another_path_resumes(tmp_path, checkpoints, psd):
    """The weights' hash decides, not how the checkpoint was named."""
    first = checkpoints[0]
    copy = tmp_path / "elsewhere" / "m0"
    shutil.copytree(first, copy)
    store = tmp_path / "p.zarr"
    xs.write_probability(xs.predict(psd, str(first), tile=128).isel(time=slice(0, 256)), store,
                         progress=False)  # fmt: skip
    written = xs.write_probability(xs.predict(psd, str(copy), tile=128), store, progress=False)
    assert chunk_indices(store, written) == [1, 2]
    assert xs.open_probability(store).attrs["model"] == str(first)  # as first recorded


def test_a_store_of_an_older_version_resumes_with_its_model_only(tmp_path, checkpoints, psd):
    """xspecseg <= 0.1 recorded the architecture under ``model`` and the first 16 hex
    digits of the weights' hash; the same checkpoint resumes such a store, another one is
    refused."""
    first, second, _ = checkpoints
    store = tmp_path / "p.zarr"
    prob = xs.predict(psd, str(first), tile=128)
    xs.write_probability(prob.isel(time=slice(0, 256)), store, progress=False)
    sha = prob.attrs["model_sha256"]
    group = zarr.open_group(store, mode="r+")
    for node in (group, group["probability"]):
        node.attrs.update(model="unet", model_sha256=sha[:16])
        del node.attrs["model_architecture"]
    with pytest.raises(ValueError, match=f"model_sha256: '{sha[:16]}' in the store"):
        xs.write_probability(xs.predict(psd, str(second), tile=128), store, progress=False)
    assert chunk_indices(store, xs.write_probability(prob, store, progress=False)) == [1, 2]
    np.testing.assert_array_equal(xs.open_probability(store).values, prob.values)

"""Architecture comparisons: ``xspecseg compare`` runs, their resumption and their curves."""

from __future__ import annotations

import argparse
import json
import shlex

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from test_train import same, tiny_set, weights
from xspecseg.models import load
from xspecseg.plot import training_curves_figure
from xspecseg.training.compare import (
    finished_epochs,
    run_folder,
    trained_epochs,
    training_curves,
)
from xspecseg.validation import evaluation_table


def _cli(argv: list[str]) -> int:
    from xspecseg._cli_train import add_parsers

    p = argparse.ArgumentParser(prog="xspecseg")
    add_parsers(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    return args.func(args)


def _history(folder) -> xr.Dataset:
    with xr.open_dataset(folder / "history.nc") as h:
        return h.load()


def _compare(tmp_path, data, epochs: int) -> list[str]:
    return ["compare", "--data", f"npz:{data}", "--epochs", str(epochs), "--lr", "1e-3",
            "--seeds", "0", "1", "--workers", "1", "--no-progress", "-o", str(tmp_path / "cmp"),
            "--run", "wide", "unet", "base_channels=4", "depth=2",
            "--run", "narrow", "unet", "base_channels=2", "depth=2"]  # fmt: skip


def test_compare_trains_what_its_train_command_trains_and_resumes(tmp_path, capsys, monkeypatch):
    data = tiny_set(6, (32, 32)).save(tmp_path / "d.npz")
    assert _cli(_compare(tmp_path, data, 1)) == 0
    assert "4 run(s) to train" in capsys.readouterr().out
    folders = {
        (r, s): run_folder(tmp_path / "cmp", r, s) for r in ("wide", "narrow") for s in (0, 1)
    }
    assert all(finished_epochs(f) == 1 for f in folders.values())
    nets = {k: load(f) for k, f in folders.items()}
    assert nets["wide", 0].xspecseg_config["model_kwargs"]["base_channels"] == 4
    assert nets["narrow", 1].xspecseg_config["model_kwargs"]["base_channels"] == 2
    assert not same(weights(nets["wide", 0]), weights(nets["wide", 1]))  # the seed is used

    # the train command each run records reproduces its weights exactly
    command = nets["narrow", 1].xspecseg_config["provenance"]["command"]
    argv = shlex.split(command)[1:]
    assert argv[0] == "train" and "--seed" in argv and "--resume" in argv
    redo = tmp_path / "redo"
    argv[argv.index("--output") + 1] = str(redo)
    assert _cli(argv) == 0
    assert same(weights(load(redo)), weights(nets["narrow", 1]))

    # run again: nothing left to train; a larger --epochs resumes every run from its last epoch
    first = _history(folders["wide", 0])
    assert _cli(_compare(tmp_path, data, 1)) == 0
    assert "0 run(s) to train" in capsys.readouterr().out
    assert _cli(_compare(tmp_path, data, 2)) == 0
    assert all(finished_epochs(f) == 2 for f in folders.values())
    again = _history(folders["wide", 0])
    # resumed, not retrained: epoch 1 keeps its measured duration (a rerun measures anew)
    assert again.seconds.values[0] == first.seconds.values[0]
    np.testing.assert_array_equal(again.train_loss.values[:1], first.train_loss.values)

    # the curves hold every run's history
    with xr.open_dataset(tmp_path / "cmp" / "curves.nc") as f:
        curves = f.load()
    assert dict(curves.sizes) == {"run": 2, "seed": 2, "epoch": 2}
    assert (tmp_path / "cmp" / "curves.png").stat().st_size > 0
    for (r, s), f in folders.items():
        with xr.open_dataset(f / "history.nc") as h:
            np.testing.assert_array_equal(curves.val_loss.sel(run=r, seed=s).values, h.val_loss)
        cfg = json.loads((f / "config.json").read_text())
        assert int(curves.parameters.sel(run=r, seed=s)) == cfg["parameters"]
        n = sum(p.numel() for p in nets[r, s].parameters())
        assert cfg["parameters"] == n
    assert curves.training_seconds.notnull().all()
    fig = training_curves_figure(curves)
    # training loss, validation loss, validation IoU: one line per run and seed in each
    assert [len(ax.lines) for ax in fig.axes] == [4, 4, 4]
    drawn = sorted(tuple(line.get_ydata()) for line in fig.axes[0].lines)
    expected = sorted(tuple(curves.train_loss.sel(run=r, seed=s).values) for r, s in folders)
    assert drawn == expected

    # an evaluation table of the runs groups by architecture, seeds as the spread
    table = evaluation_table([str(f) for f in folders.values()], tiny_set(3, (32, 32), seed=9))
    assert sorted(set(table.run.values)) == [
        "classical:beggan",
        "classical:canny",
        "narrow",
        "wide",
    ]
    frame = table.iou.to_dataframe().reset_index()
    assert frame[frame.run == "wide"].training_seed.tolist() == [0, 1]
    want = frame.groupby("run").iou.mean()
    got = table.iou.groupby("run").mean().to_series()
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False)


def test_a_failing_run_keeps_the_others_and_fails_the_command(tmp_path, capsys):
    data = tiny_set(4, (32, 32)).save(tmp_path / "d.npz")
    argv = ["compare", "--data", f"npz:{data}", "--epochs", "1", "--workers", "1",
            "--no-progress", "-o", str(tmp_path / "c"),
            "--run", "bad", "unet", "base_channels=2", "depth=0",
            "--run", "good", "unet", "base_channels=2", "depth=2"]  # fmt: skip
    assert _cli(argv) == 1
    out = capsys.readouterr().out
    assert "1 run(s) failed" in out and "bad seed 0: ValueError: depth must be at least 1" in out
    assert finished_epochs(run_folder(tmp_path / "c", "good", 0)) == 1
    assert finished_epochs(run_folder(tmp_path / "c", "bad", 0)) == 0
    with xr.open_dataset(tmp_path / "c" / "curves.nc") as c:
        assert c.run.values.tolist() == ["good"]


def test_training_curves_pad_a_shorter_run_with_nan(tmp_path):
    data = tiny_set(4, (32, 32)).save(tmp_path / "d.npz")
    for label, epochs in (("a", 2), ("b", 1)):
        argv = ["train", "--data", f"npz:{data}", "--epochs", str(epochs), "--base-channels", "2",
                "--depth", "2", "--no-progress", "-o", str(run_folder(tmp_path, label, 3))]  # fmt: skip
        assert _cli(argv) == 0
    c = training_curves(tmp_path)
    assert c.run.values.tolist() == ["a", "b"] and c.seed.values.tolist() == [3]
    assert np.isfinite(c.val_loss.sel(run="a")).all()
    assert np.isnan(c.val_loss.sel(run="b", epoch=2)).all()
    assert np.isfinite(c.val_loss.sel(run="b", epoch=1)).all()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "nothing to compare"),
        (["--run", "only-a-label"], "LABEL MODEL"),
        (["--run", "x", "unet", "depth"], "KEY=VALUE"),
        (["unet", "--run", "unet", "unet", "depth=2"], "repeated"),
        (["unet", "--workers", "0"], "at least 1"),
    ],
)
def test_compare_refuses_a_bad_run_list_before_training(tmp_path, extra, message):
    argv = ["compare", "--epochs", "1", "--workers", "1", "-o", str(tmp_path / "c"), *extra]
    with pytest.raises(ValueError, match=message):
        _cli(argv)
    assert not (tmp_path / "c").exists()


def test_run_folder_names():
    assert run_folder("o", "smp:Unet++", 0).as_posix() == "o/smp-Unet--/seed0"
    with pytest.raises(ValueError, match="usable"):
        run_folder("o", "..", 0)


def test_compare_on_local_workers_gives_the_models_of_a_run_here(tmp_path):
    """The Dask path (two worker processes) trains what the in-process path trains."""
    data = tiny_set(4, (32, 32)).save(tmp_path / "d.npz")
    common = ["compare", "--data", f"npz:{data}", "--epochs", "1", "--seeds", "0", "1",
              "--no-progress", "--run", "tiny", "unet", "base_channels=2", "depth=2"]  # fmt: skip
    assert _cli([*common, "--workers", "2", "-o", str(tmp_path / "dask")]) == 0
    assert _cli([*common, "--workers", "1", "-o", str(tmp_path / "here")]) == 0
    for seed in (0, 1):
        a = load(run_folder(tmp_path / "dask", "tiny", seed))
        b = load(run_folder(tmp_path / "here", "tiny", seed))
        assert same(weights(a), weights(b))


def test_after_an_interruption_the_runs_furthest_along_go_first(tmp_path, monkeypatch):
    import xspecseg._cli_train as cli_train

    data = tiny_set(4, (32, 32)).save(tmp_path / "d.npz")
    argv = _compare(tmp_path, data, 1)
    assert _cli(argv) == 0
    # one run gets a second epoch by its own train command, and the grid is stopped
    # while that run trains its third: its epoch checkpoints stay, its model is not written
    ahead = run_folder(tmp_path / "cmp", "narrow", 1)
    command = shlex.split(load(ahead).xspecseg_config["provenance"]["command"])[1:]
    command[command.index("--epochs") + 1] = "2"
    assert _cli(command) == 0 and finished_epochs(ahead) == 2
    for name in ("config.json", "model.safetensors", "history.nc"):
        (ahead / name).unlink()
    assert finished_epochs(ahead) == 0 and trained_epochs(ahead) == 2
    order = []
    task = cli_train._compare_task

    def recorded(ns, _after=None):
        order.append(ns.output)
        return task(ns, _after)

    monkeypatch.setattr(cli_train, "_compare_task", recorded)
    assert _cli(_compare(tmp_path, data, 3)) == 0
    given = [str(run_folder(tmp_path / "cmp", r, s)) for r in ("wide", "narrow") for s in (0, 1)]
    assert order == [str(ahead)] + [f for f in given if f != str(ahead)]
    assert all(finished_epochs(f) == 3 for f in given)

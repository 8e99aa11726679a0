"""Shared contract every registry architecture must meet; each test file subclasses it.

A subclass sets ``name``, ``small_kwargs`` (a fast configuration for the tests),
``small_params`` and ``default_params`` (inclusive parameter-count ranges).
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import torch

from xspecseg.models import get_model


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def gradient_reach(
    model: torch.nn.Module, size: int, pixels: list[int], in_channels: int = 1
) -> int:
    """Largest distance from an output pixel to an input pixel its value depends on."""
    model.eval()
    torch.manual_seed(0)
    x = torch.randn(1, in_channels, size, size, requires_grad=True)
    worst = 0
    for c in pixels:
        x.grad = None
        model(x)[0, 0, c, c].backward()
        support = x.grad[0].abs().sum(0)
        rows = torch.nonzero(support.sum(1) > 0).flatten()
        cols = torch.nonzero(support.sum(0) > 0).flatten()
        assert rows.numel() > 0, "no gradient reached the input"
        worst = max(worst, c - int(rows.min()), int(rows.max()) - c)
        worst = max(worst, c - int(cols.min()), int(cols.max()) - c)
    return worst


@contextlib.contextmanager
def parameters_allowed_zero_gradient(model: torch.nn.Module) -> Iterator[set[str]]:
    """Parameters whose gradient is zero in exact arithmetic, found by structure in one pass.

    - the bias of a layer whose output goes straight into a batch norm (in training mode
      the norm removes any constant, so the bias cannot change the loss);
    - every parameter of a layer whose output goes straight into a ReLU that is zero
      everywhere on this input (a dead unit), and the weight of a layer whose input is
      zero everywhere.

    Every module tags its output tensor with its name; consumers look up their input's
    producer. Whether such a gradient comes out as exactly 0.0 or as rounding noise depends
    on summation order and thread count, so only these may be exactly zero.
    """
    names = {m: n for n, m in model.named_modules()}
    produced: dict[int, tuple[str, torch.Tensor]] = {}  # the tensor is kept so ids stay unique
    exempt: set[str] = set()

    def own(module_name: str, *params: str) -> None:
        module = model.get_submodule(module_name)
        for p in params:
            if isinstance(getattr(module, p, None), torch.nn.Parameter):
                exempt.add(f"{module_name}.{p}" if module_name else p)

    def before(module, inputs):
        x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
        if x is None:
            return
        if not torch.any(x != 0):
            own(names[module], "weight")
        hit = produced.get(id(x))
        if hit is not None and isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            own(hit[0], "bias")
        module._xs_input = hit

    def after(module, _inputs, output):
        if not isinstance(output, torch.Tensor):
            return
        hit = getattr(module, "_xs_input", None)
        if isinstance(module, torch.nn.ReLU) and hit is not None and not torch.any(output != 0):
            own(hit[0], "weight", "bias")
        produced[id(output)] = (names[module], output)

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_pre_hook(before) for m in leaves]
    handles += [m.register_forward_hook(after) for m in leaves]
    try:
        yield exempt
    finally:
        for h in handles:
            h.remove()
        for m in leaves:
            m.__dict__.pop("_xs_input", None)
        produced.clear()


class ModelContract:
    name: ClassVar[str]
    small_kwargs: ClassVar[dict[str, Any]] = {}
    small_params: ClassVar[tuple[int, int]]
    default_params: ClassVar[tuple[int, int]]

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls) -> torch.nn.Module:
        torch.manual_seed(0)
        return get_model(cls.name, **cls.small_kwargs)

    @pytest.mark.parametrize("shape", [(1, 1, 37, 53), (2, 1, 64, 96), (1, 1, 5, 3)])
    def test_shape_kept_for_any_size(self, model: torch.nn.Module, shape: tuple[int, ...]) -> None:
        model.eval()
        with torch.no_grad():
            y = model(torch.randn(*shape))
        assert y.shape == shape
        assert torch.isfinite(y).all()

    def test_shape_in_train_mode(self, model: torch.nn.Module) -> None:
        model.train()
        y = model(torch.randn(2, 1, 37, 53))
        assert y.shape == (2, 1, 37, 53)

    def test_channels_and_classes(self) -> None:
        m = get_model(self.name, in_channels=2, classes=3, **self.small_kwargs).eval()
        with torch.no_grad():
            y = m(torch.randn(2, 2, 33, 47))
        assert y.shape == (2, 3, 33, 47)
        assert m.xspecseg_info["kwargs"]["in_channels"] == 2
        assert m.xspecseg_info["kwargs"]["classes"] == 3

    def test_gradient_reaches_every_parameter(self, model: torch.nn.Module) -> None:
        model.train()
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        x = torch.randn(2, 1, 64, 96)
        with parameters_allowed_zero_gradient(model) as exempt:
            y = model(x)
        (y * torch.randn_like(y)).sum().backward()
        params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        unreached = [n for n, p in params if p.grad is None]
        assert unreached == []
        # exact zeros only where the structure makes the gradient zero (see the helper)
        zero = [n for n, p in params if not torch.any(p.grad != 0) and n not in exempt]
        assert zero == []
        assert all(torch.isfinite(p.grad).all() for p in model.parameters())
        model.zero_grad(set_to_none=True)

    def test_eval_is_deterministic(self, model: torch.nn.Module) -> None:
        model.eval()
        x = torch.randn(2, 1, 40, 72)
        with torch.no_grad():
            a, b = model(x), model(x)
        assert torch.equal(a, b)

    def test_padding_leaves_each_image_alone(self, model: torch.nn.Module) -> None:
        # images of a batch are processed independently (eval-mode batch norm)
        model.eval()
        x = torch.randn(2, 1, 37, 53)
        with torch.no_grad():
            both = model(x)
            first = model(x[:1])
        torch.testing.assert_close(both[:1], first, rtol=1e-4, atol=1e-5)

    def test_rebuilds_offline_from_info(
        self, model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def refuse(*args: Any, **kwargs: Any) -> None:
            raise OSError("network access attempted while building a model")

        monkeypatch.setattr(socket.socket, "connect", refuse)
        monkeypatch.setattr(socket, "getaddrinfo", refuse)
        monkeypatch.setattr(socket, "create_connection", refuse)
        info = model.xspecseg_info
        assert info["name"] == self.name
        keys = {"name", "kwargs", "downsampling", "receptive_field", "global_context", "local"}
        assert set(info) >= keys
        assert info["local"] is not info["global_context"]
        ds, rf = info["downsampling"], info["receptive_field"]
        assert isinstance(ds, int) and ds >= 1 and ds & (ds - 1) == 0
        assert isinstance(rf, int) and rf % 2 == 1 and rf > ds
        # kwargs round-trip through JSON and rebuild the same architecture, offline
        kwargs = json.loads(json.dumps(info["kwargs"]))
        again = get_model(info["name"], **kwargs)
        assert {k: v.shape for k, v in again.state_dict().items()} == {
            k: v.shape for k, v in model.state_dict().items()
        }
        assert again.xspecseg_info == json.loads(json.dumps(info))

    def test_small_parameter_count(self, model: torch.nn.Module) -> None:
        lo, hi = self.small_params
        assert lo <= n_params(model) <= hi

    def test_default_parameter_count(self, model: torch.nn.Module) -> None:
        lo, hi = self.default_params
        default = model if not self.small_kwargs else get_model(self.name)
        assert lo <= n_params(default) <= hi

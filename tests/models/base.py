"""Shared contract every registry architecture must meet; each test file subclasses it.

A subclass sets ``name``, ``small_kwargs`` (a fast configuration for the tests),
``small_params`` and ``default_params`` (inclusive parameter-count ranges).
"""

from __future__ import annotations

import json
import socket
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
        y = model(x)
        (y * torch.randn_like(y)).sum().backward()
        params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        unreached = [n for n, p in params if p.grad is None]
        assert unreached == []
        # an exact zero is allowed for the odd tensor (a conv bias under batch norm, a dead
        # ReLU), not for a whole branch
        zero = [n for n, p in params if not torch.any(p.grad != 0)]
        assert len(zero) <= max(2, len(params) // 50), zero
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

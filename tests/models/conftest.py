"""Model tests run torch on one thread.

The networks in these tests are tiny: with several intra-op threads on a shared machine,
OpenMP synchronisation costs far more than the arithmetic (measured 20-50x slower on two
busy cores), so one thread keeps the suite fast and its timings stable.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="package", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

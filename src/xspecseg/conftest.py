"""Set-up of the docstring examples, which pytest runs as doctests (``make test``).

Only pytest imports this module. It lives inside the package, where its module name
(``xspecseg.conftest``) cannot clash with the test suite's own ``conftest``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# before anything imports pyplot: examples save figures, none opens a window
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _doctest_in_tmp_path(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Run each docstring in a fresh temporary directory, closing its figures afterwards.

    The examples write stores and files by relative names ("site.zarr"), as a reader
    would; here they land in a directory of their own instead of the working tree.
    """
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
    monkeypatch.chdir(tmp_path)
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")

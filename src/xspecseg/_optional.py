"""Optional dependencies: a missing one is reported with the extra that installs it.

The core (cubes, events, catalogues, statistics) installs with ``pip install xspecseg``;
the networks, the CSES reader, magnetic latitudes, figures, clusters and miniSEED come
with extras. Their packages are imported where they are used, inside :func:`needs_extra`,
so ``import xspecseg`` and everything that does not use them work without them.

Examples
--------
>>> with needs_extra("cses"):  # doctest: +IGNORE_EXCEPTION_DETAIL
...     import not_a_real_package
Traceback (most recent call last):
MissingExtraError: ...
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["EXTRAS", "MissingExtraError", "needs_extra"]

#: The extras of pyproject.toml that bring optional packages (``all`` is all of them).
EXTRAS = ("models", "smp", "cses", "geomag", "plot", "cluster", "mseed")


class MissingExtraError(ModuleNotFoundError):
    """An optional package is not installed; the message names the extra that brings it.

    A :class:`ModuleNotFoundError` (so an :class:`ImportError`), so code that already
    handles a missing module keeps doing so.
    """

    def __init__(self, missing: str | None, extra: str) -> None:
        self.extra = extra
        what = f"No module named {missing!r}" if missing else "An optional package is missing"
        super().__init__(
            f"{what}: it comes with xspecseg's {extra!r} extra, pip install 'xspecseg[{extra}]'",
            name=missing,
        )


@contextlib.contextmanager
def needs_extra(extra: str) -> Iterator[None]:
    """Turn a missing module imported in the block into a :class:`MissingExtraError`.

    Parameters
    ----------
    extra : str
        The extra of ``xspecseg`` that installs what the block imports (one of
        :data:`EXTRAS`).

    Raises
    ------
    MissingExtraError
        When an import in the block finds no module. Other errors, such as an installed
        package failing while it imports, pass through unchanged: they are no missing extra.
    """
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; one of {sorted(EXTRAS)}")
    try:
        yield
    except MissingExtraError:
        raise
    except ModuleNotFoundError as exc:
        raise MissingExtraError(exc.name, extra) from exc

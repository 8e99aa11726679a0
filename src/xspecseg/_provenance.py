"""Provenance stamps: the UTC time and the CF ``history`` lines that xspecseg writes.

Every writer (stores, cubes, catalogues, distributions, predictions) stamps its output
the same way, so that one ``history`` attribute reads as one log whichever steps made it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from typing import Any

from ._version import __version__

__all__ = ["append_history", "history_line", "sha256_file", "utc_now_iso"]


def utc_now_iso() -> str:
    """The current UTC time to the second, ISO 8601 with a ``Z``.

    Returns
    -------
    str
        E.g. ``"2024-05-01T12:00:00Z"``.

    Examples
    --------
    >>> stamp = utc_now_iso()
    >>> len(stamp), stamp[10], stamp[-1]
    (20, 'T', 'Z')
    """
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 of a file in hex, what ``sha256sum`` prints (read in 1 MiB blocks).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(delete=False) as fh:
    ...     _ = fh.write(b"abc")
    >>> sha256_file(fh.name)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def history_line(what: str, when: str | None = None) -> str:
    """One CF ``history`` line: ``<ISO time> xspecseg <version>: <what>``.

    Parameters
    ----------
    what : str
        The step, e.g. ``"write_catalogue"``.
    when : str, optional
        The time stamp, from :func:`utc_now_iso`; now by default. A writer that stamps
        another attribute too (``date_created``) passes its own, so that the two agree.

    Returns
    -------
    str
        The line, without a newline.

    Examples
    --------
    >>> history_line("write_catalogue").split(" ", 1)[1].startswith("xspecseg ")
    True
    """
    return f"{when or utc_now_iso()} xspecseg {__version__}: {what}"


def append_history(history: Any, line: str) -> str:
    """A ``history`` attribute with ``line`` added as its last line.

    Parameters
    ----------
    history : str or None
        The attribute so far; ``None`` or blank when there is none.
    line : str
        The line to add, e.g. from :func:`history_line`.

    Returns
    -------
    str
        The old lines (trailing whitespace dropped) and ``line``.

    Examples
    --------
    >>> append_history("a\\n", "b")
    'a\\nb'
    >>> append_history(None, "b")
    'b'
    """
    old = str(history or "").rstrip()
    return f"{old}\n{line}" if old else line

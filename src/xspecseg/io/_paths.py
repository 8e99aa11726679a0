"""Paths, glob patterns and folders given to a reader, as one ordered list of inputs.

Every reader takes its inputs by the same rule, so that a command line behaves alike
whichever reader it reaches:

1. One path (``str`` or ``os.PathLike``) or an iterable of them; an empty iterable is
   refused.
2. A path that exists is taken as it is, never as a pattern: a file whose name holds
   ``[`` is still read.
3. A path that does not exist but holds ``*``, ``?`` or ``[`` is a glob pattern; its
   matches are taken in sorted order, and a pattern that matches nothing is refused.
4. A folder that is itself one dataset (a Zarr store, for the waveform reader) is
   taken as it is.
5. Any other folder stands for the entries the reader picks from it (the waveform
   reader: every visible file or store; the CSES reader: ``CSES_01_EFD_*.h5``), in
   sorted order; a folder holding none of them is refused.
6. Anything else is refused as missing.

The readers differ only in points 4 and 5, which are parameters of :func:`expand_paths`.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["expand_paths"]

_GLOB_CHARS = frozenset("*?[")


def _never(p: Path) -> bool:
    return False


def expand_paths(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    reader: str,
    members: Callable[[Path], Iterable[Path]],
    wanted: str = "files",
    is_dataset: Callable[[Path], bool] = _never,
) -> list[str]:
    """The inputs named by ``paths``, by the rule in the module notes.

    Parameters
    ----------
    paths : path, glob pattern, folder, or an iterable of them
        What the caller gave.
    reader : str
        The reader's name, which starts the message for an empty list.
    members : callable
        ``members(folder)``: the entries of a folder that the reader reads (point 5).
    wanted : str
        What ``members`` looks for, in the message for a folder holding none.
    is_dataset : callable
        ``is_dataset(folder)``: whether a folder is itself one input (point 4).

    Returns
    -------
    list of str
        Existing paths, in the order given, patterns and folders sorted within.

    Raises
    ------
    ValueError
        ``paths`` is an empty iterable.
    FileNotFoundError
        A path that does not exist, a pattern that matches nothing, or a folder holding
        none of what the reader reads.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> d = Path(tempfile.mkdtemp())
    >>> for name in ("b.h5", "a.h5", "notes.txt"):
    ...     _ = (d / name).write_text("")
    >>> files = expand_paths(d, reader="demo", members=lambda f: f.glob("*.h5"))
    >>> [Path(f).name for f in files]
    ['a.h5', 'b.h5']
    """
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not items:
        raise ValueError(f"{reader}: empty path list")
    out: list[str] = []
    for item in items:
        s = os.fspath(item)
        p = Path(s)
        if _GLOB_CHARS & set(s) and not p.exists():
            hits = sorted(glob.glob(s))
            if not hits:
                raise FileNotFoundError(f"{s}: the pattern matches no file")
            out.extend(hits)
        elif is_dataset(p):
            out.append(s)
        elif p.is_dir():
            hits = sorted(str(c) for c in members(p))
            if not hits:
                raise FileNotFoundError(f"{s}: the directory holds no {wanted}")
            out.extend(hits)
        elif p.exists():
            out.append(s)
        else:
            raise FileNotFoundError(f"{s}: no such file or directory")
    return out

"""Write a file so that a reader sees the old one or the new one, never a torn one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    An interrupted or failing ``write`` leaves ``path`` untouched and no temporary file.
    The file gets the permissions of any new file (``0o666`` less the umask).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder must exist.
    write : callable
        ``write(tmp)`` writes the whole content to the path ``tmp`` (which exists, empty).

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(p, lambda tmp: pathlib.Path(tmp).write_text("x")).read_text()
    'x'
    """
    path = Path(path)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    # O_EXCL: never write into someone else's file; mode 0o666 lets the umask decide
    # (tempfile.mkstemp would leave every written file readable by its owner only)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    try:
        write(str(tmp))
        # the data reach the disk before the new name does: after a crash the name holds
        # the old content or the new, never an empty file
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path

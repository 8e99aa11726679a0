"""Sphinx directive ``example-script``: show an example script, and run it at build time.

In a MyST page::

    ```{example-script} ../examples/quickstart.py
    :run:
    :args: out.png --quick
    :timeout: 300
    ```

shows the script; with ``:run:`` it is first run with the Python that builds the site,
in a new temporary directory (``MPLBACKEND=Agg``, ``:args:`` split as a shell would),
and what it prints on stdout and every PNG it writes there are shown under it. A script
that exits non-zero or runs past ``:timeout:`` seconds (default 600) is a build warning,
so ``make docs`` (``-W``) fails: the gallery cannot show output the code no longer gives.

The figures are kept in the build's cache (``<doctree dir>/example-scripts``), never in
the source tree. A page is read again, and its scripts run again, when the page, one of
its scripts, this extension or any file matched by the ``example_script_depends`` globs
(the package's modules; relative to the configuration folder) changes.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class ExampleScript(SphinxDirective):
    """Show a script; with ``:run:``, also what running it prints and draws."""

    required_arguments = 1
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {
        "run": directives.flag,
        "args": directives.unchanged,
        "timeout": directives.positive_int,
    }

    def run(self) -> list[nodes.Node]:
        rel, path = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(rel)
        self.env.note_dependency(__file__)  # a change here changes what is shown
        for pattern in self.config.example_script_depends:
            for dep in glob.glob(os.path.join(self.env.app.confdir, pattern), recursive=True):
                self.env.note_dependency(dep)
        source = Path(path).read_text(encoding="utf-8")
        code = nodes.literal_block(source, source, language="python")
        code["source"] = path
        self.set_source_info(code)
        out: list[nodes.Node] = [code]
        if "run" in self.options:
            out += self._run(Path(path))
        return out

    def _run(self, script: Path) -> list[nodes.Node]:
        args = shlex.split(self.options.get("args", ""))
        timeout = self.options.get("timeout", 600)
        keep = Path(self.env.app.doctreedir) / "example-scripts" / script.stem
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir(parents=True)
        env = {**os.environ, "MPLBACKEND": "Agg"}
        with tempfile.TemporaryDirectory(prefix="example-") as tmp:
            work = Path(tmp).resolve()
            try:
                done = subprocess.run(
                    [sys.executable, str(script), *args],
                    cwd=work,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                self._warn(f"{script.name} ran past {timeout} s")
                return []
            if done.returncode != 0:
                tail = "\n".join(done.stderr.strip().splitlines()[-15:])
                self._warn(
                    f"{script.name} exited with {done.returncode}" + (f":\n{tail}" if tail else "")
                )
                return []
            # the run's own folder means nothing to a reader: show it as "."
            printed = _ANSI.sub("", done.stdout).replace(str(work), ".").rstrip()
            figures = []
            for png in sorted(work.rglob("*.png")):
                dst = keep / png.relative_to(work).as_posix().replace("/", "_")
                shutil.copy2(png, dst)
                figures.append(dst)
        out: list[nodes.Node] = []
        if printed:
            out.append(nodes.rubric("", f"Output of python examples/{script.name}"))
            out.append(nodes.literal_block(printed, printed, language="none"))
        docdir = Path(self.env.doc2path(self.env.docname)).parent
        for png in figures:
            figure = nodes.figure()
            figure += nodes.image(uri=os.path.relpath(png, docdir), alt=png.name)
            figure += nodes.caption("", png.name)
            out.append(figure)
        return out

    def _warn(self, message: str) -> None:
        logger.warning(message, location=(self.env.docname, self.lineno))


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("example_script_depends", [], "env", types=[list])
    app.add_directive("example-script", ExampleScript)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

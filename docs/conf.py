"""Sphinx configuration of the xspecseg documentation (``make docs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
os.environ.setdefault("MPLBACKEND", "Agg")

import sphinxarg.ext  # noqa: E402
from docutils import nodes  # noqa: E402

import xspecseg  # noqa: E402

project = "xspecseg"
author = "the xspecseg developers"
copyright = "the xspecseg developers"
version = release = xspecseg.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinxarg.ext",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# Markdown pages (MyST): ::: fences, definition lists, and anchors for `page.md#section` links.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# API reference: autodoc reads the numpydoc docstrings; autosummary tables link to the
# module pages (no stub files are generated, so nothing is written into the source tree).
autosummary_generate = False
autodoc_typehints = "none"  # the numpydoc "Parameters" sections carry the types
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
numpydoc_show_class_members = False  # members are documented by autodoc itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# No network during the build: no intersphinx, nothing fetched.
html_theme = "pydata_sphinx_theme"
html_title = f"xspecseg {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
}
html_static_path: list[str] = []
html_show_sourcelink = False


# Docstrings are rendered as written, with one exception: src/xspecseg/io/raw.py:72 and :89
# write the coil response as bare |S(f)|, which reStructuredText reads as an undefined
# substitution (an error, so the build would fail). For that one function only, the bars
# are escaped before parsing; the text shown is unchanged. Remove once the docstring
# spells it ``|S(f)|``.
_ESCAPE_BARS = {
    "xspecseg.io.sierra_nevada_calibration",
    "xspecseg.io.raw.sierra_nevada_calibration",
}


def _escape_bare_bars(app, what, name, obj, options, lines):
    if name in _ESCAPE_BARS:
        for i, line in enumerate(lines):
            parts = line.split("``")  # odd parts are inline literals: left as they are
            parts[::2] = [p.replace("|S(f)|", r"\|S(f)\|") for p in parts[::2]]
            lines[i] = "``".join(parts)


# The command-line reference is generated from the argument parser by sphinx-argparse,
# which parses every help string as reStructuredText in a document of its own: its
# warnings bypass -W, and terminal text such as "round(p*254)" becomes broken markup.
# Help strings are written for the terminal, so they are shown as plain text.
def _help_as_plain_text(items, markdown_help, settings=None):
    out = []
    for element in items:
        if isinstance(element, str):
            paragraphs = [p.strip() for p in element.split("\n\n") if p.strip()]
            out += [nodes.paragraph(p, p) for p in paragraphs]
        elif isinstance(element, nodes.definition):
            out += element
    return out


sphinxarg.ext.render_list = _help_as_plain_text


def setup(app):
    app.connect("autodoc-process-docstring", _escape_bare_bars, priority=400)

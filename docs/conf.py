"""Sphinx configuration of the xspecseg documentation (``make docs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE / "_ext"))
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
    "rungallery",  # docs/_ext: the gallery's quick scripts run at build time
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
html_static_path: list[str] = ["_static"]
html_show_sourcelink = False

# The gallery (docs/gallery.md) runs its quick example scripts while the site is built;
# a change to the package runs them again, so the output shown is the current code's.
example_script_depends = ["../src/xspecseg/**/*.py"]


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

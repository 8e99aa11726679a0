"""The README's Python code runs as written, and the README and docs stay in step.

Every ```python block of README.md is executed, in order and in one namespace, inside a
temporary directory. A block that cannot run here (it needs the reader's own files) says
so on a line ``# docs: no-run <reason>`` and is skipped with that reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
NO_RUN = "# docs: no-run"

_PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def python_blocks(path: Path) -> list[str]:
    return [m.group(1) for m in _PYTHON_BLOCK.finditer(path.read_text(encoding="utf-8"))]


def test_readme_first_lines_are_the_two_commands():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[:6] == [
        "# xspecseg",
        "",
        "```bash",
        "make demo   # installs everything into .venv, then runs the whole chain on generated data",
        "make test   # installs everything into .venv, then runs the test suite",
        "```",
    ]
    assert len(lines) < 200


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = python_blocks(README)
    assert blocks, "README.md has no ```python block"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    skipped = []
    for i, code in enumerate(blocks):
        marker = next((ln for ln in code.splitlines() if NO_RUN in ln), None)
        if marker is not None:
            reason = marker.split(NO_RUN, 1)[1].strip(" :-")
            assert reason, f"README block {i}: '{NO_RUN}' needs a reason"
            skipped.append(i)
            continue
        exec(compile(code, f"README.md python block {i}", "exec"), namespace)
    assert len(skipped) < len(blocks), "every README block is marked no-run"
    # the quickstart writes the three stores it talks about
    assert (tmp_path / "site.zarr").is_dir()
    assert (tmp_path / "prob.zarr").is_dir()
    assert (tmp_path / "events.nc").is_file()


def test_getting_started_shows_the_readme_quickstart():
    quickstart = python_blocks(README)[0]
    assert quickstart in python_blocks(DOCS / "getting-started.md")


def test_readme_links_resolve():
    for target in _LINK.findall(README.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+://|#|mailto:", target):
            continue
        path = target.split("#", 1)[0]
        assert (ROOT / path).exists(), f"README links to missing {target}"


def test_gallery_shows_every_example():
    gallery = (DOCS / "gallery.md").read_text(encoding="utf-8")
    for script in sorted((ROOT / "examples").glob("*.py")):
        assert f"../examples/{script.name}" in gallery, f"{script.name} is not in the gallery"

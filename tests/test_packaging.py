"""Packaging: the extras, what works without them, the single version, shipped files.

The optional packages are made unimportable in a child interpreter (a meta-path finder
refusing them), so the rest of the suite keeps its own imports.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from xspecseg._optional import EXTRAS, MissingExtraError, needs_extra

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "xspecseg"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# top-level modules each extra brings (what the child interpreter refuses)
BLOCKED = {
    "models": ["torch", "safetensors"],
    "smp": ["torchvision", "timm", "segmentation_models_pytorch"],
    "cses": ["h5py"],
    "geomag": ["aacgmv2"],
    "plot": ["matplotlib", "PIL"],
    "cluster": ["distributed"],
    "mseed": ["obspy"],
}

# the core, importable whatever extras are missing
CORE_MODULES = [
    "calibration", "catalogue", "classical", "cli", "cluster", "config", "contract", "cube",
    "demo", "dsp", "events", "geomag", "infer", "io", "stats", "synth", "testing",
    "validation",
]  # fmt: skip

BLOCKER = """
import importlib, sys
BLOCKED = {blocked!r}

class _Refuse:
    # as if the package were not installed
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _Refuse())
import xspecseg
for m in {core!r}:
    importlib.import_module("xspecseg." + m)
"""

# per extra: code that needs it, run after the core imported without it
USES = {
    "models": "import xspecseg.models",
    # the shipped models need torch only: they load and run without smp's packages
    "smp": """
        import xspecseg.models
        assert xspecseg.models.load("iar-default") is not None
        xspecseg.models.get_model("smp:Unet")
    """,
    "cses": """
        assert callable(xspecseg.io.read_cses) and callable(xspecseg.synth.cses_orbits)
        open("orbit.h5", "wb").close()
        xspecseg.io.read_cses(os.path.abspath("orbit.h5"), check_name=False)
    """,
    "geomag": "xspecseg.magnetic_latitude(45.0, 10.0, 0.0, np.datetime64('2020-06-01'))",
    "plot": "import xspecseg.plot",
    "cluster": "xspecseg.cluster.local_cluster(1)",
    "mseed": """
        with open("a.mseed", "wb") as f:
            f.write(bytes(4096))
        xspecseg.io.open_mseed([os.path.abspath("a.mseed")])
    """,
}

TRY_USE = """
import os
import numpy as np
try:
{use}
except ImportError as exc:
    print("MESSAGE:", exc)
else:
    print("NO ERROR")
"""


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _without(blocked: list[str], then: str) -> str:
    return BLOCKER.format(blocked=sorted(blocked), core=CORE_MODULES) + textwrap.dedent(then)


@pytest.mark.parametrize("extra", EXTRAS)
def test_missing_extra_is_named_when_used(extra: str, tmp_path: Path) -> None:
    use = textwrap.indent(textwrap.dedent(USES[extra]).strip(), "    ")
    code = _without(BLOCKED[extra], TRY_USE.format(use=use))
    res = _run(code, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "MESSAGE:" in res.stdout, res.stdout
    assert f"pip install 'xspecseg[{extra}]'" in res.stdout


def test_core_without_any_extra(tmp_path: Path) -> None:
    everything = [m for mods in BLOCKED.values() for m in mods]
    code = _without(
        everything,
        """
        cfg = xspecseg.CubeConfig.preset("iar")
        loaded = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
        print("LOADED:", loaded, xspecseg.__version__)
        """,
    )
    res = _run(code, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "LOADED: [] " in res.stdout


@pytest.mark.parametrize("broken", ["xspecseg.io.cses", "xspecseg.synth.cses"])
def test_broken_submodule_is_not_hidden(broken: str, tmp_path: Path) -> None:
    """An ImportError inside a submodule surfaces instead of its names going missing."""
    code = f"""
import importlib, sys

class _Broken:
    def find_spec(self, name, path=None, target=None):
        if name == {broken!r}:
            raise ImportError("cannot import name 'gone' (deliberately broken)")
        return None

sys.meta_path.insert(0, _Broken())
importlib.import_module({broken.rpartition(".")[0]!r})
"""
    res = _run(code, tmp_path)
    assert res.returncode != 0
    assert "deliberately broken" in res.stderr


def test_needs_extra() -> None:
    with pytest.raises(MissingExtraError, match=r"pip install 'xspecseg\[geomag\]'") as info:
        with needs_extra("geomag"):
            import xspecseg_no_such_package  # noqa: F401
    assert isinstance(info.value, ImportError)
    assert info.value.name == "xspecseg_no_such_package"
    with pytest.raises(ValueError, match="unknown extra"):
        with needs_extra("nope"):
            pass
    # an installed package failing at import is not reported as a missing extra
    with pytest.raises(RuntimeError), needs_extra("models"):
        raise RuntimeError("broken build")


# modules of the extras that the source imports (distributed is feature-detected)
_OPTIONAL_IMPORTS = {m for mods in BLOCKED.values() for m in mods} - {"distributed"}


def _guarded_by(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.With) and any(
            isinstance(item.context_expr, ast.Call)
            and getattr(item.context_expr.func, "id", None) == "needs_extra"
            for item in node.items
        ):
            return True
    return False


def test_optional_imports_name_their_extra() -> None:
    """Each import of an optional package sits in ``with needs_extra(...)``.

    Except inside ``models`` and ``training``, whose ``__init__`` does that for torch.
    """
    unguarded = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ("models", "training") and rel.name != "__init__.py":
            continue
        if rel.name == "conftest.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            if any(n.partition(".")[0] in _OPTIONAL_IMPORTS for n in names):
                if not _guarded_by(node, parents):
                    unguarded.append(f"{rel}:{node.lineno}")
    assert not unguarded


def test_extras_in_pyproject() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(EXTRAS) | {"all", "test", "docs"} == set(extras)
    assert extras["all"] == [f"xspecseg[{','.join(EXTRAS)}]"]
    assert "xspecseg[all]" in extras["test"]
    deps = PYPROJECT["project"]["dependencies"] + [d for v in extras.values() for d in v]
    # ranges only: pins belong in constraints.txt, or a user's own torch would be replaced
    assert not [d for d in deps if "==" in d]
    core = {d.split(">")[0].split("[")[0].lower() for d in PYPROJECT["project"]["dependencies"]}
    assert not core & {"torch", "h5py", "aacgmv2", "matplotlib", "obspy", "distributed"}


def test_one_version() -> None:
    import xspecseg
    from xspecseg import _version

    assert "version" not in PYPROJECT["project"]
    assert "version" in PYPROJECT["project"]["dynamic"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "xspecseg._version.__version__"
    assert xspecseg.__version__ == _version.__version__
    # lower modules import the version from _version, never the package root
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.level > 0
                and not node.module
                and any(a.name == "__version__" for a in node.names)
            ):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not offenders


def test_shipped_files() -> None:
    assert PYPROJECT["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert (SRC / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["xspecseg"]


# package modules that need an optional extra at import (torch: models, training;
# matplotlib: plot): the only ones another module may import inside a function
_NEEDS_AN_EXTRA = ("models", "training", "plot")


def test_imports_inside_functions_only_defer_an_optional_extra() -> None:
    """A package module is imported at the top of a module, unless importing it needs an
    optional extra; then the import sits in the function that uses it, so the rest of
    the package (and the command line) works without that extra."""
    deferred = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] in _NEEDS_AN_EXTRA or rel.name == "conftest.py":
            continue
        package = ["xspecseg", *rel.parts[:-1]]
        tree = ast.parse(path.read_text(), str(path))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, ast.ImportFrom):
                    continue
                base = package[: len(package) - node.level + 1] if node.level else []
                target = [*base, *(node.module or "").split(".")] if node.module else base
                targets = (
                    [".".join(target)]
                    if node.module
                    else [".".join([*target, a.name]) for a in node.names]
                )
                for t in targets:
                    parts = t.split(".")
                    if parts[0] == "xspecseg" and (
                        len(parts) < 2 or parts[1] not in _NEEDS_AN_EXTRA
                    ):
                        deferred.append(f"{rel}:{node.lineno} imports {t}")
    assert not deferred

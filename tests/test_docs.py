"""The code of the README and of the docs runs as written; the README and docs stay in step.

* Every ```python block of README.md is executed, in order and in one namespace, inside a
  temporary directory; so is every ```python block of each page under docs/, a page at a
  time, each in a directory and namespace of its own. ```toml blocks are parsed in the
  same pass, and those that are cube configs loaded with ``CubeConfig.from_toml`` from
  that directory (a file they name is taken from there, as a reader's would be). A block
  that is a piece of a file says so in a MyST comment on the line before it,
  ``% docs: in examples/sierra_nevada.toml``, and is loaded in that file in place of the
  keys it sets.
* A block that cannot run here says so on a line ``# docs: no-run <reason>`` (in a docs
  page, preferably a MyST comment ``% docs: no-run <reason>`` on the line before the
  block, which the site does not show) and is skipped with that reason.
* Code that reads the reader's own files (``records/``, ``site.zarr`` ...) finds small
  stand-ins made here (:data:`STAND_INS`); the stores come from the README quickstart's
  run, which a page showing the same quickstart reuses instead of running it again.
* Every command line of a ```bash or ```console block must still be accepted:
  ``xspecseg ...`` by the real argument parser, ``make X`` by the Makefile,
  ``python FILE.py`` by the file's existence, ``pip install ".[extra]"`` by pyproject.
"""

from __future__ import annotations

import ast
import inspect
import re
import shlex
import shutil
import textwrap
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
NO_RUN = "# docs: no-run"
# the same as a MyST comment on the line before the block's fence
_NO_RUN_COMMENT = re.compile(r"^%\s*docs: no-run\b(.*)$")
_IN_FILE_COMMENT = re.compile(r"^%\s*docs: in (\S+)\s*$")

# A fenced block: ```lang, ~~~lang or MyST's ```{code-block} lang, also indented in a list.
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)"
    r"^(?P=indent)(?P=fence)[ \t]*$",
    re.S | re.M,
)
_DIRECTIVE = re.compile(r"\{(?:code-block|code|sourcecode)\}\s*(\S*)")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_SHELL = {"bash", "console", "sh", "shell"}


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: Path
    index: int  # among the file's blocks of the same language
    lang: str
    code: str
    line: int
    comment: str = ""  # the line before the fence

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} ({self.lang} block {self.index})"

    @property
    def no_run_reason(self) -> str | None:
        before = _NO_RUN_COMMENT.match(self.comment)
        marker = next((ln for ln in self.code.splitlines() if NO_RUN in ln), None)
        if before is not None:
            reason = before.group(1).strip(" :-")
        elif marker is not None:
            reason = marker.split(NO_RUN, 1)[1].strip(" :-")
        else:
            return None
        assert reason, f"{self.where}: '{NO_RUN}' needs a reason"
        return reason


def blocks(path: Path, langs: set[str] | None = None) -> list[Block]:
    """The fenced code blocks of ``path`` (of the languages ``langs``), in order."""
    text = path.read_text(encoding="utf-8")
    out: list[Block] = []
    counts: dict[str, int] = {}
    for m in _FENCE.finditer(text):
        info = m.group("info").strip()
        directive = _DIRECTIVE.match(info)
        lang = (directive.group(1) if directive else info.split(" ")[0]).lower()
        body = textwrap.dedent(m.group("body"))
        if directive:  # the directive's options (":caption: ...") are not code
            body = re.sub(r"\A(?:[ \t]*:[\w-]+:.*\n)+", "", body)
        if langs is not None and lang not in langs:
            continue
        i = counts[lang] = counts.get(lang, -1) + 1
        line = text.count("\n", 0, m.start()) + 1
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        out.append(Block(path, i, lang, body, line, before))
    return out


def python_blocks(path: Path) -> list[str]:
    return [b.code for b in blocks(path, {"python"})]


def docs_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)


# --------------------------------------------------------------------------- stand-ins
# What the pages' code opens as if it were the reader's own: small, made in the page's
# directory before its first block runs. Keys are the names the pages use.


def _records(d: Path, quickstart: Path) -> None:
    import obspy

    (d / "records").mkdir()
    rng = np.random.default_rng(0)
    for ch in ("H", "D"):  # ten minutes of two channels at 100 Hz, one file each
        head = {"network": "XX", "station": "ESK", "channel": ch, "sampling_rate": 100.0}
        head["starttime"] = obspy.UTCDateTime("2013-01-20")
        obspy.Trace(rng.standard_normal(60_000), head).write(
            str(d / "records" / f"ESK.{ch}.mseed"), format="MSEED"
        )


def _station(d: Path, quickstart: Path) -> None:
    import xspecseg as xs
    from xspecseg.testing import random_waveform

    xs.io.write_waveform(random_waveform(hours=1), d / "station.zarr")


def _orbits(d: Path, quickstart: Path) -> None:
    from xspecseg.synth import cses_orbits

    # orbit 23229 (2022-04-10), the half-orbit docs/user-guide/statistics.md draws
    cses_orbits("2022-04-10", days=1, seed=3, out_dir=d / "orbits", orbits=[23229])


def _sensor_response(d: Path, quickstart: Path) -> None:
    f = np.array([0.1, 1.0, 5.0, 10.0, 20.0])
    np.savetxt(d / "sensor_response.csv", np.c_[f, 200.0 / f], delimiter=",", header="Hz, V/nT")


def _from_quickstart(name: str) -> Callable[[Path, Path], None]:
    def copy(d: Path, quickstart: Path) -> None:
        src = quickstart / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, d / name)

    return copy


MAKERS: dict[str, Callable[[Path, Path], None]] = {
    "records": _records,
    "station.zarr": _station,
    "orbits": _orbits,
    "sensor_response.csv": _sensor_response,
    **{n: _from_quickstart(n) for n in ("site.zarr", "prob.zarr", "events.nc")},
}

#: page (relative to docs/) -> the stand-ins its code reads.
STAND_INS: dict[str, tuple[str, ...]] = {
    "getting-started.md": ("records",),
    "user-guide/readers.md": ("records", "station.zarr", "orbits"),
    "user-guide/cubes.md": ("sensor_response.csv",),
    "user-guide/inference.md": ("site.zarr",),
    "user-guide/events.md": ("site.zarr", "prob.zarr"),
    "user-guide/statistics.md": ("site.zarr", "prob.zarr", "events.nc", "orbits"),
}


# --------------------------------------------------------------------------- running


@dataclass
class Run:
    """What running a file's blocks left: its directory and namespace, what it skipped."""

    directory: Path
    namespace: dict[str, Any]
    skipped: list[str]


def _load_toml(block: Block, directory: Path) -> None:
    from xspecseg.config import CubeConfig

    try:
        data = tomllib.loads(block.code)
    except tomllib.TOMLDecodeError as err:
        pytest.fail(f"{block.where}: not TOML: {err}")
    text = block.code
    piece_of = _IN_FILE_COMMENT.match(block.comment)
    if piece_of is not None:
        whole = ROOT / piece_of.group(1)
        assert whole.is_file(), f"{block.where}: no file {piece_of.group(1)}"
        # the block's keys replace the file's: drop their lines there, then add the block
        keys = set(data.get("cube", data))
        lines = whole.read_text(encoding="utf-8").splitlines()
        kept = [ln for ln in lines if ln.split("=", 1)[0].strip() not in keys]
        text = "\n".join(kept) + "\n" + block.code
        data = tomllib.loads(text)
    known = {"preset", *CubeConfig.__dataclass_fields__}
    table = data.get("cube", data)
    if isinstance(table, dict) and table and set(table) <= known:
        path = directory / f"toml_block_{block.index}.toml"
        path.write_text(text, encoding="utf-8")
        try:
            CubeConfig.from_toml(path)
        except Exception as err:
            pytest.fail(f"{block.where}: CubeConfig.from_toml refuses it: {err}")


def run_blocks(
    path: Path,
    directory: Path,
    *,
    reuse: dict[str, Run] | None = None,
) -> Run:
    """Run the python and toml blocks of ``path`` in order inside ``directory``.

    ``reuse`` maps a block's code to a run of the same code elsewhere: its files and
    names are taken over instead of running it again.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Run(directory, {"__name__": "__docs__"}, [])
    for block in blocks(path, {"python", "toml"}):
        reason = block.no_run_reason
        if reason is not None:
            run.skipped.append(f"{block.where}: {reason}")
            continue
        if block.lang == "toml":
            _load_toml(block, directory)
            continue
        done = (reuse or {}).get(block.code)
        if done is not None:
            for item in done.directory.iterdir():
                dst = directory / item.name
                if not dst.exists():
                    (shutil.copytree if item.is_dir() else shutil.copy2)(item, dst)
            run.namespace.update(done.namespace)
            continue
        try:
            exec(compile(block.code, block.where, "exec"), run.namespace)
        finally:
            plt.close("all")
    return run


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The README's code, run once in a directory of its own."""
    directory = tmp_path_factory.mktemp("readme")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(directory)
        return run_blocks(README, directory)


@pytest.mark.slow
def test_readme_python_blocks_run(quickstart: Run):
    readme = blocks(README, {"python"})
    assert readme, "README.md has no ```python block"
    assert len(quickstart.skipped) < len(readme), "every README block is marked no-run"
    # the quickstart writes the three stores it talks about
    assert (quickstart.directory / "site.zarr").is_dir()
    assert (quickstart.directory / "prob.zarr").is_dir()
    assert (quickstart.directory / "events.nc").is_file()


_RUNNABLE_PAGES = [p for p in docs_pages() if blocks(p, {"python", "toml"})]


@pytest.mark.slow
@pytest.mark.parametrize(
    "page", _RUNNABLE_PAGES, ids=[str(p.relative_to(DOCS)) for p in _RUNNABLE_PAGES]
)
def test_docs_code_blocks_run(page: Path, quickstart: Run, tmp_path: Path, monkeypatch):
    rel = page.relative_to(DOCS).as_posix()
    for name in STAND_INS.get(rel, ()):
        MAKERS[name](tmp_path, quickstart.directory)
    monkeypatch.chdir(tmp_path)
    reuse = {b.code: quickstart for b in blocks(README, {"python"})}
    run_blocks(page, tmp_path, reuse=reuse)


def test_stand_ins_are_used():
    """A stand-in a page no longer reads, or one that is not made, is a stale entry."""
    for rel, names in STAND_INS.items():
        page = DOCS / rel
        assert page.is_file(), f"STAND_INS names a missing page {rel}"
        code = "\n".join(b.code for b in blocks(page, {"python", "toml"}))
        for name in names:
            assert name in MAKERS, name
            assert name in code, f"{rel} no longer reads {name}: drop it from STAND_INS"


def test_examples_toml_loads():
    from xspecseg.config import CubeConfig

    for path in sorted((ROOT / "examples").glob("*.toml")):
        CubeConfig.from_toml(path)


# --------------------------------------------------------------------------- shell lines


def shell_commands(code: str, lang: str) -> list[list[str]]:
    """The command lines of a shell block as argv lists.

    Continuation lines are joined, ``for VAR in A B; do`` ... ``done`` repeats its body
    once per value with ``$VAR`` replaced, a console block's commands are its ``$ `` lines,
    and a trailing ``&`` is dropped.
    """
    lines = code.splitlines()
    if lang == "console":
        lines = [ln[2:] for ln in lines if ln.startswith("$ ")]
    joined: list[str] = []
    for ln in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + ln.strip()
        else:
            joined.append(ln.strip())
    out: list[list[str]] = []
    loops: list[tuple[str, list[str], list[str]]] = []  # variable, values, body lines
    for ln in joined:
        words = shlex.split(ln, comments=True)
        if not words:
            continue
        m = re.fullmatch(r"for\s+(\w+)\s+in\s+(.*?)\s*;\s*do", " ".join(words))
        if m:
            loops.append((m.group(1), m.group(2).split(), []))
            continue
        if words == ["done"]:
            var, values, body = loops.pop()
            expanded = [[w.replace(f"${var}", v) for w in b] for v in values for b in body]
            (loops[-1][2] if loops else out).extend(expanded)
            continue
        if words[-1] == "&":
            words = words[:-1]
        (loops[-1][2] if loops else out).append(words)
    assert not loops, "a for loop without done"
    return out


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set()
    for m in re.finditer(r"^([A-Za-z0-9_./ -]+?)\s*:(?!=)", text, re.M):
        targets.update(m.group(1).split())
    return targets


def _check_command(argv: list[str], where: str, parser: Any, capsys) -> None:
    if argv[0] == "xspecseg":
        try:
            parser.parse_args(argv[1:])
        except SystemExit:
            err = capsys.readouterr().err.strip().splitlines()
            pytest.fail(f"{where}: `{shlex.join(argv)}` is refused: {err[-1] if err else ''}")
    elif argv[0] == "make":
        for target in (a for a in argv[1:] if not a.startswith("-") and "=" not in a):
            assert target in _make_targets(), f"{where}: no Makefile target {target!r}"
    elif argv[0] in {"python", "python3"} and len(argv) > 1 and argv[1].endswith(".py"):
        assert (ROOT / argv[1]).is_file(), f"{where}: no script {argv[1]}"
    elif argv[:4] == ["python", "-m", "pip", "install"] or argv[:2] == ["pip", "install"]:
        extras = pyproject_extras()
        for arg in argv:
            m = re.fullmatch(r"\.\[([\w,-]+)\]", arg)
            for extra in m.group(1).split(",") if m else []:
                assert extra in extras, f"{where}: pyproject has no extra {extra!r}"


def pyproject_extras() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(data["project"]["optional-dependencies"])


_SHELL_FILES = [p for p in [README, *docs_pages()] if any(b.lang in _SHELL for b in blocks(p))]


@pytest.mark.parametrize("path", _SHELL_FILES, ids=[str(p.relative_to(ROOT)) for p in _SHELL_FILES])
def test_shell_commands_are_accepted(path: Path, capsys):
    from xspecseg.cli import build_parser

    parser = build_parser()
    checked = 0
    for block in blocks(path, _SHELL):
        for argv in shell_commands(block.code, block.lang):
            _check_command(argv, block.where, parser, capsys)
            checked += argv[0] in {"xspecseg", "make", "python", "python3"}
    assert checked, f"{path.relative_to(ROOT)}: no command checked in its shell blocks"


def test_shell_command_splitting():
    code = textwrap.dedent(
        """\
        for M in unet smp:Unet; do
          xspecseg train --model $M \\
              -o cmp/$M   # a comment
        done
        dask worker tcp://HOST:8786 &
        """
    )
    assert shell_commands(code, "bash") == [
        ["xspecseg", "train", "--model", "unet", "-o", "cmp/unet"],
        ["xspecseg", "train", "--model", "smp:Unet", "-o", "cmp/smp:Unet"],
        ["dask", "worker", "tcp://HOST:8786"],
    ]
    assert shell_commands("$ make docs\nbuilt\n", "console") == [["make", "docs"]]


@pytest.mark.parametrize(
    "line",
    [
        "xspecseg cube wave.zarr -o site.zarr --no-such-option",
        "xspecseg no-such-command",
        "make no-such-target",
        "python examples/no_such_script.py",
        'python -m pip install -e ".[no-such-extra]"',
    ],
)
def test_a_stale_command_line_fails(line: str, capsys):
    from xspecseg.cli import build_parser

    with pytest.raises((AssertionError, pytest.fail.Exception)):
        for argv in shell_commands(line, "bash"):
            _check_command(argv, "here", build_parser(), capsys)


# --------------------------------------------------------------------------- structure


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


def test_getting_started_shows_the_readme_quickstart():
    quickstart = python_blocks(README)[0]
    assert quickstart in python_blocks(DOCS / "getting-started.md")


def test_readme_links_resolve():
    for target in _LINK.findall(README.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+://|#|mailto:", target):
            continue
        path = target.split("#", 1)[0]
        assert (ROOT / path).exists(), f"README links to missing {target}"


_HEADING = re.compile(r"^(#{1,6}) +(.+?) *$", re.M)
_TARGET = re.compile(r"^\(([^)\s]+)\)=$", re.M)


def _anchors(page: Path) -> set[str]:
    """The ids a link ``page.md#id`` can reach: explicit ``(label)=`` targets and the
    headings to the depth of ``myst_heading_anchors`` (3), slugged as MyST slugs them."""
    text = page.read_text(encoding="utf-8")
    ids = set(_TARGET.findall(text))
    for hashes, title in _HEADING.findall(_without_code(text)):
        if len(hashes) <= 3:
            slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
            ids.add(slug)
    return ids


def _without_code(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def test_links_between_pages_reach_an_anchor():
    """A heading deeper than level 3 gets no id of its own: a link to it needs a label."""
    pages = sorted(DOCS.rglob("*.md"))
    pages = [p for p in pages if "_build" not in p.parts]
    missing = []
    for page in pages:
        for target in _LINK.findall(_without_code(page.read_text(encoding="utf-8"))):
            if re.match(r"[a-z]+://|mailto:", target) or "#" not in target:
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path) if path else page
            if dest.suffix == ".md" and dest.exists() and anchor not in _anchors(dest):
                missing.append(f"{page.relative_to(DOCS)} -> {target}")
    assert not missing, missing


def test_anchor_slugs_follow_myst(tmp_path: Path):
    page = tmp_path / "p.md"
    page.write_text(
        "# Top\n\n## `cses-default` on the default generator\n\n"
        "(deep-one)=\n#### Deep one\n\n#### Unlabelled\n"
    )
    assert _anchors(page) == {"top", "cses-default-on-the-default-generator", "deep-one"}


def test_gallery_shows_every_example():
    """Every script of examples/ is in the gallery, run when the site is built or said why not.

    docs/_ext/rungallery.py runs the scripts marked ``:run:``; a failing one fails
    ``make docs``.
    """
    gallery = (DOCS / "gallery.md").read_text(encoding="utf-8")
    runs: dict[str, bool] = {}
    for section in re.split(r"^## ", gallery, flags=re.M)[1:]:
        for m in re.finditer(
            r"^```\{example-script\} \.\./examples/(\S+)\n((?::.*\n)*)", section, re.M
        ):
            runs[m.group(1)] = ":run:" in m.group(2)
            assert runs[m.group(1)] or "Not run here" in section, (
                f"the gallery neither runs {m.group(1)} nor says why not"
            )
    for script in sorted((ROOT / "examples").glob("*.py")):
        assert script.name in runs, f"{script.name} is not in the gallery"
    assert any(runs.values()), "the gallery runs no script"


# --------------------------------------------------------------------------- docstrings


def documented_parameters(doc: str) -> list[str]:
    """The names a numpydoc ``Parameters`` section documents (``a, b : float`` gives both)."""
    lines = inspect.cleandoc(doc).splitlines()
    names: list[str] = []
    inside = False
    for i, ln in enumerate(lines):
        underlined = i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip())
        if underlined:
            inside = ln.strip() in {"Parameters", "Other Parameters"}
            continue
        if inside and ln and not ln[0].isspace() and not re.fullmatch(r"-{3,}", ln):
            head = ln.split(" : ", 1)[0].rstrip(":")
            names += [n.strip().lstrip("*") for n in head.split(",") if n.strip()]
    return names


def _documented_callables() -> Iterator[tuple[str, Any]]:
    import importlib
    import pkgutil

    import xspecseg

    for info in pkgutil.walk_packages(xspecseg.__path__, "xspecseg."):
        if info.name.endswith(".conftest"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                yield f"{info.name}.{name}", obj
            elif inspect.isclass(obj):
                yield f"{info.name}.{name}", obj
                for attr, member in vars(obj).items():
                    member = getattr(member, "__func__", member)
                    if inspect.isfunction(member):
                        yield f"{info.name}.{name}.{attr}", member


def test_documented_parameters_exist():
    """A docstring documents only parameters its signature has (renamed ones go stale)."""
    stale = []
    for where, obj in _documented_callables():
        if not obj.__doc__:
            continue
        try:
            params = inspect.signature(obj).parameters
        except (TypeError, ValueError):
            continue
        open_ended = any(p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in params.values())
        for name in documented_parameters(obj.__doc__):
            if name not in params and not open_ended:
                stale.append(f"{where}: documents {name!r}, which it does not take")
    assert not stale, "\n".join(stale)


def test_documented_parameters_parser():
    def f(a, b, c=1):
        """Do.

        Parameters
        ----------
        a, b : int
            Numbers.
        fringe_min_spacing : float
            Gone.

        Returns
        -------
        int
        """

    assert documented_parameters(f.__doc__) == ["a", "b", "fringe_min_spacing"]


# --------------------------------------------------------------------------- API reference
# Every public name has an entry in the API reference (docs/api): the names of
# ``xspecseg.__all__`` and of every public submodule's ``__all__``. The check reads the
# pages' autodoc directives and does not build the site.

_AUTO = re.compile(
    r"^[ \t]*\.\. (?P<kind>auto(?:module|class|function|data|exception)|py:(?:data|function|"
    r"class|exception|module|currentmodule)):: (?P<target>\S+)[ \t]*\n"
    r"(?P<opts>(?:[ \t]+:[\w-]+:.*\n(?:[ \t]{5,}\S.*\n)*)*)",
    re.M,
)


def _option(opts: str, name: str) -> str | None:
    m = re.search(rf"^[ \t]+:{name}:(.*(?:\n[ \t]{{5,}}\S.*)*)", opts, re.M)
    return None if m is None else " ".join(m.group(1).split())


def _names(value: str | None) -> set[str]:
    return {n.strip() for n in (value or "").split(",") if n.strip()}


def _documented_data(module: Any, name: str) -> bool:
    """Whether module-level ``name`` carries a doc comment autodoc reads: ``#:`` on the line
    above or at the end of the assignment, or a string literal right after it."""
    source = inspect.getsource(module)
    lines = source.splitlines()
    body = ast.parse(source).body
    for i, node in enumerate(body):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        names = {
            n.id
            for t in targets
            for n in (t.elts if isinstance(t, ast.Tuple) else [t])
            if isinstance(n, ast.Name)
        }
        if name not in names:
            continue
        if "#:" in lines[node.lineno - 1]:
            return True
        if node.lineno >= 2 and lines[node.lineno - 2].lstrip().startswith("#:"):
            return True
        after = body[i + 1] if i + 1 < len(body) else None
        if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            return isinstance(after.value.value, str)
    return False


def _rendered(module: Any, name: str) -> bool:
    """Whether autodoc shows ``module.name`` as a member: a documented class or function,
    or data with a ``#:`` comment in ``module`` itself."""
    obj = getattr(module, name)
    if inspect.isclass(obj) or inspect.isroutine(obj):
        return bool(inspect.getdoc(obj))
    return _documented_data(module, name)


def _members(module: Any) -> set[str]:
    """The members autodoc takes from ``module``: its ``__all__``, or else its public names
    defined in it."""
    if hasattr(module, "__all__"):
        return set(module.__all__)
    return {
        n
        for n, obj in vars(module).items()
        if not n.startswith("_") and getattr(obj, "__module__", None) == module.__name__
    }


def api_entries() -> tuple[set[str], list[tuple[str, Any]], list[str]]:
    """The modules with an ``automodule``, the (name, object) pairs with an entry, and the
    entries whose name does not resolve to an object."""
    import importlib

    modules: set[str] = set()
    entries: list[tuple[str, Any]] = []
    broken: list[str] = []
    pages = [*sorted((DOCS / "api").glob("*.rst")), DOCS / "api" / "index.md"]
    for page in pages:
        current = ""  # the module a py: directive's name is relative to
        for m in _AUTO.finditer(page.read_text(encoding="utf-8")):
            kind, target, opts = m.group("kind"), m.group("target"), m.group("opts")
            if kind in ("py:module", "py:currentmodule"):
                current = "" if target == "None" else target
            elif kind.startswith("py:"):
                # as the Python domain names it: relative to :module: or the current module
                module = _option(opts, "module") or current
                full = f"{module}.{target}" if module else target
                modname, _, name = full.rpartition(".")
                try:
                    entries.append((name, getattr(importlib.import_module(modname), name)))
                except (ImportError, AttributeError):
                    broken.append(f"{page.name}: {full}")
            elif kind == "automodule":
                current = target
                modules.add(target)
                mod = importlib.import_module(target)
                if re.search(r"^[ \t]+:no-members:", opts, re.M):
                    continue
                listed = _option(opts, "members")
                names = _names(listed) if listed else _members(mod)
                names -= _names(_option(opts, "exclude-members"))
                entries += [(n, getattr(mod, n)) for n in names if _rendered(mod, n)]
            else:
                modname, _, name = target.rpartition(".")
                mod = importlib.import_module(modname)
                entries.append((name, getattr(mod, name)))
    return modules, entries, broken


def public_names() -> list[tuple[str, str]]:
    """(module, name) of every public name: ``xspecseg.__all__`` and the ``__all__`` of
    every public submodule."""
    import importlib
    import pkgutil

    import xspecseg

    out = [("xspecseg", n) for n in xspecseg.__all__]
    for info in pkgutil.walk_packages(xspecseg.__path__, "xspecseg."):
        parts = info.name.split(".")[1:]
        if any(p.startswith("_") for p in parts) or parts[-1] == "conftest":
            continue
        mod = importlib.import_module(info.name)
        out += [(info.name, n) for n in getattr(mod, "__all__", ())]
    return out


def test_every_public_name_has_an_api_entry():
    """A re-exported name is covered by the entry of the object it re-exports."""
    import importlib

    modules, entries, broken = api_entries()
    assert not broken, f"API entries that name no object: {broken}"
    missing = []
    for modname, name in public_names():
        obj = getattr(importlib.import_module(modname), name)
        if inspect.ismodule(obj):
            covered = obj.__name__ in modules
        else:
            covered = any(n == name and o is obj for n, o in entries)
        if not covered:
            missing.append(f"{modname}.{name}")
    assert not missing, f"public names without an entry in docs/api: {missing}"


def test_api_entries_parser(tmp_path: Path):
    text = (
        ".. automodule:: xspecseg.models.unet\n   :exclude-members: UNet\n\n"
        ".. automodule:: xspecseg.models.losses\n   :no-members:\n\n"
        ".. autodata:: xspecseg.io.waveform.FORMATS\n\n"
        ".. py:data:: EVENT_CUT_KEYS\n   :module: xspecseg.events\n   :value: (...)\n"
    )
    found = [
        (m.group("kind"), m.group("target"), _option(m.group("opts"), "exclude-members"))
        for m in _AUTO.finditer(text)
    ]
    assert found == [
        ("automodule", "xspecseg.models.unet", "UNet"),
        ("automodule", "xspecseg.models.losses", None),
        ("autodata", "xspecseg.io.waveform.FORMATS", None),
        ("py:data", "EVENT_CUT_KEYS", None),
    ]
    assert _option(list(_AUTO.finditer(text))[-1].group("opts"), "module") == "xspecseg.events"

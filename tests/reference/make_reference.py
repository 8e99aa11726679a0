"""Write the reference outputs of the shipped models that tests/test_reference_outputs.py
compares against.

Run from the repository root when a change is *meant* to alter what the shipped models
produce (new weights, a new input representation, a new event definition), and say why
in the commit:

    python tests/reference/make_reference.py            # both
    python tests/reference/make_reference.py iar_default

A refactor must leave the outputs as they are, so the references are not rewritten then.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from test_reference_outputs import (  # noqa: E402
    CATALOGUE_VARS,
    cses_outputs,
    iar_outputs,
    probability_summary,
)


def _save(name: str, prob, cat) -> None:
    arrays = probability_summary(prob)
    for v in CATALOGUE_VARS:
        if v in cat:
            arrays[f"cat_{v}"] = np.asarray(cat[v].values)
    np.savez_compressed(HERE / f"{name}.npz", **arrays)
    print(f"{name}: probability {prob.shape}, {cat.sizes['event']} events")


def main(names: list[str]) -> None:
    unknown = set(names) - {"iar_default", "cses_default"}
    if unknown:
        raise SystemExit(f"unknown reference(s) {sorted(unknown)}: iar_default, cses_default")
    if not names or "iar_default" in names:
        _save("iar_default", *iar_outputs())
    if not names or "cses_default" in names:
        with tempfile.TemporaryDirectory() as tmp:
            _save("cses_default", *cses_outputs(Path(tmp)))


if __name__ == "__main__":
    main(sys.argv[1:])

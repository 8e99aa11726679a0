"""The IOOS compliance checker (cf:1.10) as a test helper: what it flags in a file."""

from __future__ import annotations

from pathlib import Path


def cf_findings(path: Path) -> list:
    """What the IOOS compliance checker (cf:1.10) flags in ``path``, at every priority.

    Errors (high), warnings (medium) and suggestions (low) whose checks did not pass,
    plus checks that crashed. One crash is the checker's own: ``check_domain_variables``
    (6.1) indexes the ``cf_role`` variable of a DSG without looking, and a CF point
    featureType has none (CF defines no ``point_id``), so every valid point file trips
    it; that crash is not a finding about the file.
    """
    import netCDF4
    from compliance_checker.suite import CheckSuite

    CheckSuite.load_all_available_checkers()
    suite = CheckSuite()
    ds = suite.load_dataset(str(path))
    try:
        results, crashed = suite.run_all(ds, ["cf:1.10"], [], [])["cf:1.10"]
    finally:
        ds.close()
    # limit 1: every priority down to the low ones (suggestions)
    report = suite.build_structure("cf:1.10", results, str(path), 1)
    found = [
        (level, r.name, r.msgs)
        for level in ("high_priorities", "medium_priorities", "low_priorities")
        for r in report[level]
        if r.value[0] < r.value[1]
    ]
    with netCDF4.Dataset(path) as nc:
        point = getattr(nc, "featureType", "") == "point" and not nc.get_variables_by_attributes(
            cf_role=lambda v: v is not None
        )
    for name, (err, _) in crashed.items():
        if not (point and name == "check_domain_variables" and isinstance(err, IndexError)):
            found.append(("crash", name, repr(err)))
    return found

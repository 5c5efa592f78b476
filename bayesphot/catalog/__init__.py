"""Catalog production: image → detection → PSF → groups → MAP → model choice → posterior → catalog.

``bp.catalog.run(image, out)`` does it all on Dask (one task per group of
overlapping sources), writing each group as it finishes and resuming where an
interrupted run stopped; ``bayesphot catalog IMAGE.fits --out cat.fits`` is the
same from the shell.  The pieces are usable alone:

* :mod:`~bayesphot.catalog.detect`: photutils detection, deblending, measurements;
* :mod:`~bayesphot.catalog.psf`: an ePSF from the image's isolated, unsaturated stars;
* :mod:`~bayesphot.catalog.groups`: overlapping windows → groups;
* :mod:`~bayesphot.catalog.choose`: point / exp / dev / Sérsic by penalised Δχ² and Laplace evidence;
* :mod:`~bayesphot.catalog.sample`: Laplace draws or NUTS for a fitted group;
* :mod:`~bayesphot.catalog.fitgroup`: one group, start to finish (the Dask task);
* :mod:`~bayesphot.catalog.table`: rows, columns, units and catalog files;
* :mod:`~bayesphot.catalog.simulate`: synthetic fields with known sources.
"""

import importlib
from typing import Any

# names → defining module, imported on first use: ``bayesphot --help`` (which imports
# ``bayesphot.catalog.cli``) must not import photutils, astropy or dask
_LAZY = {
    "TYPES": "choose", "select_dchi2": "choose", "select_evidence": "choose",
    "Detections": "detect", "detect": "detect", "measure": "detect",
    "Group": "groups", "Source": "groups", "build_groups": "groups",
    "StarSelection": "psf", "build_psf": "psf", "select_stars": "psf",
    "CatalogError": "run", "groups_folder": "run", "run": "run",
    "CatalogSettings": "settings",
    "FLAGS": "table", "columns": "table", "read_catalog": "table", "write_catalog": "table",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FLAGS",
    "TYPES",
    "CatalogError",
    "CatalogSettings",
    "Detections",
    "Group",
    "Source",
    "StarSelection",
    "build_groups",
    "build_psf",
    "columns",
    "detect",
    "groups_folder",
    "measure",
    "read_catalog",
    "run",
    "select_dchi2",
    "select_evidence",
    "select_stars",
    "write_catalog",
]

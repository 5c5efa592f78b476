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

from .choose import TYPES, select_dchi2, select_evidence
from .detect import Detections, detect, measure
from .groups import Group, Source, build_groups
from .psf import StarSelection, build_psf, select_stars
from .run import CatalogError, groups_folder, run
from .settings import CatalogSettings
from .table import FLAGS, columns, read_catalog, write_catalog

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

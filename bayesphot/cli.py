"""The ``bayesphot`` command: a thin argparse front over subcommand modules.

Each subcommand lives in its own module, listed in :data:`SUBCOMMANDS`, and
provides two functions:

``add_parser(subparsers) -> argparse.ArgumentParser``
    adds its parser (``subparsers.add_parser(...)``) and its arguments;
``run(args) -> int``
    does the work and returns the exit status.

A new subcommand is registered by adding one line to :data:`SUBCOMMANDS`.
Modules are imported when the parser is built, so they must import the
heavy libraries (JAX, torch, matplotlib, ArviZ) inside ``run``: ``bayesphot
--help`` then answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Modules that implement a subcommand (``add_parser`` and ``run``), in help order.
SUBCOMMANDS: tuple[str, ...] = (
    "bayesphot.commands.example",
    "bayesphot.commands.fit",
    "bayesphot.commands.catalog",
)

DESCRIPTION = """\
Bayesian forward modelling of astronomical images: fit Sérsic, exponential,
Gaussian, Moffat and other models to an image by Levenberg-Marquardt (MAP with
Laplace uncertainties), then sample the posterior with NUTS."""

EPILOG = """\
examples:
  bayesphot example                     the whole workflow on the bundled IC 3478 image
  bayesphot fit galaxy.fits --rms rms.fits --psf psf.fits --sample
  bayesphot fit --help                  every option of one command"""


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("bayesphot")
    except Exception:  # not installed: the source tree's version
        from . import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    """The ``bayesphot`` parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="bayesphot", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"bayesphot {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    sub.required = True
    for name in SUBCOMMANDS:
        module = importlib.import_module(name)
        command = module.add_parser(sub)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bayesphot`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    from .errors import BayesphotError

    try:
        return int(args._run(args))
    except BayesphotError as exc:
        print(f"bayesphot {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nbayesphot {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

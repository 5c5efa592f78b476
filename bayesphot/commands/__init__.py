"""Subcommands of the ``bayesphot`` command line (see :mod:`bayesphot.cli`).

Each module provides ``add_parser(subparsers)`` and ``run(args)`` and imports
its heavy dependencies inside ``run``.
"""

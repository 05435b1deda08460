"""Subcommands of the ``mobigen`` CLI.

Each module here defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Modules must be cheap to import: heavy imports go inside ``run``.
"""

"""Subcommands of the ``mobigen`` CLI.

Each module here defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Modules must be cheap to import: heavy imports go inside ``run``.
Conventions shared by every command live in ``commands/_common.py``: ``--json PATH`` (``-`` for
stdout), ``--no-progress`` (and no bars when stderr is not a terminal), choices for names, defaults in
``--help``, and user errors (validation wrapped in ``user_errors()`` → exit 2; anything else is a bug →
exit 1, ``--debug`` for the traceback). Benchmark logic lives in library modules next to what it
measures (``control/benchmark.py``, ``generation/benchmark.py``, ``conditions/benchmark_*.py``).
"""

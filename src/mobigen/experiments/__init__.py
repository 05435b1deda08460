"""Section VI of the paper: the compared methods, metrics, figures and the report of ``mobigen evaluate``.

``methods`` (a method = VCE-choice policy + controller), ``baselines/`` (Random, SemGen, AaaS, OQC+),
``metrics`` (per-request accounting and summaries), ``runner`` (seeded slots, ablations, sweeps),
``figures`` (PNGs), ``report`` (report.md and the paper-vs-ours comparison), ``outputs`` (the output folder).
"""

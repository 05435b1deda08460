"""Section VI of the paper: the compared methods, metrics, figures and the report of ``mobigen evaluate``.

``methods`` (a method = VCE-choice policy + controller; the method keys and labels), ``baselines/`` (Random,
SemGen, AaaS, OQC+), ``builder`` (the methods for any scenario; SemGen's DQN trained once per run), ``metrics``
(per-request accounting and summaries), ``runner`` (seeded slots, ablations, sweeps), ``results`` (the typed,
versioned results), ``paper`` (the paper's numbers), ``figures`` (PNGs), ``report`` (the paper-vs-ours
comparison, claims and report.md from ``templates/report.md.j2``), ``outputs`` (the output folder).
"""

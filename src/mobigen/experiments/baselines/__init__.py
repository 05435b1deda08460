"""The paper's benchmarks (Sec. VI-A.3): Random, SemGen, AaaS, OQC+ — their VCE choices and controllers."""

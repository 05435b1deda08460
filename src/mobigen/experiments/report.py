"""The paper-vs-ours comparison, the checked claims and the 'where and why' prose of ``results.json``, and
``DIR/report.md`` rendered from them (Jinja2 template ``templates/report.md.j2``).

Every statement with a number in it is computed from the typed results here; the paper's numbers are read
from ``paper.PAPER`` (with the section they come from). Quality numbers carry their backend.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

from mobigen.experiments.methods import LABELS, METHOD_KEYS
from mobigen.experiments.paper import PAPER
from mobigen.experiments.results import Claim, Comparison, EvalResults, MethodResult, ResultsFile, SweepPoint

ORDER = METHOD_KEYS
"""The methods' order in every table (the paper's, then Exact)."""
PAPER_RANK: tuple[str, ...] = ("ours", "oqc", "aaas", "semgen", "random")
"""The paper's satisfaction ranking of its five methods (Fig. 9)."""
NEAR_PAPER = 0.03
"""A satisfaction within this of the paper's needs no explanation (share)."""


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _pp(x: float) -> str:
    return f"{100 * x:+.1f} pp"


def _fallback_note(point: MethodResult | SweepPoint | None, n: int | None = None) -> str:
    """'' when Ours ran DDC at this point; otherwise says that it is VCE + Exact (``control.registry``'s
    fallback, recorded by the builder in the point's ``ran_as``)."""
    if point is None or point.ran_as is None:
        return ""
    where = "" if n is None else f" at K = {n}"
    return f"Ours{where} is VCE + {LABELS.get(point.ran_as.controller, point.ran_as.controller)}, not DDC " \
           f"({point.ran_as.reason})"


# ---- paper vs ours ---------------------------------------------------------------------------------

class _Rows:
    """The comparison rows being collected, each labelled with the quality backend where it is a quality number."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.out: list[Comparison] = []

    def add(self, quantity: str, paper: float | None, ours: float | None, unit: str, quality: bool = False,
            note: str = "") -> None:
        delta = None if paper is None or ours is None else ours - paper
        self.out.append(Comparison(quantity=quantity + (f" ({self.backend})" if quality else ""), paper=paper,
                                   ours=ours, delta=delta, unit=unit, quality_backend=self.backend if quality else None,
                                   note=note))


def _rows_main(rows: _Rows, r: EvalResults) -> None:
    """Satisfaction, uplink and downlink sizes of the main comparison (Figs. 9, 10)."""
    m = r.methods
    for k, v in PAPER.satisfaction.items():
        if k in m:
            rows.add(f"satisfaction {m[k].label}", v, m[k].satisfaction, "share", quality=True)
    for k, v in PAPER.uplink_kb.items():
        if k in m:
            rows.add(f"uplink per user {m[k].label}", v, m[k].uplink_kb, "KB")
    if "semgen" in m and "ours" in m and m["ours"].uplink_kb > 0:
        rows.add("uplink SemGen / Ours", PAPER.semgen_uplink_vs_ours, m["semgen"].uplink_kb / m["ours"].uplink_kb,
                 "ratio")
    sc = r.meta.scenario
    rows.add("latent on the downlink", PAPER.latent_kb, sc["latent_bytes"] / 1000.0, "KB",
             note="scenario.latent_bytes (fp16 4×64×64), a model constant")
    rows.add("image on the downlink", PAPER.image_kb, sc["image_bytes"] / 1000.0, "KB", note="scenario.image_bytes")


def _rows_latency(rows: _Rows, r: EvalResults) -> None:
    """Latencies and their parts (Fig. 11), including the serial-edge round latency (beyond the paper)."""
    m = r.methods
    for k, v in PAPER.latency_s.items():
        if k in m:
            rows.add(f"latency {m[k].label}", v, m[k].latency_s, "s", note="mean per request L_k")
    for k, v in PAPER.latency_s.items():
        if k in m and m[k].round_latency_serial_s is not None:
            rows.add(f"round latency, serial edge {m[k].label}", v, m[k].round_latency_serial_s, "s",
                     note="beyond the paper: the paper's eq. (6) has no edge queueing; mean over slots of the last "
                          "user's completion with the edge serving users one after another")
    curve = r.meta.edge_batch_curve
    for k, v in PAPER.latency_s.items():
        if k in m and m[k].round_latency_batched_s is not None:
            rows.add(f"round latency, batched edge {m[k].label}", v, m[k].round_latency_batched_s, "s",
                     note="beyond the paper: the edge batches the slot's users' steps, each batched step timed by the "
                          f"batch-time curve (system.batching; {curve or 'curve of unknown origin'})")
    if "aaas" in m and "ours" in m:
        rows.add("latency AaaS − Ours", PAPER.latency_s["aaas"] - PAPER.latency_s["ours"],
                 m["aaas"].latency_s - m["ours"].latency_s, "s")
    if "ours" in m:
        rows.add("extraction + uplink, Ours", PAPER.vce_latency_s, m["ours"].extraction_s + m["ours"].uplink_s, "s")
    if "oqc" in m and "ours" in m:
        rows.add("local denoising OQC+ − Ours", PAPER.ours_local_saving_vs_oqc_s, m["oqc"].local_s - m["ours"].local_s,
                 "s")


def _rows_fig12(rows: _Rows, r: EvalResults) -> None:
    """Fig. 12(a)'s condition selection and Fig. 12(b)'s compression."""
    a = r.fig12a
    if a:
        if "All HED" in a:
            rows.add("Fig. 12(a) All HED satisfaction", PAPER.fig12a_all_hed_satisfaction, a["All HED"].satisfaction,
                     "share", True)
        singles = [k for k in a if k.startswith("All ")]
        if singles and "VCE" in a:
            best = max(singles, key=lambda k: a[k].satisfaction)
            rows.add(f"Fig. 12(a) VCE − best single type ({best})", PAPER.fig12a_vce_gain_pp / 100,
                     a["VCE"].satisfaction - a[best].satisfaction, "share", True)
            rows.add(f"Fig. 12(a) VCE bytes − {best} bytes", PAPER.fig12a_vce_extra_kb,
                     a["VCE"].uplink_kb - a[best].uplink_kb, "KB")
    b = r.fig12b
    if b and "None" in b:
        rows.add("Fig. 12(b) uncompressed condition size", PAPER.fig12b_uncompressed_kb, b["None"].uplink_kb, "KB")
        rows.add("Fig. 12(b) uncompressed satisfaction", PAPER.fig12b_uncompressed_satisfaction,
                 b["None"].satisfaction, "share", True)


def _rows_sweeps(rows: _Rows, r: EvalResults) -> None:
    """Fig. 14's drop with more users and Fig. 15(b)'s low-end comparison."""
    f14 = r.fig14.series.get("ours") if r.fig14 else None
    if f14:
        ns = sorted(f14)
        lo, hi = f14[ns[0]], f14[ns[-1]]
        fb = _fallback_note(hi, ns[-1])
        rows.add(f"Fig. 14 Ours satisfaction drop {ns[0]}→{ns[-1]} users", PAPER.fig14_drop_at_11_pp / 100,
                 lo.satisfaction - hi.satisfaction, "share", True, note=fb)
        rows.add(f"Fig. 14 Ours latency rise {ns[0]}→{ns[-1]} users", PAPER.fig14_latency_rise_at_11_s,
                 hi.latency_s - lo.latency_s, "s", note=fb)
    f15 = r.fig15b.series if r.fig15b else {}
    if f15.get("ours") and f15.get("oqc"):
        ns = sorted(f15["ours"])
        top = f15["ours"][ns[-1]]
        rows.add(f"Fig. 15(b) Ours − OQC+ at {ns[-1]} low-end users", PAPER.fig15b_gain_vs_oqc_at_11_pp / 100,
                 top.satisfaction - f15["oqc"][ns[-1]].satisfaction, "share", True, note=_fallback_note(top, ns[-1]))
        if "ours" in r.methods and ns[0] == int(r.meta.scenario.get("num_users", 5)):
            first = f15["ours"][ns[0]]
            rows.add(f"Fig. 15(b) low-end drop at {ns[0]} users (vs the main run)", PAPER.fig15b_drop_at_5_pp / 100,
                     r.methods["ours"].satisfaction - first.satisfaction, "share", True,
                     note=_fallback_note(first, ns[0]))


def comparisons(results: EvalResults) -> list[Comparison]:
    """Paper vs ours, one row per reported number that this run can reproduce."""
    rows = _Rows(results.meta.quality_backend)
    for step in (_rows_main, _rows_latency, _rows_fig12, _rows_sweeps):
        step(rows, results)
    return rows.out


# ---- the paper's claims ------------------------------------------------------------------------------

Check = Callable[[str, bool, str], None]


def _claims_ranking(check: Check, r: EvalResults, backend: str) -> None:
    """Fig. 9's ranking, and DDC against OQC+ where Ours ran DDC (not the registry's Exact fallback)."""
    m = r.methods
    fb = _fallback_note(m.get("ours"))
    if all(k in m for k in PAPER_RANK):
        rank = sorted(PAPER_RANK, key=lambda k: -m[k].satisfaction)
        check(f"Satisfaction ranks {' > '.join(LABELS[k] for k in PAPER_RANK)}", rank == list(PAPER_RANK),
              "this run: " + " > ".join(f"{m[k].label} {_pct(m[k].satisfaction)}" for k in rank) + f" ({backend})"
              + (f"; {fb}" if fb else ""))
        check("Ours has the highest satisfaction of the paper's five methods", rank[0] == "ours",
              f"best: {m[rank[0]].label} ({_pct(m[rank[0]].satisfaction)}, {backend})")
    if "ours" in m and "oqc" in m and not fb:
        d = m["ours"].satisfaction - m["oqc"].satisfaction
        check("DDC beats OQC+'s SCA on satisfaction (same VCE)", d > 0,
              f"Ours − OQC+ = {_pp(d)} ({backend}); Ours 95% CI lower bound {_pct(m['ours'].satisfaction_ci95[0])}")


def _claims_transfer(check: Check, r: EvalResults, backend: str) -> None:
    """Figs. 10, 11: bytes and latency against AaaS and SemGen."""
    m = r.methods
    if "ours" in m and "aaas" in m:
        o, a = m["ours"], m["aaas"]
        check("Ours uploads far less than AaaS's raw images", o.uplink_kb < a.uplink_kb / 10,
              f"{o.uplink_kb:.1f} KB vs {a.uplink_kb:.1f} KB per user")
        check("Ours is faster than AaaS end to end", o.latency_s < a.latency_s,
              f"{o.latency_s:.2f} s vs {a.latency_s:.2f} s per request")
        check("Ours' downlink is smaller than the all-edge methods' (latents instead of images)",
              o.downlink_kb < a.downlink_kb, f"{o.downlink_kb:.1f} KB vs {a.downlink_kb:.1f} KB")
    if "semgen" in m and "ours" in m:
        check("SemGen uploads more than Ours", m["semgen"].uplink_kb > m["ours"].uplink_kb,
              f"{m['semgen'].uplink_kb:.1f} KB vs {m['ours'].uplink_kb:.1f} KB")


def _claims_optimum(check: Check, r: EvalResults, backend: str) -> None:
    """Beyond the paper: DDC against the exact per-slot optimum (only where Ours ran DDC)."""
    m = r.methods
    if "exact" in m and "ours" in m and not _fallback_note(m["ours"]):
        ratio = m["ours"].reward / m["exact"].reward if m["exact"].reward else math.nan
        check("DDC is close to the per-slot optimum (beyond the paper)", ratio >= 0.98,
              f"reward Ours / Exact = {ratio:.3f}; satisfaction {_pct(m['ours'].satisfaction)} vs "
              f"{_pct(m['exact'].satisfaction)} ({backend})")


def _claims_fig12(check: Check, r: EvalResults, backend: str) -> None:
    a = r.fig12a
    if a and "VCE" in a:
        others = {k: v for k, v in a.items() if k != "VCE"}
        best = max(others, key=lambda k: others[k].satisfaction)
        check("Fig. 12(a): VCE's type selection beats every single type and Random",
              a["VCE"].satisfaction > others[best].satisfaction,
              f"VCE {_pct(a['VCE'].satisfaction)} vs best other {best} {_pct(others[best].satisfaction)} ({backend})")
    b = r.fig12b
    if b and all(k in b for k in ("None", "Both")):
        check("Fig. 12(b): joint compression cuts bytes the most",
              b["Both"].uplink_kb <= min(v.uplink_kb for v in b.values()) + 1e-9,
              ", ".join(f"{k} {v.uplink_kb:.1f} KB" for k, v in b.items()))
        check("Fig. 12(b): uncompressed conditions give the best quality",
              b["None"].qoe >= max(v.qoe for v in b.values()) - 1e-9,
              ", ".join(f"{k} QoE {v.qoe:.3f}" for k, v in b.items()) + f" ({backend})")


def _claims_sweeps(check: Check, r: EvalResults, backend: str) -> None:
    f14 = r.fig14.series if r.fig14 else {}
    if f14.get("ours"):
        ns = sorted(f14["ours"])
        lo, hi = ns[0], ns[-1]
        check(f"Fig. 14: every method's satisfaction falls from {lo} to {hi} users",
              all(s[hi].satisfaction <= s[lo].satisfaction for s in f14.values()),
              ", ".join(f"{LABELS.get(k, k)} {_pct(s[lo].satisfaction)}→{_pct(s[hi].satisfaction)}"
                        for k, s in f14.items()) + f" ({backend})")
        if "aaas" in f14:
            a = f14["aaas"]
            check("Fig. 14: AaaS latency grows with users (edge extraction)", a[hi].latency_s > a[lo].latency_s,
                  f"{a[lo].latency_s:.2f} s → {a[hi].latency_s:.2f} s")
    f15 = r.fig15b.series if r.fig15b else {}
    if f15.get("ours") and f15.get("oqc"):
        top = sorted(f15["ours"])[-1]
        d = f15["ours"][top].satisfaction - f15["oqc"][top].satisfaction
        fb = _fallback_note(f15["ours"][top], top)
        check(f"Fig. 15(b): with low-end devices Ours beats OQC+ at {top} users", d > 0,
              f"Ours − OQC+ = {_pp(d)} ({backend})" + (f"; {fb}" if fb else ""))


def claims(results: EvalResults) -> list[Claim]:
    """The paper's qualitative claims, each checked on this run: (claim, holds, evidence)."""
    out: list[Claim] = []

    def check(claim: str, holds: bool, evidence: str) -> None:
        out.append(Claim(claim=claim, holds=bool(holds), evidence=evidence))

    for step in (_claims_ranking, _claims_transfer, _claims_optimum, _claims_fig12, _claims_sweeps):
        step(check, results, results.meta.quality_backend)
    return out


# ---- where and why ours differs ----------------------------------------------------------------------

def _why_batched_edge(r: EvalResults) -> list[str]:
    """Beyond the paper: the round latency with a batching edge, between eq. (6) and the serial edge."""
    o = r.methods.get("ours")
    if o is None or o.round_latency_batched_s is None or o.round_latency_serial_s is None:
        return []
    return [f"Beyond the paper: with an edge that runs the slot's users' steps in batches (issue 14; each batched "
            f"step timed by the batch-time curve t(B)/t(1) scaled to ε₀/f_E, {r.meta.edge_batch_curve}) Ours' round "
            f"latency is {o.round_latency_batched_s:.2f} s, against {o.round_latency_s:.2f} s by eq. (6) and "
            f"{o.round_latency_serial_s:.2f} s with a serial edge. The curve's shape decides where it falls: a batch "
            "that costs what one user costs gives eq. (6), one that costs B users' steps gives the serial edge."]


def _gap_share(model_s: float, serial_s: float, paper_s: float) -> str:
    """'X of the Y s gap (Z%)': how much of the gap from the eq. (6) round latency to the paper's number the
    serial edge closes (negative or > 100% when it overshoots)."""
    gap = paper_s - model_s
    if gap <= 0:
        return f"nothing (eq. (6) already gives {model_s:.2f} s ≥ the paper's {paper_s:g} s)"
    closed = serial_s - model_s
    return f"{closed:.2f} s of the {gap:.2f} s gap ({100 * closed / gap:.0f}%)"


def _why_surrogate(r: EvalResults) -> list[str]:
    if r.meta.quality_backend != "surrogate":
        return []
    return ["Every quality number (QoE, DS, IR, satisfaction) comes from the **surrogate** quality model "
            "(calibrated to the paper's Figs. 2, 4, 7 trends on measured condition fidelity), not from generated "
            "images scored by DreamSim/ImageReward: no SD/ControlNet/metric weights exist here. Absolute "
            "satisfaction rates therefore test the system logic, not the paper's generation quality."]


def _why_satisfaction(r: EvalResults) -> list[str]:
    """Per method: its satisfaction against the paper's and, when far off, where its misses come from."""
    out = []
    backend = r.meta.quality_backend
    for k, paper in PAPER.satisfaction.items():
        s = r.methods.get(k)
        if s is None:
            continue
        d = s.satisfaction - paper
        head = f"{s.label}: satisfaction {_pct(s.satisfaction)} vs paper {_pct(paper)} ({_pp(d)}, {backend})"
        if abs(d) < NEAR_PAPER:
            out.append(f"{head} — within {100 * NEAR_PAPER:.0f} pp.")
            continue
        g = s.diagnostics
        why = "" if not g.misses else (
            f" Of its {g.misses} unmet requests, {_pct(g.miss_unreachable)} could not reach Q̃ even at "
            f"T = steps_max with the chosen condition (the condition/compression choice or the request's difficulty "
            f"caps quality), and {_pct(g.miss_steps)} would have with more steps (step allocation / edge "
            f"budget C_E); {_pct(g.miss_fixed_by_uncompressed)} would have met it at the same "
            f"steps with the same type uncompressed (a compression miss); mean T = {s.steps:.1f} steps, "
            f"{s.edge_steps:.1f} on the edge.")
        out.append(f"{head}.{why}")
    return out


def _why_latency(r: EvalResults) -> list[str]:
    """Ours' latency parts under the system model, against the paper's totals."""
    s = r.methods.get("ours")
    if s is None:
        return []
    sc = r.meta.scenario
    parts = {p: getattr(s, p) for p in ("extraction_s", "uplink_s", "edge_s", "downlink_s", "local_s")}
    top = max(parts, key=parts.__getitem__)
    ratios = sc.get("device_compute_ratios", [math.nan])
    return [f"Ours' latency is {s.latency_s:.2f} s per request vs the paper's {PAPER.latency_s['ours']:g} s. In the "
            f"system model (eqs. 2, 6, 7; Table I: {sc.get('edge_step_time_s', math.nan):g} s per edge step, "
            f"f_k = {min(ratios):.2g}..{max(ratios):.2g} f_E) its largest part is {top.replace('_s', '')} "
            f"({parts[top]:.2f} s), with {s.local_steps:.1f} local and {s.edge_steps:.1f} edge steps per request on "
            f"average; {_pct(s.latency_ok)} of requests meet L̃ = {sc.get('latency_threshold_s', math.nan):g} s. "
            f"The paper reports only the totals and two parts (≈ {PAPER.vce_latency_s:g} s extraction + upload; "
            f"{PAPER.ours_local_saving_vs_oqc_s:g} s less local denoising than OQC+), compared in the table above."]


def _why_serial_edge(r: EvalResults) -> list[str]:
    """Beyond the paper: how much of the gap to the paper's round latency a serial edge explains."""
    o, a = r.methods.get("ours"), r.methods.get("aaas")
    if o is None or a is None or o.round_latency_serial_s is None or a.round_latency_serial_s is None:
        return []
    pl = PAPER.latency_s
    sjf = ""
    if o.round_latency_serial_sjf_s is not None and a.round_latency_serial_sjf_s is not None:
        sjf = (f" (shortest edge job first instead: {o.round_latency_serial_sjf_s:.2f} s and "
               f"{a.round_latency_serial_sjf_s:.2f} s)")
    unexplained = all(x.round_latency_s < x.round_latency_serial_s < p for x, p in ((o, pl["ours"]), (a, pl["aaas"])))
    return [f"Beyond the paper: the paper's eq. (6) has no edge queueing. With a serial edge (the slot closes at the "
            f"last upload, then the edge denoises the users one after another in arrival order, as the live "
            f"server's single worker does) the round latency — mean over slots of the last user's completion — is "
            f"{o.round_latency_serial_s:.2f} s for Ours and {a.round_latency_serial_s:.2f} s for AaaS{sjf}, "
            f"vs the paper's {pl['ours']:g} s and {pl['aaas']:g} s 'overall generation latency for each round' "
            f"(Sec. VI-B.4) and vs {o.round_latency_s:.2f} s and {a.round_latency_s:.2f} s by eqs. (2), (6), (7). "
            f"Edge queueing thus closes {_gap_share(o.round_latency_s, o.round_latency_serial_s, pl['ours'])} "
            f"for Ours and {_gap_share(a.round_latency_s, a.round_latency_serial_s, pl['aaas'])} for AaaS; "
            + ("the rest is not explained here, and " if unexplained else "")
            + "queueing is our reading of the paper's totals, not one it states."]


def _why_baselines(r: EvalResults) -> list[str]:
    """AaaS's raw upload and SemGen's learned α against the paper's sizes."""
    m = r.methods
    out = []
    if "aaas" in m:
        out.append(f"AaaS uploads {m['aaas'].uplink_kb:.1f} KB per user: the measured PNG size of the DreamBooth 512² "
                   f"images (shipped table), vs the paper's {PAPER.uplink_kb['aaas']:g} KB.")
    if "semgen" in m and r.semgen_dqn is not None:
        alphas = r.semgen_dqn.alpha
        share_full = sum(1 for a in alphas if a >= 1.0) / max(1, len(alphas))
        ours_kb = m["ours"].uplink_kb if "ours" in m else 0.0
        ratio = m["semgen"].uplink_kb / ours_kb if ours_kb else math.nan
        why = (" — with eq. (8)'s η the upload seconds that downscaling saves are worth less utility than the "
               "quality it loses" if share_full > 0.5 else "")
        out.append(f"SemGen's DQN picks α = 1.0 at {_pct(share_full)} of the uplink grid points{why}; it uploads "
                   f"{m['semgen'].uplink_kb:.1f} KB per user, {ratio:.1f}× ours "
                   f"(paper: ≈ {PAPER.semgen_uplink_vs_ours:g}×).")
    return out


def differences(results: EvalResults) -> list[str]:
    """Where and why ours differs: sentences whose numbers are computed from this run's results."""
    out: list[str] = []
    for step in (_why_surrogate, _why_satisfaction, _why_latency, _why_serial_edge, _why_batched_edge, _why_baselines):
        out += step(results)
    out += [f"Controller {k}: {v}" for k, v in results.meta.controller_notes.items()]
    return out


# ---- report.md -------------------------------------------------------------------------------------------

def _fmt(v: float | None, unit: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if unit == "share":
        return _pct(v)
    if unit == "ratio":
        return f"{v:.2f}×"
    return f"{v:.2f} {unit}"


def _fmt_delta(v: float | None, unit: str) -> str:
    if v is None:
        return "—"
    if unit == "share":
        return _pp(v)
    if unit == "ratio":
        return f"{v:+.2f}×"
    return f"{v:+.2f} {unit}"


def _num(v: float | None, digits: int = 2) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _environment():
    """The Jinja2 environment of the report template (package data ``templates/``), with the number filters."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("mobigen.experiments", "templates"), undefined=StrictUndefined,
                      keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters.update(pct=_pct, pp=_pp, num=_num, fmt=_fmt, fmt_delta=_fmt_delta)
    return env


def render_report(results: ResultsFile, figures: dict[str, str], command: str) -> str:
    """The text of ``report.md``."""
    methods = [(k, results.methods[k]) for k in ORDER if k in results.methods]
    timings = {k: round(v, 1) for k, v in results.runtime.timings_s.items()}
    return _environment().get_template("report.md.j2").render(
        r=results, methods=methods, paper=PAPER,
        backend=results.meta.quality_backend, cfg=results.meta.config, scenario=results.meta.scenario,
        figures={name: Path(p).name for name, p in figures.items()}, command=command,
        timings=json.dumps(timings), nan=math.nan)


def write_report(results: ResultsFile, out_dir: str | Path, figures: dict[str, str], command: str) -> Path:
    """Write ``report.md`` (and return its path)."""
    p = Path(out_dir) / "report.md"
    p.write_text(render_report(results, figures, command), encoding="utf-8")
    return p

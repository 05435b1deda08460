"""The loopback demo: one edge server and K mobile clients with DreamBooth images and prompts.

Each user k takes device type k mod 5 (Table I's round-robin), draws ω^I ~ U(0, 1), Q̃ from the
scenario's range and B↑/B↓ from its rates (``OPEN_CHOICES``), with one seeded generator. Images and
prompts come from ``settings.dataset_dir()`` (``prompts_and_classes.txt``). Generation uses the
tiny components unless real weights are configured (``MOBIGEN_SD_DIR``); the output says which.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

_LIVE_CLASSES = ("cat", "dog")


@dataclass(frozen=True)
class DemoRequest:
    """One user's input."""

    image_path: Path
    """The DreamBooth source image."""
    subject: str
    """Subject folder name."""
    prompt: str
    """The prompt (DreamBooth template with the class word)."""


def parse_prompts(text: str) -> tuple[dict[str, str], list[str], list[str]]:
    """(subject → class, object prompt templates, live-subject prompt templates) of ``prompts_and_classes.txt``.

    Templates keep ``{0}`` (unique token) and ``{1}`` (class); the demo drops the unique token."""
    classes: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z0-9_]+),([a-z ]+)$", line.strip())
        if m and m.group(1) != "subject_name":
            classes[m.group(1)] = m.group(2)
    sections = re.split(r"Live Subject Prompts", text)
    obj = re.findall(r"'([^']*\{0\}[^']*)'\.format", sections[0])
    live = re.findall(r"'([^']*\{0\}[^']*)'\.format", sections[1]) if len(sections) > 1 else obj
    if not classes or not obj:
        raise ValueError("prompts_and_classes.txt: no classes or prompt templates found")
    return classes, obj, live


def dreambooth_requests(k: int, seed: int, dataset: Path | None = None) -> list[DemoRequest]:
    """K seeded (image, prompt) pairs from the DreamBooth data set."""
    from mobigen.settings import dataset_dir

    root = dataset_dir(dataset)
    prompts_file = root / "prompts_and_classes.txt"
    if not prompts_file.is_file():
        raise FileNotFoundError(f"DreamBooth data set not found: {prompts_file} (set MOBIGEN_DATASET)")
    classes, obj, live = parse_prompts(prompts_file.read_text(encoding="utf-8"))
    rng = np.random.default_rng(seed)
    subjects = sorted(s for s in classes if (root / s).is_dir())
    out = []
    for i in rng.choice(len(subjects), size=k, replace=k > len(subjects)):
        subject = subjects[int(i)]
        images = sorted(p for p in (root / subject).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        cls = classes[subject]
        templates = live if cls in _LIVE_CLASSES else obj
        prompt = templates[int(rng.integers(len(templates)))].replace("{0} ", "").replace("{1}", cls)
        out.append(DemoRequest(images[int(rng.integers(len(images)))], subject, prompt))
    return out


def run_demo(users: int, out_dir: str | Path, *, scenario: str = "paper", controller: str | None = None,
             image_size: int = 512, seed: int = 0, slot_ms: float = 5000.0, components: str | None = None,
             dataset: Path | None = None, quality_model: Any = None, controller_obj: Any = None) -> dict:
    """Start a server and ``users`` clients on loopback; write images and ``summary.json``; return the summary."""
    from pydantic import ValidationError

    from mobigen.conditions.images import load_512
    from mobigen.scenario import resolve
    from mobigen.serving.app import create_app, validation_message
    from mobigen.serving.client import MobileClient
    from mobigen.serving.server import ServerThread
    from mobigen.serving.settings import DEFAULT_CONTROLLER, ServerSettings
    from mobigen.serving.splitrun import GenerationSpec, SplitRunner
    from mobigen.settings import sd_dir

    if users < 1:
        raise ValueError(f"--users must be >= 1, got {users}")
    if components is None:
        configured = sd_dir()
        components = str(configured) if configured is not None else "tiny"
    sc = resolve(scenario)
    try:
        settings = ServerSettings(port=0, scenario=scenario, controller=controller or DEFAULT_CONTROLLER,
                                  slot_ms=slot_ms, max_users=users, components=components, image_size=image_size,
                                  components_seed=seed)
    except ValidationError as exc:
        raise ValueError(validation_message(exc)) from None
    requests = dreambooth_requests(users, seed, dataset)
    rng = np.random.default_rng(seed + 1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kwargs = {}
    if quality_model is not None:
        kwargs["quality_model"] = quality_model
    if controller_obj is not None:
        kwargs["controller"] = controller_obj
    app = create_app(settings, **kwargs)
    svc = app.state.service
    spec = GenerationSpec(components, seed, image_size, settings.wire_mode, settings.image_format)
    device_runner = SplitRunner(spec)  # the devices' own copy of the weights (same seed / directory as the edge)
    device_runner.ensure_ready()
    rows: list[dict | None] = [None] * users
    errors: list[str] = []
    lo, hi = sc.qoe_threshold_range

    barrier = threading.Barrier(users)

    def user(k: int, req: DemoRequest, omega: float, qoe: float) -> None:
        try:
            rgb = load_512(req.image_path, convert=True)
            with MobileClient(srv.url, scenario=sc, device_type=k % len(sc.device_compute_ratios), seed=seed + k,
                              runner=device_runner) as client:
                prepared = client.prepare(rgb, omega_I=omega, qoe_threshold=qoe)  # VCE + extraction + compression
                try:  # all K devices upload together, so they share one slot (their extraction times differ)
                    barrier.wait(timeout=600)
                except threading.BrokenBarrierError:
                    pass
                res = client.run(prepared, prompt=req.prompt, omega_I=omega, qoe_threshold=qoe, seed=seed + k,
                                 out_path=str(out / f"user{k}_{req.subject}.png"))
            row = res.to_row()
            row.update(user=k, subject=req.subject, prompt=req.prompt, source_image=str(req.image_path),
                       omega_I=omega, qoe_threshold=qoe, device_type=k % len(sc.device_compute_ratios),
                       slot_id=res.server["slot_id"], slot_size=res.server["slot_size"],
                       vce_expected_q=prepared.vce_expected_q, vce_quality_backend=prepared.vce_backend)
            rows[k] = row
        except Exception as exc:  # noqa: BLE001 - reported in the summary, the other users go on
            barrier.abort()
            logger.exception("user %d failed", k)
            errors.append(f"user {k}: {type(exc).__name__}: {exc}")

    draws = [(float(rng.uniform(0, 1)), float(rng.uniform(lo, hi))) for _ in range(users)]
    t0 = time.perf_counter()
    with ServerThread(app) as srv:
        threads = [threading.Thread(target=user, args=(k, r, *draws[k])) for k, r in enumerate(requests)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    wall = time.perf_counter() - t0
    done = [r for r in rows if r is not None]
    summary = {
        "components": spec.label,
        "components_kind": "tiny random weights (NOT Stable Diffusion: images are noise-like)" if components == "tiny"
        else "local weights",
        "controller": svc.controller_name,
        "quality_backend": str(getattr(svc.quality, "backend", "unknown")),
        "scenario": sc.name,
        "image_size": image_size,
        "users": users,
        "wall_s": wall,
        "errors": errors,
        "rows": done,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def format_table(summary: dict) -> str:
    """The slot's table as the demo prints it."""
    head = (f"{'user':>4} {'type':>4} {'λ':<6} {'α':>5} {'β':>4} {'T':>3} {'o':>5} {'edge':>4} {'dev':>4} "
            f"{'up B':>7} {'down B':>7} {'L1 s':>6} {'L2 s':>6} {'L s':>6} {'Q(model)':>8}  status")
    slots = sorted({(r["slot_id"], r["slot_size"]) for r in summary["rows"]})
    lines = [f"components: {summary['components']} — {summary['components_kind']}",
             "slots: " + ", ".join(f"#{i} ({n} users)" for i, n in slots),
             f"controller: {summary['controller']}   quality backend: {summary['quality_backend']}   "
             f"scenario: {summary['scenario']}   image {summary['image_size']} px", head]
    for r in summary["rows"]:
        d = r["decision"]
        status = (r.get("completion") or {}).get("status") or r["server"]["status"]
        lines.append(
            f"{r['user']:>4} {r['device_type']:>4} {r['condition']:<6} {r['alpha']:>5.3f} {r['beta']:>4.1f} {d['T']:>3} "
            f"{d['o']:>5.2f} {d['edge_steps']:>4} {d['local_steps']:>4} {r['uplink_bytes']:>7} {r['downlink_bytes']:>7} "
            f"{r['L1_s']:>6.2f} {r['L2_s']:>6.2f} {r['latency_s']:>6.2f} {r['server']['model']['Q']:>8.3f}  {status}")
    for e in summary["errors"]:
        lines.append(f"ERROR {e}")
    lines.append(f"Q(model) is the {summary['quality_backend']} quality model's prediction; latencies are measured "
                 f"on this machine ({summary['wall_s']:.1f} s wall).")
    return "\n".join(lines)


__all__ = ["DemoRequest", "dreambooth_requests", "format_table", "parse_prompts", "run_demo"]

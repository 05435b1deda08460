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
    components, sc, settings, requests = check_demo_inputs(users, scenario=scenario, controller=controller,
                                                           image_size=image_size, seed=seed, slot_ms=slot_ms,
                                                           components=components, dataset=dataset)
    rng = np.random.default_rng(seed + 1)  # then the users' ω and Q̃
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    app = demo_app(settings, quality_model, controller_obj)
    demo = DemoUsers(sc, seed, out, users, device_runner(components, seed, image_size, settings))  # 3. the devices
    lo, hi = sc.qoe_threshold_range
    draws = [(float(rng.uniform(0, 1)), float(rng.uniform(lo, hi))) for _ in range(users)]
    wall = demo.run(app, requests, draws)  # 4. K concurrent users in one slot
    summary = _summary(app.state.service, demo, sc, components, image_size, users, wall)  # 5. the summary
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def check_demo_inputs(users: int, *, scenario: str = "paper", controller: str | None = None, image_size: int = 512,
                      seed: int = 0, slot_ms: float = 5000.0, components: str | None = None,
                      dataset: Path | None = None) -> tuple[str, Any, Any, list[DemoRequest]]:
    """Steps 1-2 of :func:`run_demo`, which start nothing: the components choice, the scenario, the server's
    settings and the users' requests. A bad value is a ValueError naming it; a missing data set is a
    FileNotFoundError."""
    from mobigen.scenario import resolve

    if users < 1:
        raise ValueError(f"--users must be >= 1, got {users}")
    components = _components_choice(components)
    sc = resolve(scenario)
    settings = _demo_settings(users, scenario, controller, slot_ms, components, image_size, seed)  # 1. the server
    requests = dreambooth_requests(users, seed, dataset)  # 2. the users' inputs
    return components, sc, settings, requests


def _components_choice(components: str | None) -> str:
    """``components``, else MOBIGEN_SD_DIR when set, else tiny."""
    from mobigen.settings import sd_dir

    if components is not None:
        return components
    configured = sd_dir()
    return str(configured) if configured is not None else "tiny"


def _demo_settings(users: int, scenario: str, controller: str | None, slot_ms: float, components: str,
                   image_size: int, seed: int) -> Any:
    """The demo server's settings (port 0 on loopback, K = users); a bad value is a ValueError naming it."""
    from pydantic import ValidationError

    from mobigen.serving.errors import validation_message
    from mobigen.serving.settings import DEFAULT_CONTROLLER, ServerSettings

    try:
        return ServerSettings(port=0, scenario=scenario, controller=controller or DEFAULT_CONTROLLER,
                              slot_ms=slot_ms, max_users=users, components=components, image_size=image_size,
                              components_seed=seed)
    except ValidationError as exc:
        raise ValueError(validation_message(exc)) from None


def demo_app(settings: Any, quality_model: Any, controller_obj: Any) -> Any:
    """``create_app`` with the demo's quality model and controller (None: the server's defaults);
    the gateway demo builds its sites with it."""
    from mobigen.serving.app import create_app

    kwargs = {}
    if quality_model is not None:
        kwargs["quality_model"] = quality_model
    if controller_obj is not None:
        kwargs["controller"] = controller_obj
    return create_app(settings, **kwargs)


def device_runner(components: str, seed: int, image_size: int, settings: Any) -> Any:
    """The devices' own copy of the weights (same seed / directory as the edge), loaded."""
    from mobigen.serving.splitrun import GenerationSpec, SplitRunner

    runner = SplitRunner(GenerationSpec(components, seed, image_size, settings.wire_mode, settings.image_format))
    runner.ensure_ready()
    return runner


class DemoUsers:
    """The K mobile users of the demo: one thread each, sharing the device runner; rows and errors collected."""

    def __init__(self, sc: Any, seed: int, out: Path, users: int, runner: Any) -> None:
        self.sc, self.seed, self.out, self.runner = sc, seed, out, runner
        self.rows: list[dict | None] = [None] * users
        self.errors: list[str] = []
        self.barrier = threading.Barrier(users)
        self.url = ""

    def run(self, app: Any, requests: list[DemoRequest], draws: list[tuple[float, float]]) -> float:
        """Serve ``app`` on loopback and run every user against it; returns the wall seconds."""
        from mobigen.serving.server import ServerThread

        t0 = time.perf_counter()
        with ServerThread(app) as srv:
            self.url = srv.url
            threads = [threading.Thread(target=self.user, args=(k, r, *draws[k])) for k, r in enumerate(requests)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        return time.perf_counter() - t0

    def user(self, k: int, req: DemoRequest, omega: float, qoe: float) -> None:
        """User k: VCE + extraction + compression, then (with all K together) the request; a failure is recorded."""
        from mobigen.conditions.images import load_512
        from mobigen.serving.client import MobileClient

        sc, seed = self.sc, self.seed
        try:
            rgb = load_512(req.image_path, convert=True)
            with MobileClient(self.url, scenario=sc, device_type=k % len(sc.device_compute_ratios), seed=seed + k,
                              runner=self.runner) as client:
                prepared = client.prepare(rgb, omega_I=omega, qoe_threshold=qoe)  # VCE + extraction + compression
                try:  # all K devices upload together, so they share one slot (their extraction times differ)
                    self.barrier.wait(timeout=600)
                except threading.BrokenBarrierError:
                    pass
                res = client.run(prepared, prompt=req.prompt, omega_I=omega, qoe_threshold=qoe, seed=seed + k,
                                 out_path=str(self.out / f"user{k}_{req.subject}.png"))
            row = res.to_row()
            row.update(user=k, subject=req.subject, prompt=req.prompt, source_image=str(req.image_path),
                       omega_I=omega, qoe_threshold=qoe, device_type=k % len(sc.device_compute_ratios),
                       slot_id=res.server["slot_id"], slot_size=res.server["slot_size"],
                       vce_expected_q=prepared.vce_expected_q, vce_quality_backend=prepared.vce_backend)
            self.rows[k] = row
        except Exception as exc:  # noqa: BLE001 - reported in the summary, the other users go on
            self.barrier.abort()
            logger.exception("user %d failed", k)
            self.errors.append(f"user {k}: {type(exc).__name__}: {exc}")


def _summary(svc: Any, demo: DemoUsers, sc: Any, components: str, image_size: int, users: int, wall: float) -> dict:
    return {
        "components": demo.runner.spec.label,
        "components_kind": "tiny random weights (NOT Stable Diffusion: images are noise-like)" if components == "tiny"
        else "local weights",
        "controller": svc.controller_name,
        "quality_backend": str(getattr(svc.quality, "backend", "unknown")),
        "scenario": sc.name,
        "image_size": image_size,
        "users": users,
        "wall_s": wall,
        "errors": demo.errors,
        "rows": [r for r in demo.rows if r is not None],
    }


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


__all__ = ["DemoRequest", "DemoUsers", "check_demo_inputs", "demo_app", "device_runner", "dreambooth_requests",
           "format_table", "parse_prompts", "run_demo"]

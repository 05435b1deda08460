"""Load test: N clients × S slots against an in-process edge server on loopback.

The server runs in this process (uvicorn in a thread); the load generator runs in a child process
(asyncio + httpx, N concurrent clients, each sending its next request as soon as the previous reply
arrived), so the clients do not compete with the server for this interpreter's GIL. Every request
carries a unique id (a client refused with 503 + Retry-After waits and resends it, at most
``MAX_RETRIES`` times, as a device would); the report counts sent / answered / lost / duplicated and the server's
control-plane overhead per request (``Timings.overhead_s``: time in the server minus the wait for
the slot to close, the wait for the worker and the denoising itself; the controller's decision is
INCLUDED), plus the same figure without the decision, and the decision time alone.

Generation modes: ``none`` (default) is the control-plane-only server (``--no-denoise``: replies
carry the decision and no payload — labelled so in the report); ``tiny`` runs real split denoising
with tiny components at 64 px (slow on CPU: use few clients/slots).
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import time
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None, "mean": None}
    a = np.asarray(values, dtype=float) * 1000.0
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "max": float(a.max()),
            "mean": float(a.mean())}


def _request_id(client: int, slot: int, seed: int) -> str:
    """The unique id of client ``client``'s request in slot ``slot`` (how replies are matched to requests)."""
    return f"lt-{client:04d}-{slot:04d}-{seed}"


MAX_RETRIES = 10
"""A client refused with 503/429 + Retry-After (backpressure, ``serving.capacity``) waits that long and
sends the same request again, at most this many times; after that the request counts as lost."""


async def _post_honouring_retry_after(http: Any, url: str, body: bytes, ctype: str) -> tuple[Any, int]:
    """POST, and on 503/429 with ``Retry-After`` wait and resend (up to ``MAX_RETRIES``): (reply, retries)."""
    import asyncio

    retries = 0
    while True:
        r = await http.post(url, content=body, headers={"content-type": ctype})
        after = r.headers.get("retry-after")
        if r.status_code not in (429, 503) or after is None or retries >= MAX_RETRIES:
            return r, retries
        retries += 1
        await asyncio.sleep(float(after))


def _load_generator(url: str, clients: int, slots: int, scenario: str, seed: int, timeout_s: float, conn: Any) -> None:
    """Child process: N async clients × S requests; sends the raw outcomes back through ``conn``."""
    import asyncio

    import httpx

    from mobigen.conditions import codec
    from mobigen.scenario import CONDITIONS, resolve
    from mobigen.serving.client import build_multipart
    from mobigen.serving.protocol import decode_result

    sc = resolve(scenario)
    rng = np.random.default_rng(seed)
    edges = (rng.random((512, 512)) > 0.92).astype(np.uint8) * 255
    data = codec.encode(np.repeat(edges[:, :, None], 3, axis=2), 0.25, 0.5, "jpeg")
    outcomes: list[dict] = []

    async def client(c: int, http: httpx.AsyncClient) -> None:
        t = c % len(sc.device_compute_ratios)
        crng = np.random.default_rng([seed, c])
        for s in range(slots):
            rid = _request_id(c, s, seed)
            meta = {"request_id": rid, "prompt": "a dog on the beach", "condition": CONDITIONS[c % len(CONDITIONS)],
                    "alpha": 0.25, "beta": 0.5, "codec": "jpeg", "omega_I": float(crng.uniform()),
                    "qoe_threshold": float(crng.uniform(*sc.qoe_threshold_range)),
                    "device": {"f_flops": sc.device_compute_ratios[t] * sc.f_edge,
                               "budget_flops": sc.device_budget_ratios[t] * sc.edge_budget_flops},
                    "uplink_mbps": float(crng.uniform(*sc.uplink_mbps_range)),
                    "downlink_mbps": float(crng.uniform(*sc.downlink_mbps_range)), "seed": c * slots + s}
            body, ctype = build_multipart(meta, data)
            t0 = time.perf_counter()
            rec: dict[str, Any] = {"id": rid, "client": c, "slot": s}
            try:
                r, rec["retries"] = await _post_honouring_retry_after(http, f"{url}/v1/generate", body, ctype)
                rec["rtt_s"] = time.perf_counter() - t0  # from the first send: a refused device's waits count
                rec["status"] = r.status_code
                if r.status_code == 200:
                    m, _ = decode_result(r.content)
                    rec.update(reply_id=m["request_id"], timings=m["timings"], slot_id=m["slot_id"],
                               slot_size=m["slot_size"], server_status=m["status"])
                    if m["status"] == "awaiting_device":  # the device's completion confirmation, as a phone sends it
                        c_r = await http.post(f"{url}/v1/requests/{rid}/complete", json={"ok": True})
                        rec["confirm_status"] = c_r.status_code
                else:
                    rec["error"] = r.text[:300]
            except Exception as exc:  # noqa: BLE001 - counted as lost
                rec["status"] = None
                rec["error"] = f"{type(exc).__name__}: {exc}"
            outcomes.append(rec)

    async def main() -> float:
        limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
        async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as http:
            t0 = time.perf_counter()
            await asyncio.gather(*(client(c, http) for c in range(clients)))
            return time.perf_counter() - t0

    wall = asyncio.run(main())
    conn.send({"outcomes": outcomes, "wall_s": wall})
    conn.close()


def run_loadtest(clients: int = 50, slots: int = 20, *, scenario: str = "paper", controller: str | None = None,
                 max_users: int | None = None, slot_ms: float = 2000.0, denoise: str = "none", seed: int = 0,
                 timeout_s: float = 120.0, quality_model: Any = None, controller_obj: Any = None,
                 engine: str = "embedded", workers: int = 1, image_size: int = 64,
                 edge_max_batch: int | None = None) -> dict:
    """Run the load test and return its report (see the module docstring).

    ``engine='ray'`` serves the same app as a Ray Serve application (``serving.ray``) with ``workers``
    denoise-worker replicas on a local Ray instance; ``'embedded'`` runs ``workers`` worker threads."""
    settings = loadtest_settings(clients, slots, scenario, controller, max_users, slot_ms, denoise,  # 1. the server
                                 engine=engine, workers=workers, image_size=image_size, edge_max_batch=edge_max_batch)
    inject = {k: v for k, v in (("quality_model", quality_model), ("controller", controller_obj)) if v is not None}
    if engine == "ray":
        got, server_metrics, health = _drive_ray(settings, inject, clients, slots, scenario, seed, timeout_s)
    else:
        from mobigen.serving.app import create_app

        app = create_app(settings, **inject)
        got, server_metrics = _drive(app, clients, slots, scenario, seed, timeout_s)  # 2. the load, from a child process
        svc = app.state.service
        health = {"controller": svc.controller_name, "quality_backend": str(getattr(svc.quality, "backend", "unknown"))}
    report = {"mode": _MODES[denoise], "engine": engine, "workers": settings.workers,
              "edge_max_batch": settings.edge_max_batch, "image_size": settings.image_size, "clients": clients,
              "slots_per_client": slots, "max_users_K": settings.max_users, "controller": health["controller"],
              "scenario": scenario, "quality_backend": health["quality_backend"]}
    report.update(_outcome_report(got["outcomes"], clients, slots, seed))  # 3. counts and percentiles
    report.update(_run_figures(got["wall_s"], clients * slots, server_metrics))
    return report


def _drive_ray(settings: Any, inject: dict, clients: int, slots: int, scenario: str, seed: int,
               timeout_s: float) -> tuple[dict, str, dict]:
    """``_drive`` against the app on a local Ray Serve (started here, stopped after): outcomes, metrics, /health."""
    import httpx

    from mobigen.serving.ray.app import LocalRayServe, build_application

    with LocalRayServe() as srv:
        url = srv.run(build_application(settings, settings.workers, service_kwargs=inject), timeout_s=300)
        got = _generate_load(url, clients, slots, scenario, seed, timeout_s)
        server_metrics = httpx.get(f"{url}/metrics", timeout=30).text
        health = httpx.get(f"{url}/health", timeout=30).json()
    return got, server_metrics, health


_MODES = {"none": ("control plane only (--no-denoise): the server decides and replies without generating; "
                   "replies carry no payload"),
          "tiny": "tiny components at 64 px (real split denoising)"}
"""``--denoise`` value -> the report's ``mode`` line."""

OVERHEAD_DEFINITION = (
    "overhead = server wall time from body received to reply ready, minus the wait for "
    "the slot to close, the worker-queue wait and edge denoising (so it includes event-loop "
    "queueing behind the other users of a burst); processing = this request's own work: "
    "parsing, validation, condition decoding, the slot's decision (shared by its K users), "
    "the guard and building the reply; processing_cpu = the same in CPU time of the event-loop thread")
"""What the report's overhead and processing figures measure."""


def loadtest_settings(clients: int, slots: int, scenario: str, controller: str | None, max_users: int | None,
                       slot_ms: float, denoise: str, *, engine: str = "embedded", workers: int = 1,
                       image_size: int = 64, edge_max_batch: int | None = None) -> Any:
    """The server's settings (port 0, K = max_users or N, ``image_size`` px (64), no downlink pacing); ValueError
    naming a bad value."""
    from pydantic import ValidationError

    from mobigen.serving.errors import validation_message
    from mobigen.serving.settings import DEFAULT_CONTROLLER, ServerSettings

    if clients < 1 or slots < 1:
        raise ValueError(f"--clients and --slots must be >= 1, got {clients} and {slots}")
    if denoise not in ("none", "tiny"):
        raise ValueError(f"--denoise must be 'none' or 'tiny', got {denoise!r}")
    try:
        return ServerSettings(port=0, scenario=scenario, controller=controller or DEFAULT_CONTROLLER,
                              slot_ms=slot_ms, max_users=max_users or clients,
                              denoise="none" if denoise == "none" else "run",
                              image_size=image_size, shape_downlink=False, queue_limit=max(1024, 2 * clients),
                              record_ttl_s=3600, engine=engine, workers=workers,
                              **({} if edge_max_batch is None else {"edge_max_batch": edge_max_batch}))
    except ValidationError as exc:
        raise ValueError(validation_message(exc)) from None


def _drive(app: Any, clients: int, slots: int, scenario: str, seed: int, timeout_s: float) -> tuple[dict, str]:
    """Serve ``app`` on loopback while the spawned load generator runs; its raw outcomes and the server's metrics."""
    from mobigen.serving.server import ServerThread

    with ServerThread(app) as srv:
        got = _generate_load(srv.url, clients, slots, scenario, seed, timeout_s)
        server_metrics = app.state.service.metrics.render().decode()
    return got, server_metrics


def _generate_load(url: str, clients: int, slots: int, scenario: str, seed: int, timeout_s: float) -> dict:
    """Run the load generator in a spawned child process against ``url``; its raw outcomes."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_load_generator, args=(url, clients, slots, scenario, seed, timeout_s, child),
                       daemon=True)
    proc.start()
    child.close()
    budget = timeout_s * slots + 120
    if not parent.poll(budget):
        proc.kill()
        proc.join(5)
        raise TimeoutError(f"load generator did not finish within {budget:.0f} s")
    try:
        got = parent.recv()
    except EOFError:
        proc.join(5)
        raise RuntimeError(f"the load generator process died (exit code {proc.exitcode})") from None
    proc.join(30)
    return got


def _outcome_report(outcomes: list[dict], clients: int, slots: int, seed: int) -> dict[str, Any]:
    """Sent / answered / lost / duplicated (by request id) and the timing percentiles of the matched replies."""
    sent = clients * slots
    ids = [_request_id(c, s, seed) for c in range(clients) for s in range(slots)]
    ok = [o for o in outcomes if o.get("status") == 200]
    answered_ids = [o["reply_id"] for o in ok]
    matched = [o for o in ok if o["reply_id"] == o["id"]]
    duplicated = len(answered_ids) - len(set(answered_ids)) + (len(ok) - len(matched))
    answered = len(set(answered_ids) & set(ids))
    over = [o["timings"]["overhead_s"] for o in matched]
    dec = [o["timings"]["decision_s"] for o in matched]
    processing = [o["timings"]["processing_s"] for o in matched]
    slot_sizes = sorted({(o["slot_id"], o["slot_size"]) for o in matched})
    return {
        "sent": sent, "answered": answered, "lost": sent - answered, "duplicated": duplicated,
        "non_200": sorted({str(o.get("status")) for o in outcomes if o.get("status") != 200}),
        "errors_sample": [o.get("error") for o in outcomes if o.get("status") != 200][:5],
        "confirmations": {"sent": sum(1 for o in matched if "confirm_status" in o),
                          "accepted": sum(1 for o in matched if o.get("confirm_status") == 200)},
        "retries_after_503": sum(o.get("retries", 0) for o in outcomes),
        "slots_formed": len(slot_sizes), "mean_slot_size": float(np.mean([s for _, s in slot_sizes])) if slot_sizes else 0.0,
        "overhead_ms": _percentiles(over),
        "overhead_excl_decision_ms": _percentiles([max(0.0, a - b) for a, b in zip(over, dec)]),
        "processing_ms": _percentiles(processing),
        "processing_excl_decision_ms": _percentiles([max(0.0, a - b) for a, b in zip(processing, dec)]),
        "processing_cpu_ms": _percentiles([o["timings"]["processing_cpu_s"] for o in matched]),
        "decision_ms": _percentiles(dec),
        "rtt_ms": _percentiles([o["rtt_s"] for o in matched]),
    }


def _run_figures(wall_s: float, sent: int, server_metrics: str) -> dict[str, Any]:
    """Machine load after the run, throughput, the overhead definition and the server's request/error counters."""
    import os

    return {
        "load_average_1min_after": os.getloadavg()[0], "cpu_count": os.cpu_count(),
        "wall_s": wall_s, "requests_per_s": sent / wall_s if wall_s > 0 else None,
        "overhead_definition": OVERHEAD_DEFINITION,
        "server_metrics_excerpt": [ln for ln in server_metrics.splitlines()
                                   if ln.startswith(("mobigen_requests_total", "mobigen_errors_total"))],
    }


def dump(report: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)


__all__ = ["dump", "loadtest_settings", "run_loadtest"]

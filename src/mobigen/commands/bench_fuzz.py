"""`mobigen bench fuzz`: a long fuzz run against the edge server; counts replies by status class."""

from __future__ import annotations

import argparse

from mobigen.commands._common import add_json_option, add_progress_option, progress_enabled, text_stream, user_errors, write_json

HELP = "fuzz the edge server with seeded hostile requests (meta, condition, framing, routes); counts by status class"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=10_000, help="hostile requests to send")
    parser.add_argument("--seed", type=int, default=0, help="seed of the request generator")
    parser.add_argument("--batch", type=int, default=4, help="hostile requests sent together with one valid slot-mate")
    parser.add_argument("--server", default=None,
                        help="URL of a running server to fuzz (default: start one in process, control plane only)")
    add_json_option(parser)
    add_progress_option(parser)


def _check(args: argparse.Namespace) -> None:
    with user_errors():
        if args.requests < 1:
            raise ValueError(f"--requests must be at least 1, got {args.requests}")
        if not 1 <= args.batch <= 64:
            raise ValueError(f"--batch must lie in 1..64, got {args.batch}")


def _fuzz(url: str, args: argparse.Namespace, device: dict, condition: bytes):  # noqa: ANN202
    import asyncio

    from tqdm import tqdm

    from mobigen.serving.fuzz import run_fuzz

    with tqdm(total=args.requests, desc="fuzz", unit="req", disable=not progress_enabled(args)) as bar:
        return asyncio.run(run_fuzz(url, requests=args.requests, seed=args.seed, device=device, condition=condition,
                                    batch=args.batch, progress=bar.update))


def _device_and_condition() -> tuple[dict, bytes]:
    """Device type 0 of the paper's scenario and a real JPEG edge map: the valid baseline every mutation starts from."""
    import numpy as np

    from mobigen.conditions import codec
    from mobigen.scenario import preset

    sc = preset("paper")
    device = {"f_flops": float(sc.device_compute_ratios[0] * sc.f_edge),
              "budget_flops": float(sc.device_budget_ratios[0] * sc.edge_budget_flops)}
    edges = (np.random.default_rng(0).random((512, 512)) > 0.9).astype(np.uint8) * 255
    return device, codec.encode(np.repeat(edges[:, :, None], 3, axis=2), alpha=0.25, beta=0.5, codec="jpeg")


def run(args: argparse.Namespace) -> int:
    import logging
    import time

    _check(args)
    device, condition = _device_and_condition()
    out = text_stream(args.json)
    # thousands of refusals, request lines and "malformed body" warnings are the point of this run
    for name, level in (("mobigen.serving", logging.WARNING), ("httpx", logging.WARNING),
                        ("httpcore", logging.WARNING), ("python_multipart", logging.ERROR)):
        logging.getLogger(name).setLevel(level)
    t0 = time.perf_counter()
    if args.server:
        report = _fuzz(args.server.rstrip("/"), args, device, condition)
        target = args.server
    else:
        from mobigen.serving.app import create_app
        from mobigen.serving.server import ServerThread
        from mobigen.serving.settings import ServerSettings

        with ServerThread(create_app(ServerSettings(denoise="none", slot_ms=40, max_users=args.batch + 1))) as srv:
            report = _fuzz(srv.url, args, device, condition)
            import httpx

            health = httpx.get(f"{srv.url}/health", timeout=10).status_code
        target = f"in-process server (control plane only), /health after the run: {health}"
    wall = time.perf_counter() - t0
    d = report.as_dict()
    d.update(seed=args.seed, target=target, wall_s=round(wall, 2))
    print(f"fuzz: {report.requests} hostile requests against {target} in {wall:.1f} s", file=out)
    print("  by status class: " + ", ".join(f"{k} {v}" for k, v in sorted(report.by_class.items())), file=out)
    for kind, counts in d["by_kind"].items():
        print(f"  {kind:>16}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), file=out)
    print(f"  valid slot-mates served: {report.mates_served} / {report.mates_sent}", file=out)
    for e in report.server_errors[:5]:
        print(f"  5xx/transport: {e}", file=out)
    write_json(d, args.json)
    bad = report.by_class.get("5xx", 0) + report.by_class.get("transport", 0) + (report.mates_sent - report.mates_served)
    return 1 if bad else 0

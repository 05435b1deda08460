"""`mobigen serve`: run the edge server in the foreground.

``--engine embedded`` (the default): one process, FastAPI + uvicorn, ``--workers`` denoise threads.
``--engine ray``: the same /v1 API as a Ray Serve application (``serving.ray``): a FastAPI ingress
holding the edge's slot scheduler and ``--workers`` denoise-worker replicas (a GPU each when the
cluster has GPUs). ``--ray-config FILE`` deploys a Serve config file instead (the YAML that
``--write-ray-config FILE`` writes, which ``serve run FILE`` / ``serve deploy FILE`` / KubeRay accept too).
"""

from __future__ import annotations

import argparse

from mobigen.commands._common import CONTROLLERS, LATENT_MODES, UserError, user_errors

HELP = "run the edge server: slot batching, controller decisions + guard, edge denoising, /v1 API, /health, /metrics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="TCP port (default 8000)")
    parser.add_argument("--scenario", default=None, help="scenario preset or file (default paper)")
    parser.add_argument("--controller", default=None, choices=CONTROLLERS,
                        help="controller name from control.registry (default exact: the best reward in "
                             "`mobigen bench controllers`, see README)")
    parser.add_argument("--slot-ms", type=float, default=None, help="slot window in ms (default 200)")
    parser.add_argument("--max-users", type=int, default=None, help="K: a slot closes when this many requests are in (default 5)")
    parser.add_argument("--components", default=None,
                        help="'tiny' (random weights from --components-seed) or a local SD1.5+ControlNet weights directory")
    parser.add_argument("--components-seed", type=int, default=None, help="seed of the tiny components (default 0)")
    parser.add_argument("--image-size", type=int, default=None, help="generated image side in pixels (default 512)")
    parser.add_argument("--wire-mode", default=None, choices=LATENT_MODES, help="latent wire mode (default fp16)")
    parser.add_argument("--deadline-s", type=float, default=None,
                        help="seconds a device has to confirm completion (default the scenario's L̃)")
    parser.add_argument("--no-denoise", action="store_true",
                        help="CONTROL PLANE ONLY: decide and reply without generating (load tests)")
    parser.add_argument("--no-shape-downlink", action="store_true", help="do not pace replies at the declared B↓")
    parser.add_argument("--max-body-bytes", type=int, default=None, help="request body limit (default 2,000,000)")
    parser.add_argument("--engine", default=None, choices=("embedded", "ray"),
                        help="'embedded' (default): one process; 'ray': a Ray Serve application (FastAPI ingress + "
                             "--workers denoise-worker replicas)")
    parser.add_argument("--workers", type=int, default=None,
                        help="denoise workers: threads (embedded) or Ray Serve replicas, one GPU each when GPUs exist "
                             "(default 1)")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0,
                        help="ray engine without GPUs: CPUs each worker replica asks for (and torch threads it uses)")
    parser.add_argument("--ray-address", default=None,
                        help="ray engine: connect to this Ray cluster (e.g. 'auto'); default a new local instance")
    parser.add_argument("--ray-config", default=None, metavar="FILE",
                        help="ray engine: deploy this Serve config file (import_path "
                             "mobigen.serving.ray.app:build_app + args) instead of the flags")
    parser.add_argument("--write-ray-config", default=None, metavar="FILE",
                        help="write the Serve config file for these flags (for `serve deploy` / KubeRay) and exit")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="embedded engine: torch intra-op threads of this process (default 0: torch's own, one "
                             "per core; on a shared CPU, fewer threads than cores often run the edge steps faster)")
    parser.add_argument("--max-edge-queue", type=int, default=None,
                        help="edge jobs outstanding before new requests get 503 + Retry-After (default 256)")


def settings_from_args(args: argparse.Namespace):  # noqa: ANN201
    from mobigen.serving.settings import ServerSettings

    return ServerSettings.from_env(
        host=args.host, port=args.port, scenario=args.scenario, controller=args.controller, slot_ms=args.slot_ms,
        max_users=args.max_users, components=args.components, components_seed=args.components_seed,
        image_size=args.image_size, wire_mode=args.wire_mode, completion_deadline_s=args.deadline_s,
        denoise="none" if args.no_denoise else None, shape_downlink=False if args.no_shape_downlink else None,
        max_body_bytes=args.max_body_bytes, engine=args.engine, workers=args.workers,
        max_edge_queue=args.max_edge_queue, torch_threads=args.torch_threads,
    )


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        from mobigen.serving.app import validation_message

        raise UserError(validation_message(exc)) from None
    if not getattr(args, "verbose", False):  # -v keeps the parser's warning per malformed body
        from mobigen.serving.server import quiet_multipart_parser

        quiet_multipart_parser()
    if args.write_ray_config:
        from mobigen.serving.ray.app import config_yaml

        with open(args.write_ray_config, "w", encoding="utf-8") as f:
            f.write(config_yaml(settings, settings.workers, cpus_per_worker=args.cpus_per_worker))
        print(f"wrote {args.write_ray_config}: run it with `mobigen serve --engine ray --ray-config "
              f"{args.write_ray_config}`, `serve run {args.write_ray_config}` or `serve deploy` on a cluster")
        return 0
    if settings.engine == "ray" or args.ray_config:
        return _run_ray(settings, args)
    return _run_embedded(settings)


def _run_ray(settings, args: argparse.Namespace) -> int:  # noqa: ANN001
    """The Ray Serve engine in the foreground: start (or join) Ray, deploy, serve until SIGINT/SIGTERM."""
    import signal
    import threading

    try:
        import ray  # noqa: F401
        from ray import serve  # noqa: F401
    except ImportError as exc:
        raise UserError(f"--engine ray needs Ray Serve: pip install 'ray[serve]' ({exc})") from None
    from mobigen.serving.ray.app import LocalRayServe, build_application, load_config_apps

    ray_init = {"address": args.ray_address} if args.ray_address else {}
    host, port = settings.host, settings.port
    if args.ray_config:
        with user_errors():
            http, _ = load_config_apps(args.ray_config)
        host, port = http.get("host", host), int(http.get("port", port))
    srv = LocalRayServe(host=host, port=port, ray_init=ray_init).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        with user_errors():
            if args.ray_config:
                urls = srv.run_config(args.ray_config)
            else:
                urls = [srv.run(build_application(settings, settings.workers, cpus_per_worker=args.cpus_per_worker))]
        print(f"mobigen edge server (Ray Serve) on {', '.join(urls)}  workers={settings.workers}  "
              f"K={settings.max_users}  slot={settings.slot_ms:g} ms", flush=True)
        stop.wait()
    finally:
        srv.stop()
    print("mobigen edge server (Ray Serve) stopped", flush=True)
    return 0


def _run_embedded(settings) -> int:  # noqa: ANN001
    import signal

    from mobigen.serving.app import create_app
    from mobigen.serving.connection_guard import ConnectionLimits, uvicorn_config
    from mobigen.serving.server import GracefulServer

    with user_errors():  # the components folder, controller checkpoint ... the settings name
        app = create_app(settings)
    svc = app.state.service
    print(f"mobigen edge server on http://{settings.host}:{settings.port}  controller={svc.controller_name}  "
          f"K={settings.max_users}  slot={settings.slot_ms:g} ms  components={svc.components_label}  "
          f"quality={getattr(svc.quality, 'backend', '?')}", flush=True)
    from mobigen.serving.console import console_url  # the web console (serving/console)

    print(f"web console: {console_url(settings.host, settings.port)}  (live slots; 'Try it' runs a simulated device)",
          flush=True)
    config = uvicorn_config(app, settings.host, settings.port, limits=ConnectionLimits.from_settings(settings),
                            log_level="info", timeout_graceful_shutdown=settings.shutdown_grace_s)

    def stop(signum: int, frame: object) -> None:  # uvicorn re-raises the signal after its graceful shutdown
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        GracefulServer(config).run()
    except KeyboardInterrupt:
        pass
    print("mobigen edge server stopped (graceful shutdown: queued requests finished or refused)", flush=True)
    return 0

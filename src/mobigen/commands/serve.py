"""`mobigen serve`: run the edge server (FastAPI + uvicorn) in the foreground."""

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


def settings_from_args(args: argparse.Namespace):  # noqa: ANN201
    from mobigen.serving.settings import ServerSettings

    return ServerSettings.from_env(
        host=args.host, port=args.port, scenario=args.scenario, controller=args.controller, slot_ms=args.slot_ms,
        max_users=args.max_users, components=args.components, components_seed=args.components_seed,
        image_size=args.image_size, wire_mode=args.wire_mode, completion_deadline_s=args.deadline_s,
        denoise="none" if args.no_denoise else None, shape_downlink=False if args.no_shape_downlink else None,
        max_body_bytes=args.max_body_bytes,
    )


def run(args: argparse.Namespace) -> int:
    import signal

    from pydantic import ValidationError

    from mobigen.serving.app import create_app
    from mobigen.serving.connection_guard import ConnectionLimits, uvicorn_config
    from mobigen.serving.server import GracefulServer

    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        from mobigen.serving.app import validation_message

        raise UserError(validation_message(exc)) from None
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

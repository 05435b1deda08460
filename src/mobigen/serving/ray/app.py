"""Build, configure and run the edge's Ray Serve application.

- ``build_application(settings, workers)``: the bound ``EdgeIngress`` (+ ``DenoiseReplica`` × N);
- ``build_app(args)``: the *application builder* a Serve config file names as its ``import_path``
  (``mobigen.serving.ray.app:build_app``); ``args`` are ``ServerSettings`` fields plus ``workers`` and
  ``cpus_per_worker``. So the same app runs with ``serve run FILE``, ``serve deploy FILE`` on a Ray
  cluster, or a KubeRay ``RayService`` whose ``serveConfigV2`` holds the same YAML;
- ``config_yaml(settings, workers)``: that config file for the given settings
  (``mobigen serve --engine ray --write-ray-config FILE``);
- ``LocalRayServe``: start a local Ray instance and Serve on a loopback port, run the app, wait until
  it answers ``/health``, and stop it (``mobigen serve --engine ray``, the tests, the benchmark).
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from mobigen.serving.settings import ServerSettings

logger = logging.getLogger(__name__)

APP_NAME = "mobigen-edge"
"""The Serve application name."""
BUILDER_IMPORT_PATH = "mobigen.serving.ray.app:build_app"
"""What a Serve config file's ``import_path`` names."""


def _gpus_available() -> bool:
    """Whether the Ray cluster this process is connected to has GPUs (then each replica asks for one)."""
    import ray

    try:
        return ray.is_initialized() and float(ray.cluster_resources().get("GPU", 0)) >= 1
    except Exception:  # noqa: BLE001 - not connected yet: decided by the cluster at deploy time
        return False


def worker_options(cpus_per_worker: float = 1.0, gpus: bool | None = None) -> dict[str, Any]:
    """``ray_actor_options`` of a denoise replica: one GPU when the cluster has GPUs, else CPUs."""
    use_gpu = _gpus_available() if gpus is None else gpus
    if use_gpu:
        return {"num_gpus": 1, "num_cpus": 1}
    return {"num_cpus": float(cpus_per_worker)}


def build_application(settings: ServerSettings, workers: int = 1, *, cpus_per_worker: float = 1.0,
                      gpus: bool | None = None, service_kwargs: dict[str, Any] | None = None,
                      max_ongoing_requests: int | None = None) -> Any:
    """The bound Serve application: ``EdgeIngress`` with a handle to ``workers`` ``DenoiseReplica``s.

    ``service_kwargs`` (controller, quality_model, guard_fn objects) are pickled to the ingress
    replica: tests inject their parts this way."""
    from mobigen.serving.ray.deployments import DenoiseReplica, EdgeIngress

    if workers < 1:
        raise ValueError(f"field 'workers' must be >= 1, got {workers}")
    settings = settings.model_copy(update={"engine": "ray", "workers": int(workers)})
    worker_handle = None
    if settings.denoise == "run":
        opts = worker_options(cpus_per_worker, gpus)
        threads = int(opts.get("num_cpus", 1)) if not opts.get("num_gpus") else 1
        spec = dict(components=settings.components, components_seed=settings.components_seed,
                    image_size=settings.image_size, wire_mode=settings.wire_mode, image_format=settings.image_format)
        batch = int(settings.edge_max_batch)
        worker_handle = DenoiseReplica.options(num_replicas=int(workers), ray_actor_options=opts,
                                               max_ongoing_requests=batch).bind(spec, max(1, threads), batch)
    ingress = EdgeIngress.options(max_ongoing_requests=max_ongoing_requests or settings.max_connections)
    return ingress.bind(settings.model_dump(), worker_handle, int(workers), service_kwargs or {})


def build_app(args: dict[str, Any]) -> Any:
    """Serve application builder (``import_path: mobigen.serving.ray.app:build_app``): ``args`` are
    ``ServerSettings`` fields plus ``workers`` (replicas) and ``cpus_per_worker``."""
    args = dict(args or {})
    workers = int(args.pop("workers", 1))
    cpus = float(args.pop("cpus_per_worker", 1.0))
    settings = ServerSettings(**args)
    return build_application(settings, workers, cpus_per_worker=cpus)


def config_yaml(settings: ServerSettings, workers: int = 1, *, cpus_per_worker: float = 1.0) -> str:
    """A Serve config file (``serve run`` / ``serve deploy`` / KubeRay ``serveConfigV2``) for these settings."""
    import yaml

    defaults = ServerSettings()
    args = {k: v for k, v in settings.model_dump().items() if v != getattr(defaults, k) and k not in ("host", "port")}
    args.update(workers=int(workers), cpus_per_worker=float(cpus_per_worker))
    cfg = {
        "proxy_location": "EveryNode",
        "http_options": {"host": settings.host, "port": int(settings.port)},
        "applications": [{"name": APP_NAME, "route_prefix": "/", "import_path": BUILDER_IMPORT_PATH, "args": args}],
    }
    return yaml.safe_dump(cfg, sort_keys=False)


def load_config_apps(path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(http_options, applications) of a Serve config file; ValueError naming what is missing."""
    import yaml

    with open(path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f) or {}
    apps = cfg.get("applications")
    if not isinstance(apps, list) or not apps:
        raise ValueError(f"field 'applications' of {path}: a Serve config file lists at least one application")
    for i, a in enumerate(apps):
        if not isinstance(a, dict) or not a.get("import_path"):
            raise ValueError(f"field 'applications[{i}].import_path' of {path} is missing")
    return dict(cfg.get("http_options") or {}), apps


def _import_builder(path: str) -> Any:
    import importlib

    mod, _, attr = path.partition(":")
    if not attr:
        mod, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(mod), attr)


def free_port(host: str = "127.0.0.1") -> int:
    """A free TCP port on ``host`` (Serve's proxy needs a concrete port to be found again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalRayServe:
    """A local Ray instance + Serve on ``host:port`` running the edge app (a context manager).

    ``ray_init`` are ``ray.init`` keywords (the tests pass ``num_cpus=2, include_dashboard=False``).
    With ``reuse=True`` a Ray instance this process already started is used (and left running)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None, ray_init: dict[str, Any] | None = None,
                 reuse: bool = True) -> None:
        self.host = host
        self.port = int(port) if port else free_port(host)
        joining = bool((ray_init or {}).get("address"))
        """Connecting to a running cluster: leave its Serve running at ``stop`` (only this app is deleted)."""
        self.ray_init = dict(ray_init or {}) if joining else {"include_dashboard": False, "log_to_driver": False,
                                                               **(ray_init or {})}
        self._joining = joining
        self.reuse = reuse
        self._started_ray = False
        self.apps: list[str] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "LocalRayServe":
        """ray.init (unless already initialised and ``reuse``) and serve.start on ``host:port``."""
        import ray
        from ray import serve

        if not (self.reuse and ray.is_initialized()):
            ray.init(**self.ray_init)
            self._started_ray = True
        serve.start(http_options={"host": self.host, "port": self.port})
        return self

    def run(self, application: Any, *, name: str = APP_NAME, route_prefix: str = "/", timeout_s: float = 120.0) -> str:
        """Deploy ``application`` and wait until its ``/health`` answers; returns its base URL."""
        import httpx
        from ray import serve

        serve.run(application, name=name, route_prefix=route_prefix, blocking=False)
        self.apps.append(name)
        base = self.url + (route_prefix.rstrip("/") if route_prefix != "/" else "")
        t_end = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    return base
            except httpx.TransportError:
                pass
            if time.monotonic() > t_end:
                raise TimeoutError(f"the Ray Serve app {name!r} did not answer {base}/health within {timeout_s:g} s")
            time.sleep(0.2)

    def run_config(self, path: str, timeout_s: float = 180.0) -> list[str]:
        """Deploy every application of a Serve config file (builder ``import_path`` + ``args``)."""
        from ray.serve import Application

        _, apps = load_config_apps(path)
        urls = []
        for a in apps:
            target = _import_builder(a["import_path"])
            app = target if isinstance(target, Application) else target(a.get("args") or {})
            urls.append(self.run(app, name=a.get("name", APP_NAME), route_prefix=a.get("route_prefix", "/"),
                                 timeout_s=timeout_s))
        return urls

    def delete(self, name: str = APP_NAME) -> None:
        """Tear down one application (its ingress shuts the edge service down gracefully)."""
        from ray import serve

        serve.delete(name)
        if name in self.apps:
            self.apps.remove(name)

    def stop(self) -> None:
        """Delete the apps; shut Serve and Ray down if this object started Ray."""
        import ray
        from ray import serve

        for name in list(self.apps):
            try:
                self.delete(name)
            except Exception:  # noqa: BLE001 - best effort at shutdown
                logger.warning("could not delete Serve app %s", name, exc_info=True)
        if self._started_ray:
            if not self._joining:
                serve.shutdown()
            ray.shutdown()
            self._started_ray = False

    def __enter__(self) -> "LocalRayServe":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


__all__ = ["APP_NAME", "BUILDER_IMPORT_PATH", "LocalRayServe", "build_app", "build_application", "config_yaml",
           "load_config_apps", "worker_options"]

"""One local Ray instance (+ Serve) per test session, shared by every Ray test module (not a test module).

``ray_serve()`` starts it on first use (``ray.init(num_cpus=2, include_dashboard=False)``, Serve's
proxy on a free loopback port) and stops it when the test process exits; when Ray cannot start here
it raises ``pytest.skip`` with the reason. ``deploy(settings, workers, **service_kwargs)`` runs the
edge app under its own route prefix and returns its base URL. The tests' own parts (``StepQuality``,
``FixedController`` ...) are pickled by value to the replicas (they live in ``tests/``, which the
replicas cannot import).
"""

from __future__ import annotations

import atexit
import itertools
import os

import pytest

_STATE: dict = {}
_COUNTER = itertools.count()


def ray_serve():  # noqa: ANN201
    """The session's ``LocalRayServe`` (started on first use), or ``pytest.skip`` with the reason."""
    if "error" in _STATE:
        pytest.skip(_STATE["error"])
    if "serve" in _STATE:
        return _STATE["serve"]
    try:
        import ray  # noqa: F401
        from ray import cloudpickle

        import _serving_support
        from mobigen.serving.ray.app import LocalRayServe

        cloudpickle.register_pickle_by_value(_serving_support)
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        srv = LocalRayServe(ray_init={"num_cpus": 2, "include_dashboard": False, "log_to_driver": False}).start()
    except Exception as exc:  # noqa: BLE001 - any failure to start Ray is a skip with its reason
        _STATE["error"] = f"Ray (Serve) could not start on this machine: {type(exc).__name__}: {exc}"
        pytest.skip(_STATE["error"])
    _STATE["serve"] = srv
    atexit.register(srv.stop)
    return srv


def deploy(settings, workers: int = 1, *, cpus_per_worker: float = 1.0, **service_kwargs):  # noqa: ANN001, ANN003, ANN201
    """Run the edge app (its own name and route prefix) on the session's Serve; returns (name, base URL)."""
    from mobigen.serving.ray.app import build_application

    srv = ray_serve()
    name = f"edge{next(_COUNTER)}"
    app = build_application(settings, workers, cpus_per_worker=cpus_per_worker, gpus=False,
                            service_kwargs=service_kwargs)
    return name, srv.run(app, name=name, route_prefix=f"/{name}", timeout_s=180)


def undeploy(name: str) -> None:
    """Delete one app deployed by ``deploy`` (its edge service shuts down gracefully)."""
    srv = _STATE.get("serve")
    if srv is not None:
        srv.delete(name)

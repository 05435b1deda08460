"""The Ray Serve engine (issue 14 points 3 and 5) with tiny components on the session's local Ray.

* the edge app deployed from a Serve config file's builder (``import_path`` + ``args``) runs the
  same /v1 API (the API tests of tests/test_serving_api.py also run against the Ray engine);
* split generation through 2 denoise-worker replicas reached by a deployment handle, and the replica
  actors killed with ``ray.kill`` mid-slot: every request gets exactly one reply (its users' steps are
  re-run on the replicas Serve starts in their place), none is lost, none hangs.

Ray starts once per test session (tests/_ray_support.py); every test here skips with the reason when
Ray cannot start on the machine.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from _ray_support import deploy, ray_serve, undeploy
from _serving_support import FixedController, StepQuality, jpeg_condition, meta_dict, multipart
from mobigen.serving.protocol import decode_result
from mobigen.serving.settings import ServerSettings

pytestmark = pytest.mark.filterwarnings("ignore")


def test_config_file_round_trip_builds_the_app(tmp_path):
    """``config_yaml`` writes a Serve config whose builder (``import_path``) rebuilds these settings;
    ``LocalRayServe.run_config`` deploys it and the /v1 API answers."""
    from mobigen.serving.ray.app import BUILDER_IMPORT_PATH, config_yaml, load_config_apps

    settings = ServerSettings(denoise="none", slot_ms=50, max_users=2, shape_downlink=False, port=8123)
    path = tmp_path / "serve.yaml"
    path.write_text(config_yaml(settings, workers=2))
    http, apps = load_config_apps(str(path))
    assert http["port"] == 8123 and apps[0]["import_path"] == BUILDER_IMPORT_PATH
    assert apps[0]["args"]["workers"] == 2 and apps[0]["args"]["max_users"] == 2
    with pytest.raises(ValueError, match="applications"):
        bad = tmp_path / "bad.yaml"
        bad.write_text("http_options: {}\n")
        load_config_apps(str(bad))

    srv = ray_serve()
    apps[0]["route_prefix"] = "/fromconfig"
    apps[0]["name"] = "fromconfig"
    import yaml

    path.write_text(yaml.safe_dump({"applications": apps}))
    (url,) = srv.run_config(str(path))
    try:
        h = httpx.get(f"{url}/health").json()
        assert h["status"] == "ok" and h["engine"] == "ray" and h["max_users"] == 2
        r = httpx.post(f"{url}/v1/generate", files=multipart(meta_dict(request_id="cfg-0000001"), jpeg_condition()),
                       timeout=30)
        assert r.status_code == 200, r.text
        assert decode_result(r.content)[0]["slot_size"] == 1
    finally:
        undeploy("fromconfig")


def _replica_actors():  # noqa: ANN202
    import ray

    return [a for a in ray.util.list_named_actors(all_namespaces=True) if "#DenoiseReplica#" in a["name"]]


def _one_slot_with_a_kill(url: str, name: str, slot: int) -> None:
    """One slot of 6 users; 30 ms after the edge handed its 6 jobs to the pool, both replica actors are
    killed. Every user must get one 200 reply with its own id."""
    import ray

    victims = sorted(a["name"] for a in _replica_actors() if a["name"].startswith(f"SERVE_REPLICA::{name}#"))
    assert len(victims) == 2, victims
    ids = [f"kill-{slot}-{i:04d}" for i in range(6)]
    out: dict[str, httpx.Response | Exception] = {}

    def one(i: int) -> None:
        try:
            out[ids[i]] = httpx.post(f"{url}/v1/generate", timeout=180, files=multipart(
                meta_dict(device_type=i % 5, request_id=ids[i], seed=i), jpeg_condition(i)))
        except Exception as exc:  # noqa: BLE001 - asserted on below
            out[ids[i]] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    t_end = time.monotonic() + 120

    def pool_health() -> dict:
        assert time.monotonic() < t_end, "the slot's edge jobs never ran"
        return httpx.get(f"{url}/health").json()["workers"]

    # Kill in the slot's first round: two jobs went to the two idle replicas as the slot closed (routed
    # within milliseconds), and a first job runs 0.3-0.6 s here. Killing later is unreliable: the
    # queued jobs reach a freed replica only after Serve's router backs off from its rejections
    # (hundreds of ms), so both replicas can be idle for a while right after a reply (CI once killed
    # two idle replicas that way). Should a kill still miss, the caller repeats the slot.
    while pool_health()["outstanding"] < 6:
        time.sleep(0.002)
    time.sleep(0.03)
    for v in victims:
        ray.kill(ray.get_actor(v, namespace="serve"), no_restart=True)
    for t in threads:
        t.join(180)
    assert not any(t.is_alive() for t in threads), "a request hung"
    assert sorted(out) == ids
    for rid, r in out.items():
        assert isinstance(r, httpx.Response) and r.status_code == 200, (rid, r)
        meta, payload = decode_result(r.content)
        assert meta["request_id"] == rid and meta["payload_kind"] in ("latent", "image") and payload
        state = httpx.get(f"{url}/v1/requests/{rid}").json()
        assert state["status"] == meta["status"]


def test_replicas_killed_mid_slot_every_request_answered_once():
    """6 users in one slot on 2 replicas (one job each at a time); both replica actors are killed with
    ``ray.kill`` while they run the slot's first two jobs. Serve starts new replicas; all 6 users get
    one 200 reply with their own id, the records say so, and the edge re-ran the lost jobs.

    A job that is still being routed when its replica dies is re-routed by Serve itself (no re-run is
    counted), so a kill can in principle miss every running job; the slot is then repeated (3 slots
    at most) until the edge has re-run a job. Each slot's replies are checked in full either way."""
    settings = ServerSettings(denoise="run", slot_ms=60_000, max_users=6, image_size=256, wire_mode="fp32",
                              completion_deadline_s=60.0, shape_downlink=False, edge_max_batch=1)
    name, url = deploy(settings, workers=2, controller=FixedController(T=30, o=1.0), quality_model=StepQuality())
    try:
        for slot in range(3):
            _one_slot_with_a_kill(url, name, slot)
            w = httpx.get(f"{url}/health").json()["workers"]
            assert w["engine"] == "ray" and w["workers"] == 2 and w["outstanding"] == 0
            if w["reruns"] >= 1:
                break
            t_up = time.monotonic() + 60  # the next slot waits for Serve's two new replicas
            while len([a for a in _replica_actors() if a["name"].startswith(f"SERVE_REPLICA::{name}#")]) < 2:
                assert time.monotonic() < t_up, "Serve did not replace the killed replicas"
                time.sleep(0.1)
        assert w["reruns"] >= 1  # the jobs the killed replicas held ran again on the new replicas
    finally:
        undeploy(name)


def test_serve_command_writes_a_config_that_builds_the_app(tmp_path):
    """`mobigen serve --engine ray --write-ray-config FILE` writes the Serve config file; its builder
    (the ``import_path`` a Ray cluster or KubeRay calls) makes the ingress + N worker replicas."""
    Application = pytest.importorskip("ray.serve", reason="Ray Serve is not installed").Application

    from mobigen.cli import main
    from mobigen.serving.ray.app import build_app, load_config_apps

    path = tmp_path / "edge.yaml"
    assert main(["serve", "--engine", "ray", "--workers", "3", "--port", "8311", "--max-users", "4",
                 "--write-ray-config", str(path)]) == 0
    http, apps = load_config_apps(str(path))
    args = apps[0]["args"]
    assert http == {"host": "127.0.0.1", "port": 8311} and args["workers"] == 3 and args["max_users"] == 4
    app = build_app(args)
    assert isinstance(app, Application)
    with pytest.raises(ValueError, match="max_users"):
        build_app({**args, "max_users": 0})

"""The live multi-edge gateway (issue 11 point 4) with M = 2 local edge sites in control-plane mode
(no denoising: the association and the per-edge slot decisions are under test, not generation)."""

from __future__ import annotations

import json
import threading

import httpx
import numpy as np
import pytest

from _serving_support import StepQuality, jpeg_condition, meta_dict, multipart
from mobigen.control.exact import ExactController
from mobigen.control.multiedge.fast import FastController
from mobigen.scenario import preset
from mobigen.serving.app import create_app
from mobigen.serving.gateway import GatewaySettings, create_gateway_app
from mobigen.serving.gateway.app import EDGE_HEADER, parse_upload_meta
from mobigen.serving.gateway.association import Upload, associate
from mobigen.serving.protocol import decode_result
from mobigen.serving.server import ServerThread
from mobigen.serving.settings import ServerSettings

LINKS = [  # users 0, 1 near edge 0; users 2, 3 near edge 1
    [{"uplink_mbps": 40.0, "downlink_mbps": 40.0}, {"uplink_mbps": 0.5, "downlink_mbps": 0.5}],
    [{"uplink_mbps": 30.0, "downlink_mbps": 35.0}, {"uplink_mbps": 0.6, "downlink_mbps": 0.4}],
    [{"uplink_mbps": 0.5, "downlink_mbps": 0.5}, {"uplink_mbps": 40.0, "downlink_mbps": 40.0}],
    [{"uplink_mbps": 0.4, "downlink_mbps": 0.7}, {"uplink_mbps": 25.0, "downlink_mbps": 30.0}],
]


def _edge() -> ServerThread:
    settings = ServerSettings(port=0, denoise="none", slot_ms=1500, max_users=8, shape_downlink=False,
                              completion_deadline_s=1.0)
    return ServerThread(create_app(settings, controller=ExactController(), quality_model=StepQuality()))


@pytest.fixture(scope="module")
def sites():
    with _edge() as e0, _edge() as e1:
        gw_settings = GatewaySettings(edge_urls=(e0.url, e1.url), window_ms=400, max_users=4)
        with ServerThread(create_gateway_app(gw_settings, quality_model=StepQuality())) as gw:
            yield gw, (e0, e1), gw_settings


def _upload(url: str, k: int, out: list, **over) -> None:  # noqa: ANN003
    meta = meta_dict(device_type=k, request_id=f"gw-{k:04d}-{over.pop('tag', 'a')}", links=LINKS[k], **over)
    out[k] = httpx.post(f"{url}/v1/generate", files=multipart(meta, jpeg_condition(k)), timeout=60)


def test_two_edge_sites_behind_one_gateway(sites):
    gw, edges, gw_settings = sites
    _check_two_sites(gw.url, [e.url for e in edges], gw_settings, tag="a")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Serve's own pydantic fields, at its import
def test_the_gateway_in_front_of_two_ray_serve_sites():
    """The same association and per-site slots with each edge site a Ray Serve application (the
    gateway only talks HTTP to edge URLs, here Serve route prefixes; control-plane mode)."""
    from _ray_support import deploy, undeploy

    settings = ServerSettings(denoise="none", slot_ms=1500, max_users=8, shape_downlink=False, completion_deadline_s=1.0)
    names: list[str] = []
    try:
        urls = []
        for _ in range(2):
            name, url = deploy(settings, controller=ExactController(), quality_model=StepQuality())
            names.append(name)
            urls.append(url)
        gw_settings = GatewaySettings(edge_urls=tuple(urls), window_ms=400, max_users=4)
        with ServerThread(create_gateway_app(gw_settings, quality_model=StepQuality())) as gw:
            _check_two_sites(gw.url, urls, gw_settings, tag="ray")
            assert {httpx.get(f"{u}/health", timeout=10).json()["engine"] for u in urls} == {"ray"}
    finally:
        for name in names:
            undeploy(name)


def _check_two_sites(gw_url: str, edge_urls: list[str], gw_settings: GatewaySettings, tag: str) -> None:
    """4 users through the gateway: the fast controller's association, one slot per site of exactly its
    users, and the request routes proxied to the site that served each request."""
    replies: list = [None] * 4
    threads = [threading.Thread(target=_upload, args=(gw_url, k, replies), kwargs={"tag": tag}) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    got = [int(r.headers[EDGE_HEADER]) for r in replies]
    # the same association the fast controller gives on the window's multi-edge slot
    ups = []
    for k in range(4):
        meta, links, _ = parse_upload_meta(json.dumps(meta_dict(device_type=k, links=LINKS[k])), 2)
        ups.append(Upload(meta, len(jpeg_condition(k)), links, None))  # type: ignore[arg-type]
    want = associate(ups, gw_settings.scenario, StepQuality(), FastController())
    assert got == want.tolist()
    assert got == [0, 0, 1, 1]  # each user went to the site it has the good link to
    # each edge ran its own slot on exactly its users, with the link to it as the declared bandwidth
    for m, edge_url in enumerate(edge_urls):
        mine = [k for k in range(4) if got[k] == m]
        for k in mine:
            meta, _ = decode_result(replies[k].content)
            assert meta["slot_size"] == len(mine)
            assert meta["request_id"] == f"gw-{k:04d}-{tag}"
            state = httpx.get(f"{edge_url}/v1/requests/gw-{k:04d}-{tag}", timeout=10)
            assert state.status_code == 200
    # the request routes are proxied to the edge that served the request
    r = httpx.get(f"{gw_url}/v1/requests/gw-0002-{tag}", timeout=10)
    assert r.status_code == 200 and r.headers[EDGE_HEADER] == "1" and r.json()["request_id"] == f"gw-0002-{tag}"
    assert httpx.get(f"{gw_url}/v1/requests/nobody", timeout=10).status_code == 404
    h = httpx.get(f"{gw_url}/health", timeout=10).json()
    assert h["role"] == "gateway" and sum(h["assigned"]) >= 4


def test_bad_uploads_are_refused_naming_the_field(sites):
    gw, _, _ = sites
    bad = meta_dict(links=LINKS[0][:1], request_id="gw-bad-1")
    r = httpx.post(f"{gw.url}/v1/generate", files=multipart(bad, jpeg_condition()), timeout=30)
    assert r.status_code == 422 and "meta.links" in r.json()["detail"]
    r = httpx.post(f"{gw.url}/v1/generate", files=multipart(meta_dict(alpha=0.3), jpeg_condition()), timeout=30)
    assert r.status_code == 422 and "meta.alpha" in r.json()["detail"]
    r = httpx.post(f"{gw.url}/v1/generate", files=multipart("{not json", jpeg_condition()), timeout=30)
    assert r.status_code == 422 and "'meta'" in r.json()["detail"]


def test_an_unreachable_edge_fails_only_its_uploads():
    from mobigen.serving.server import free_port

    with _edge() as e0:
        dead = f"http://127.0.0.1:{free_port()}"
        settings = GatewaySettings(edge_urls=(e0.url, dead), window_ms=200, max_users=2)
        with ServerThread(create_gateway_app(settings, quality_model=StepQuality())) as gw:
            replies: list = [None] * 4
            for k in (1, 2):  # user 1 prefers edge 0 (alive), user 2 edge 1 (dead)
                _upload(gw.url, k, replies, tag="dead")
            assert replies[1].status_code == 200 and replies[1].headers[EDGE_HEADER] == "0"
            assert replies[2].status_code == 502 and replies[2].json()["error"] == "edge_unreachable"
            assert httpx.get(f"{gw.url}/health", timeout=10).json()["status"] == "ok"


def test_settings_are_checked():
    with pytest.raises(ValueError, match="'edge_urls'"):
        GatewaySettings(edge_urls=())
    with pytest.raises(ValueError, match="'edge_urls'"):
        GatewaySettings(edge_urls=("ftp://x",))
    sc = preset("paper").replace(edges=[{}, {}, {}])
    with pytest.raises(ValueError, match="'edge_urls' has 2 sites"):
        GatewaySettings(edge_urls=("http://a", "http://b"), scenario=sc)
    assert np.isclose(GatewaySettings(edge_urls=("http://a",)).scenario.edges[0].edge_budget_steps, 60.0)
    for field, value in (("window_ms", float("inf")), ("window_ms", float("nan")), ("timeout_s", 0.0),
                         ("max_users", 0)):
        with pytest.raises(ValueError, match=f"'{field}'"):
            GatewaySettings(edge_urls=("http://a",), **{field: value})

"""Fuzzing the edge server (issue 12): nothing malformed gets a 5xx, and a bad request never harms its
slot-mates.

Three fuzzers, all seeded/derandomised and bounded:
1. ``serving.fuzz`` (the same generator as ``mobigen bench fuzz``): 500 hostile requests over a real
   socket, each batch of four sent together with one valid slot-mate that must get 200;
2. hypothesis over the meta fields and over the multipart framing, each example racing a valid
   slot-mate;
3. schemathesis against the ASGI app in process, driven by the app's own OpenAPI schema.

The server runs control-plane only (``denoise="none"``): generation is not what is under test here.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import content_type_conformance, not_a_server_error, status_code_conformance

from _serving_support import jpeg_condition, meta_dict
from mobigen.serving.app import create_app
from mobigen.serving.fuzz import BOUNDARY, multipart_body, run_fuzz, valid_meta
from mobigen.serving.server import ServerThread
from mobigen.serving.settings import ServerSettings

CONDITION = jpeg_condition()
DEVICE = meta_dict()["device"]
SETTINGS = dict(denoise="none", slot_ms=40, max_users=5, header_timeout_s=5.0, body_idle_timeout_s=5.0)


@pytest.fixture(scope="module")
def server():
    with ServerThread(create_app(ServerSettings(**SETTINGS))) as srv:
        yield srv


def _health_ok(srv: ServerThread) -> bool:
    return httpx.get(f"{srv.url}/health", timeout=10).status_code == 200


# 1. the bench generator --------------------------------------------------------------------------
def test_500_hostile_requests_no_5xx_and_every_slot_mate_served(server):
    report = asyncio.run(run_fuzz(server.url, requests=500, seed=12, device=DEVICE, condition=CONDITION))
    counts = report.as_dict()
    assert report.requests == 500
    assert report.by_class.get("5xx", 0) == 0 and report.by_class.get("transport", 0) == 0, counts["server_errors"]
    assert report.mates_served == report.mates_sent == 125, counts["mate_failures"]
    assert report.by_class.get("4xx", 0) > 300  # the generator really is hostile (most requests are refused)
    assert _health_ok(server)


# 2. hypothesis: meta fields and multipart framing ---------------------------------------------------
def _race(srv: ServerThread, headers: dict[str, str], body: bytes) -> tuple[int, int]:
    """Send one hostile upload and one valid slot-mate together; (hostile status, mate status)."""
    mate_body = multipart_body([("meta", json.dumps(valid_meta(DEVICE)).encode(), None, "application/json"),
                                ("condition", CONDITION, "c.jpg", "image/jpeg")])
    mate_headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}

    async def go() -> tuple[int, int]:
        async with httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
            bad, mate = await asyncio.gather(client.post("/v1/generate", headers=headers, content=body),
                                             client.post("/v1/generate", headers=mate_headers, content=mate_body))
            return bad.status_code, mate.status_code

    return asyncio.run(go())


_numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**70), 2**70),
                     st.sampled_from([5e-324, 1e-310, 1.0000000001, 0.9999999999, 1e-6, -0.0]))
_values = st.one_of(_numbers, st.text(max_size=50), st.none(), st.booleans(), st.lists(st.integers(), max_size=3))
_FIELDS = ["prompt", "condition", "alpha", "beta", "codec", "omega_I", "qoe_threshold", "uplink_mbps",
           "downlink_mbps", "seed", "request_id", "extraction_s"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(changes=st.dictionaries(st.sampled_from(_FIELDS), _values, min_size=1, max_size=3),
       device=st.dictionaries(st.sampled_from(["f_flops", "budget_flops"]), _numbers, max_size=2))
def test_hypothesis_meta_fields_never_5xx_nor_harm_a_slot_mate(server, changes, device):
    meta = valid_meta(DEVICE)
    meta.update(changes)
    meta["device"] = {**DEVICE, **device}
    body = multipart_body([("meta", json.dumps(meta, allow_nan=True).encode(), None, "application/json"),
                           ("condition", CONDITION, "c.jpg", "image/jpeg")])
    bad, mate = _race(server, {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}, body)
    assert bad < 500, (meta, bad)
    assert mate == 200


_ctypes = st.sampled_from([f"multipart/form-data; boundary={BOUNDARY}", f'multipart/form-data; boundary="{BOUNDARY}"',
                           "multipart/form-data", f"multipart/form-datax; boundary={BOUNDARY}", "application/json",
                           "", f"multipart/mixed; boundary={BOUNDARY}", "multipart/form-data; boundary="])


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(ctype=_ctypes, cut=st.integers(0, 4000), insert=st.binary(max_size=64), at=st.integers(0, 4000),
       unquote=st.booleans())
def test_hypothesis_multipart_framing_never_5xx_nor_harms_a_slot_mate(server, ctype, cut, insert, at, unquote):
    body = multipart_body([("meta", json.dumps(valid_meta(DEVICE)).encode(), None, "application/json"),
                           ("condition", CONDITION, "c.jpg", "image/jpeg")])
    if unquote:
        body = body.replace(b'name="meta"', b"name=meta")
    at = min(at, len(body))
    body = body[:at] + insert + body[at:]
    body = body[: max(0, len(body) - cut)]
    bad, mate = _race(server, {"content-type": ctype}, body)
    assert bad < 500, (ctype, bad)
    assert mate == 200


def test_unquoted_part_name_and_near_miss_content_type(server):
    """A legal unquoted ``name=meta`` is accepted; ``multipart/form-datax`` is not multipart (415)."""
    body = multipart_body([("meta", json.dumps(valid_meta(DEVICE)).encode(), None, "application/json"),
                           ("condition", CONDITION, "c.jpg", "image/jpeg")])
    ok, _ = _race(server, {"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
                  body.replace(b'name="meta"', b"name=meta"))
    assert ok == 200
    bad, _ = _race(server, {"content-type": f"multipart/form-datax; boundary={BOUNDARY}"}, body)
    assert bad == 415


# 3. schemathesis against the ASGI app in process --------------------------------------------------
# Built at collection: building the app starts nothing (its service starts with the ASGI lifespan, which
# schemathesis runs). schemathesis' lazy ``from_fixture`` loader does not work with pytest 9.
schema = schemathesis.openapi.from_asgi("/v1/openapi.json", create_app(ServerSettings(**SETTINGS)))


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_schemathesis_no_server_error_and_documented_statuses(case):
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, content_type_conformance])


def test_openapi_describes_the_upload_body_and_status_codes():
    spec = create_app(ServerSettings(**SETTINGS)).openapi()
    op = spec["paths"]["/v1/generate"]["post"]
    assert "multipart/form-data" in op["requestBody"]["content"]
    for code in ("200", "400", "413", "415", "422", "503"):
        assert code in op["responses"], code
    metrics = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert "text/plain" in metrics and "application/json" not in metrics

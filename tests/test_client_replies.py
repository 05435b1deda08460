"""`mobigen client` against a fake edge server that answers with bad replies (issue 12, point 3).

The fake server is a small FastAPI app on 127.0.0.1 (port 0). In mode 'ok' it answers exactly like
the edge (a real tiny latent, T = 2, one edge step, with the request's digest), so the client
succeeds (checked first); every other mode changes one thing. Each bad reply must end in a one-line
error naming what was wrong and a non-zero exit status: no traceback, no 'internal error', no
terminal garbage, and an image that was generated is saved even when the completion call fails.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from _serving_support import small_scenario_file
from mobigen.cli import main
from mobigen.serving.server import ServerThread

pytestmark = pytest.mark.filterwarnings("ignore")

T, EDGE = 2, 1
BINARY = bytes(range(256)) * 8


def _health(mode: str) -> dict:
    h = {"status": "ok", "api": "/v1", "components": "tiny", "components_label": "tiny(seed=0)",
         "components_seed": 0, "image_size": 64, "wire_mode": "fp16", "denoise": "run"}
    if mode == "health_missing_field":
        del h["components_seed"]
    if mode == "health_absurd_image_size":
        h["image_size"] = 98_304  # 98304² x 3 bytes = 27 GiB if it were allocated
    return h


def _repack(data: bytes, **changes) -> bytes:  # noqa: ANN003
    """A wire message with header fields changed (or removed with None) and a valid CRC."""
    from mobigen.generation import wire

    _, header, offset = wire.decode_header(data)
    body = data[offset:]
    for k, v in changes.items():
        if v is None:
            header.pop(k, None)
        else:
            header[k] = v
    raw = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    return struct.pack("<4sHII", wire.MAGIC, wire.VERSION, len(raw), zlib.crc32(raw + body)) + raw + body


def _meta_json(meta: dict, payload: bytes, cond: bytes, *, T: int = T, edge: int = EDGE) -> dict:  # noqa: N803
    return {
        "request_id": meta["request_id"], "slot_id": 0, "slot_size": 1,
        "status": "edge_completed" if edge == T else "awaiting_device",
        "decision": {"T": T, "o": edge / T, "edge_steps": edge, "local_steps": T - edge, "controller": "fake",
                     "guard_repaired": False},
        "timings": {k: 0.01 for k in ("queue_s", "decision_s", "edge_wait_s", "edge_denoise_s", "overhead_s",
                                      "processing_s", "processing_cpu_s", "server_total_s")},
        "model": {"L1_s": 0.1, "uplink_s": 0.01, "L2_s": 0.5, "edge_s": 0.1, "downlink_s": 0.01, "local_s": 0.3,
                  "Q": 0.7, "quality_backend": "test-model"},
        "payload_kind": "image" if edge == T else "latent", "payload_bytes": len(payload), "uplink_bytes": len(cond),
        "completion_deadline_s": None if edge == T else 30.0, "components": "tiny(seed=0)",
    }


class FakeEdge:
    """Answers like the edge server, except for the one thing ``mode`` names."""

    def __init__(self) -> None:
        from mobigen.serving.splitrun import GenerationSpec, SplitRunner

        self.mode = "ok"
        self.completions = 0
        self.runner = SplitRunner(GenerationSpec("tiny", 0, 64, "fp16"))

    def message(self, meta: dict, cond: bytes) -> bytes:
        from mobigen.conditions import codec

        mode = self.mode
        edge = T if mode == "image_ok" else EDGE
        prompt = meta["prompt"] + " and a cat" if mode == "digest_other_prompt" else meta["prompt"]
        _, data = self.runner.run_edge(prompt=prompt, condition_rgb=codec.decode(cond), condition_type=meta["condition"],
                                       seed=meta["seed"], total_steps=T, edge_steps=edge)
        digest = self.runner.request_digest(prompt=prompt, condition_bytes=cond, seed=meta["seed"], total_steps=T,
                                            edge_steps=edge)
        changes = {"request_digest": None if mode == "digest_missing" else digest}
        if mode == "latent_1000_steps":
            changes["total_steps"] = 1000
        if mode == "guidance_1e30":
            changes["guidance_scale"] = 1e30
        return _repack(data, **changes)

    def reply(self, meta: dict, cond: bytes) -> Response:
        from mobigen.serving.protocol import RESULT_MEDIA_TYPE, encode_result

        mode = self.mode
        if mode == "error_body_list":
            return JSONResponse(["invalid", "request"], status_code=422)
        if mode == "binary_500":
            return Response(BINARY, status_code=500, media_type="application/octet-stream")
        payload = self.message(meta, cond)
        mj = _meta_json(meta, payload, cond, edge=T if mode == "image_ok" else EDGE)
        if mode == "decision_1000_steps":
            mj["decision"].update(T=1000, local_steps=999)
        if mode == "meta_nan":
            mj["model"]["L2_s"] = float("nan")
        if mode == "meta_payload_bytes":
            mj["payload_bytes"] += 7
        if mode == "meta_not_object":
            mj = [mj]
        frame = encode_result(mj, payload) if isinstance(mj, dict) else b"MGR1" + self._list_frame(mj) + payload
        if mode == "truncated":
            return Response(frame[: len(frame) // 2], media_type=RESULT_MEDIA_TYPE,
                            headers={"content-length": str(len(frame))})
        return Response(frame, media_type=RESULT_MEDIA_TYPE)

    @staticmethod
    def _list_frame(obj: list) -> bytes:
        head = json.dumps(obj).encode()
        return struct.pack(">I", len(head)) + head

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/health")
        async def health():  # noqa: ANN202
            return JSONResponse(_health(self.mode))

        @app.post("/v1/generate")
        async def generate(request: Request):  # noqa: ANN202
            form = await request.form()
            meta = json.loads(form["meta"])
            cond = await form["condition"].read()
            return self.reply(meta, cond)

        @app.post("/v1/requests/{rid}/complete")
        async def complete(rid: str):  # noqa: ANN202
            self.completions += 1
            if self.mode == "complete_500":
                return Response(BINARY, status_code=500, media_type="application/octet-stream")
            if self.mode == "complete_truncated":
                return Response(b'{"request_id": "', media_type="application/json", headers={"content-length": "500"})
            return JSONResponse({"request_id": rid, "status": "completed", "detail": "", "slot_id": 0,
                                 "image_available": False})

        return app


@pytest.fixture(scope="module")
def fake():
    edge = FakeEdge()
    with ServerThread(edge.app()) as srv:
        edge.url = srv.url
        yield edge


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("client_replies")
    src = d / "src.png"
    Image.fromarray((np.random.default_rng(0).random((96, 128, 3)) * 255).astype(np.uint8)).save(src)
    return {"image": str(src), "scenario": small_scenario_file(d), "dir": d}


def _run(fake, inputs, mode: str, capsys, out_name: str = "out.png"):  # noqa: ANN001, ANN202
    fake.mode = mode
    out = inputs["dir"] / f"{mode}-{out_name}"
    rc = main(["client", "--server", fake.url, "--image", inputs["image"], "--prompt", "a red car", "--omega", "0.4",
               "--qoe", "0.6", "--scenario", inputs["scenario"], "--condition", "canny", "--alpha", "0.25",
               "--beta", "0.5", "--uplink-mbps", "100", "--downlink-mbps", "100", "--seed", "3", "--out", str(out)])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err, out


@pytest.mark.parametrize("mode", ["ok", "image_ok"])
def test_fake_edge_answers_like_the_edge(fake, inputs, capsys, mode):
    """The control: unchanged, the fake server's replies are accepted and the image is written."""
    rc, out, err, path = _run(fake, inputs, mode, capsys)
    assert rc == 0, err
    assert path.is_file() and "decision" in out
    if mode == "ok":
        assert "completion   : completed" in out


BAD_REPLIES = {
    # mode: words the one-line error must contain
    "error_body_list": ["HTTP 422", "JSON list"],
    "binary_500": ["HTTP 500", "2048 bytes of binary data"],
    "health_missing_field": ["/health", "components_seed"],
    "health_absurd_image_size": ["/health", "image_size"],
    "latent_1000_steps": ["1000", "decision is 1 of T = 2"],
    "decision_1000_steps": ["decision.T", "1000", "step range"],
    "guidance_1e30": ["guidance_scale", "1e+30"],
    "truncated": ["truncated"],
    "digest_other_prompt": ["request_digest mismatch"],
    "digest_missing": ["no request_digest"],
    "meta_nan": ["model.L2_s", "nan"],
    "meta_payload_bytes": ["payload_bytes"],
    "meta_not_object": ["metadata must be a JSON object"],
}


@pytest.mark.parametrize("mode", sorted(BAD_REPLIES))
def test_bad_reply_is_one_line_error_and_nonzero_exit(fake, inputs, capsys, mode):
    rc, out, err, path = _run(fake, inputs, mode, capsys)
    assert rc == 1, (out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("mobigen client: ") and "internal error" not in line and "cannot reach" not in line, line
    for word in BAD_REPLIES[mode]:
        assert word in line, (word, line)
    assert "Traceback" not in err + out
    assert all(c.isprintable() for c in line), repr(line)  # no binary body dumped to the terminal
    assert not path.exists()  # nothing was generated from a bad reply


@pytest.mark.parametrize("mode", ["complete_500", "complete_truncated"])
def test_image_is_saved_before_a_failing_completion_call(fake, inputs, capsys, mode):
    before = fake.completions
    rc, out, err, path = _run(fake, inputs, mode, capsys)
    assert fake.completions == before + 1  # the completion call was made, and failed
    assert rc == 1, (out, err)
    assert path.is_file(), "the generated image was lost"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "completion call failed" in lines[0] and str(path) in lines[0], err
    assert all(c.isprintable() for c in lines[0]) and "Traceback" not in err
    assert "HTTP 500" in lines[0] if mode == "complete_500" else "truncated" in lines[0]


def test_server_that_is_not_listening_is_cannot_reach(inputs, capsys):
    """The one case that IS 'cannot reach': nobody listens on the port (exit 2, a user error: --server)."""
    from mobigen.serving.server import free_port

    rc = main(["client", "--server", f"http://127.0.0.1:{free_port()}", "--image", inputs["image"], "--prompt", "x",
               "--omega", "0.4", "--qoe", "0.6", "--scenario", inputs["scenario"], "--condition", "canny",
               "--alpha", "0.25", "--beta", "0.5"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot reach" in err and "Traceback" not in err


# ------------------------------------------------------------------ fuzzed replies (no server: httpx.MockTransport)

def _json_values():  # noqa: ANN202
    from hypothesis import strategies as st

    leaf = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True)
            | st.text(max_size=30))
    return st.recursive(leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                          max_size=3), max_leaves=6)


@pytest.fixture(scope="module")
def mock_parts():
    """A ready device runner and one valid (meta, payload) pair for a fixed request."""
    from mobigen.conditions import codec
    from mobigen.serving.client import PreparedRequest
    from mobigen.serving.splitrun import GenerationSpec, SplitRunner

    from _serving_support import jpeg_condition

    runner = SplitRunner(GenerationSpec("tiny", 0, 64, "fp16"))
    runner.ensure_ready()
    cond = jpeg_condition(3, side=128)
    prepared = PreparedRequest("canny", 0.25, 0.5, "jpeg", cond, 0.0, 0.0, 0.0)
    _, data = runner.run_edge(prompt="a dog", condition_rgb=codec.decode(cond), condition_type="canny", seed=1,
                              total_steps=T, edge_steps=EDGE, condition_bytes=cond)
    return runner, prepared, data


@pytest.fixture(scope="module")
def mock_scenario(tmp_path_factory):
    return small_scenario_file(tmp_path_factory.mktemp("mock"))


def _mock_client(runner, scenario, body: bytes, status: int = 200):  # noqa: ANN001, ANN202
    import httpx

    from mobigen.serving.client import MobileClient
    from mobigen.serving.protocol import RESULT_MEDIA_TYPE

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(200, json=_health("ok"))
        if request.url.path.endswith("/complete"):
            return httpx.Response(200, json={"request_id": "x" * 8, "status": "completed"})
        return httpx.Response(status, content=body, headers={"content-type": RESULT_MEDIA_TYPE})

    return MobileClient("http://fake", scenario=scenario, uplink_mbps=100.0, downlink_mbps=100.0, runner=runner,
                        shape_uplink=False, transport=httpx.MockTransport(handler))


def test_fuzzed_reply_bodies_only_ever_raise_reply_errors(mock_parts, mock_scenario):
    """Random bodies, and valid frames with one field of the metadata or one header field of the payload
    replaced by a random JSON value: the client either accepts (a valid reply) or raises ReplyError."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from mobigen.generation import wire
    from mobigen.serving.client import ReplyError, ServerError
    from mobigen.serving.protocol import encode_result

    runner, prepared, data = mock_parts
    rid = "fuzzreq0001"
    good_meta = _meta_json({"request_id": rid}, data, prepared.data)
    meta_paths = [(k,) for k in good_meta] + [("decision", k) for k in good_meta["decision"]] + \
                 [("model", k) for k in good_meta["model"]] + [("timings", k) for k in good_meta["timings"]]
    header_keys = sorted(wire.decode_header(data)[1])

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(kind=st.sampled_from(["raw", "meta", "header", "status"]), raw=st.binary(max_size=300),
           path_i=st.integers(0, 10_000), value=_json_values(), status=st.integers(201, 599))
    def check(kind, raw, path_i, value, status):  # noqa: ANN001
        body, code = raw, 200
        if kind == "meta":
            mj = json.loads(json.dumps(good_meta))
            path = meta_paths[path_i % len(meta_paths)]
            (mj if len(path) == 1 else mj[path[0]])[path[-1]] = value
            body = encode_result(mj, data)
        elif kind == "header":
            payload = _repack(data, **{header_keys[path_i % len(header_keys)]: value if value is not None else 0})
            mj = dict(good_meta, payload_bytes=len(payload))
            body = encode_result(mj, payload)
        elif kind == "status":
            code = status
        client = _mock_client(runner, mock_scenario, body, code)
        try:
            client.run(prepared, prompt="a dog", omega_I=0.5, qoe_threshold=0.6, seed=1, request_id=rid)
        except ReplyError:
            pass
        except ServerError:  # a refusal (4xx/5xx) with a random body: still one clean error
            assert kind == "status"
        finally:
            client.close()

    check()

"""Measure shaped transfers over real loopback sockets against the model's D / B (eqs. 2, 6, 7).

A minimal app reads a paced upload (``shaped_chunks_sync`` on the client) and answers with n bytes
paced by the server (``shaped_chunks``) — the same two mechanisms the edge server and the mobile
client use. Each case reports the measured uplink and downlink times and their ratio to
``system.transfer_time_s(D, B)``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

DEFAULT_CASES: tuple[tuple[float, int], ...] = (
    (5.0, 6_000), (5.0, 32_768), (5.0, 350_000), (20.0, 6_000), (20.0, 32_768), (20.0, 350_000),
)
"""(Mbps, bytes): the paper's VCE upload (≈ 6 KB), latent (≈ 33 KB) and image (≈ 350 KB) at both ends of B."""


def echo_app() -> FastAPI:
    """The measuring app: ``POST /xfer?n=&mbps=`` reads the body, sends n bytes paced at ``mbps``."""
    from mobigen.serving.shaping import bits_per_second, shaped_chunks

    app = FastAPI()

    @app.post("/xfer")
    async def xfer(request: Request, n: int, mbps: float):  # noqa: ANN202
        await request.body()
        return StreamingResponse(shaped_chunks(b"\x5a" * n, bits_per_second(mbps)),
                                 media_type="application/octet-stream", headers={"content-length": str(n)})

    @app.get("/ping")
    async def ping() -> dict:
        return {"ok": True}

    return app


def measure(url: str, mbps: float, nbytes: int) -> dict:
    """One shaped upload of ``nbytes`` at ``mbps`` and one shaped download of the same size."""
    import httpx

    from mobigen.serving.shaping import bits_per_second, shaped_chunks_sync
    from mobigen.system import transfer_time_s

    rate = bits_per_second(mbps)
    marks: dict[str, float] = {}

    def upload():  # noqa: ANN202
        marks["start"] = time.perf_counter()
        yield from shaped_chunks_sync(b"\xa5" * nbytes, rate)
        marks["end"] = time.perf_counter()

    with httpx.Client(timeout=60) as c:
        c.get(f"{url}/ping")  # connect first: connection set-up is not bandwidth
        with c.stream("POST", f"{url}/xfer", params={"n": nbytes, "mbps": mbps}, content=upload(),
                      headers={"content-length": str(nbytes)}) as r:
            t_head = time.perf_counter()
            got = len(r.read())
            t_done = time.perf_counter()
    if got != nbytes:
        raise RuntimeError(f"downloaded {got} bytes, expected {nbytes}")
    model = float(transfer_time_s(nbytes, rate))
    up, down = marks["end"] - marks["start"], t_done - t_head
    return {"mbps": mbps, "bytes": nbytes, "model_s": model, "uplink_s": up, "downlink_s": down,
            "uplink_ratio": up / model, "downlink_ratio": down / model}


def run_cases(cases: Iterable[tuple[float, int]] = DEFAULT_CASES) -> list[dict]:
    """Start the measuring app on a free loopback port and measure every case."""
    from mobigen.serving.server import ServerThread

    with ServerThread(echo_app()) as srv:
        return [measure(srv.url, mbps, n) for mbps, n in cases]


__all__ = ["DEFAULT_CASES", "echo_app", "measure", "run_cases"]

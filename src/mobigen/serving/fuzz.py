"""Hostile traffic for the edge server: a seeded generator of malformed requests and a bounded runner.

Used by the suite (``tests/test_fuzz.py``, a few hundred requests) and by ``mobigen bench fuzz``
(≥ 10,000). Every case is built from an explicit seed, so a failure is reproducible from the
(seed, index) the report names.

What is mutated (one or more at a time), starting from a valid upload:

* **meta fields**: NaN / ±Inf / denormal / huge / negative numbers, wrong JSON types, missing and
  extra fields, values a hair outside Table I's grids, very long or odd-unicode prompts, a tiny
  downlink rate;
* **the condition part**: empty, random bytes, a truncated JPEG, a decompression bomb (a PNG whose
  header claims a giant image), a huge declared size;
* **the framing**: wrong or near-miss content types, a missing or wrong boundary, truncated bodies,
  duplicated or missing parts, unquoted part names, a Content-Length that lies;
* **the route**: unknown paths and methods, odd ids.

The runner sends each batch of hostile requests *together with one valid slot-mate*, so it checks
the server's promise: nothing malformed gets a 5xx, and a bad request never harms its slot-mates.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

logger = logging.getLogger(__name__)

BOUNDARY = "mobigenfuzzboundary"


@dataclass(frozen=True)
class FuzzCase:
    """One HTTP request to send."""

    kind: str
    """Which mutation family made it (for the counts)."""
    method: str
    """HTTP method."""
    path: str
    """Request path (with query)."""
    headers: dict[str, str]
    """Request headers (Content-Type, and Content-Length when it is meant to lie)."""
    body: bytes
    """Raw request body."""
    raw: bool = False
    """Send over a plain socket exactly as given (lying Content-Length, upload cut off mid-way)."""


@dataclass
class FuzzReport:
    """Counts of one fuzz run."""

    requests: int = 0
    """Hostile requests sent."""
    by_class: Counter = field(default_factory=Counter)
    """Replies by status class ('2xx', '4xx', '5xx', 'transport' for a connection error or timeout)."""
    by_kind: dict[str, Counter] = field(default_factory=dict)
    """Status classes per mutation family."""
    server_errors: list[dict[str, Any]] = field(default_factory=list)
    """The first few 5xx / transport failures: kind, seed index, status, body excerpt."""
    mates_sent: int = 0
    """Valid slot-mates sent (one per batch)."""
    mates_served: int = 0
    """Valid slot-mates answered 200."""
    mate_failures: list[dict[str, Any]] = field(default_factory=list)
    """The first few slot-mates not answered 200."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "by_class": dict(self.by_class),
            "by_kind": {k: dict(v) for k, v in sorted(self.by_kind.items())},
            "server_errors": self.server_errors, "mates_sent": self.mates_sent,
            "mates_served": self.mates_served, "mate_failures": self.mate_failures,
        }


# ----------------------------------------------------------------------------- building blocks
def valid_meta(device: dict[str, float], seed: int = 1) -> dict[str, Any]:
    """A well-formed ``meta`` part (``device`` = {'f_flops', 'budget_flops'} of a real device type)."""
    return dict(prompt="a dog on the beach", condition="canny", alpha=0.25, beta=0.5, codec="jpeg",
                omega_I=0.5, qoe_threshold=0.6, device=dict(device), uplink_mbps=10.0, downlink_mbps=10.0, seed=seed)


def multipart_body(parts: list[tuple[str, bytes, str | None, str | None]], boundary: str = BOUNDARY) -> bytes:
    """A multipart/form-data body from (name, data, filename, content_type) parts."""
    out = b""
    for name, data, filename, ctype in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n".encode()
        if ctype:
            out += f"Content-Type: {ctype}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def _upload(meta: Any, condition: bytes | None, *, raw_meta: bytes | None = None) -> tuple[dict[str, str], bytes]:
    meta_bytes = raw_meta if raw_meta is not None else json.dumps(meta, allow_nan=True).encode()
    parts = [("meta", meta_bytes, None, "application/json")]
    if condition is not None:
        parts.append(("condition", condition, "condition.jpg", "image/jpeg"))
    return {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}, multipart_body(parts)


def png_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A tiny PNG whose header declares ``width × height`` pixels (a decompression bomb)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


_HOSTILE_NUMBERS: list[Any] = [float("nan"), float("inf"), float("-inf"), 5e-324, 1e-310, -0.0, 0.0, -1.0, 1e308,
                               1.0000000001, 0.9999999999, 1e-6, 2**63, -(2**63), 10**400, True, "1", None, [], {}]
_HOSTILE_STRINGS: list[Any] = ["", " ", "\x00", "\ud7ff" * 10, "é" * 5000, "x" * 1_000_001, "canny ", "CANNY",
                               "../../etc/passwd", 7, None, ["canny"], {"a": 1}]


class FuzzGenerator:
    """Seeded hostile requests for ``/v1/generate`` and friends."""

    FIELDS = ("prompt", "condition", "alpha", "beta", "codec", "omega_I", "qoe_threshold", "uplink_mbps",
              "downlink_mbps", "seed", "request_id", "extraction_s", "negative_prompt")

    def __init__(self, seed: int, device: dict[str, float], condition: bytes) -> None:
        self.rng = np.random.default_rng(seed)
        self.device = dict(device)
        self.condition = condition
        self._families: list[tuple[str, Callable[[], FuzzCase]]] = [
            ("meta_field", self._meta_field), ("device_field", self._device_field),
            ("meta_shape", self._meta_shape), ("condition_bytes", self._condition_bytes),
            ("framing", self._framing), ("route", self._route),
        ]

    def _pick(self, seq: list[Any]) -> Any:
        return seq[int(self.rng.integers(len(seq)))]

    def case(self) -> FuzzCase:
        kind, make = self._families[int(self.rng.integers(len(self._families)))]
        return make()

    def _post(self, kind: str, headers: dict[str, str], body: bytes, path: str = "/v1/generate") -> FuzzCase:
        return FuzzCase(kind, "POST", path, headers, body)

    # 1. meta fields: one to three fields get hostile values
    def _meta_field(self) -> FuzzCase:
        meta = valid_meta(self.device, seed=int(self.rng.integers(0, 1000)))
        for _ in range(int(self.rng.integers(1, 4))):
            name = self._pick(list(self.FIELDS))
            pool = _HOSTILE_STRINGS if name in ("prompt", "condition", "codec", "request_id", "negative_prompt") \
                else _HOSTILE_NUMBERS
            meta[name] = self._pick(pool)
        return self._post("meta_field", *_upload(meta, self.condition))

    # 2. the device profile: denormal speeds with zero budgets, and the like
    def _device_field(self) -> FuzzCase:
        meta = valid_meta(self.device)
        dev = dict(self.device)
        for name in self._pick([["f_flops"], ["budget_flops"], ["f_flops", "budget_flops"]]):
            dev[name] = self._pick(_HOSTILE_NUMBERS)
        meta["device"] = self._pick([dev, {}, [], None, "fast", {**dev, "extra": 1}])
        return self._post("device_field", *_upload(meta, self.condition))

    # 3. the meta document's shape: not JSON, not an object, missing/extra keys, deep nesting
    def _meta_shape(self) -> FuzzCase:
        meta = valid_meta(self.device)
        choice = int(self.rng.integers(6))
        if choice == 0:
            return self._post("meta_shape", *_upload(None, self.condition, raw_meta=b"{not json"))
        if choice == 1:
            return self._post("meta_shape", *_upload([meta], self.condition))
        if choice == 2:
            meta.pop(self._pick(list(meta)))
            return self._post("meta_shape", *_upload(meta, self.condition))
        if choice == 3:
            meta["unexpected"] = 1
            return self._post("meta_shape", *_upload(meta, self.condition))
        if choice == 4:
            return self._post("meta_shape", *_upload(None, self.condition, raw_meta=b"[" * 5000 + b"]" * 5000))
        return self._post("meta_shape", *_upload(None, self.condition, raw_meta=b"\xff\xfe\x00garbage"))

    # 4. the condition part: empty, random, truncated, a bomb, missing
    def _condition_bytes(self) -> FuzzCase:
        meta = valid_meta(self.device)
        choice = int(self.rng.integers(6))
        data: bytes | None
        if choice == 0:
            data = b""
        elif choice == 1:
            data = self.rng.integers(0, 256, int(self.rng.integers(1, 4096)), dtype=np.uint8).tobytes()
        elif choice == 2:
            data = self.condition[: max(1, len(self.condition) // int(self.rng.integers(2, 8)))]
        elif choice == 3:
            data = png_bomb()
        elif choice == 4:
            data = png_bomb(1, 1)[:30]
        else:
            data = None
        return self._post("condition_bytes", *_upload(meta, data))

    # 5. the framing: content types, boundaries, truncation, duplicate parts, unquoted names, lying lengths
    def _framing(self) -> FuzzCase:
        headers, body = _upload(valid_meta(self.device), self.condition)
        choice = int(self.rng.integers(9))
        if choice == 0:
            headers = {"content-type": self._pick(["multipart/form-datax; boundary=" + BOUNDARY, "application/json",
                                                   "text/plain", "multipart/mixed; boundary=" + BOUNDARY, ""])}
        elif choice == 1:
            headers = {"content-type": "multipart/form-data"}
        elif choice == 2:
            headers = {"content-type": "multipart/form-data; boundary=wrongboundary"}
        elif choice == 3:
            body = body[: int(self.rng.integers(0, len(body)))]
        elif choice == 4:
            meta_part = multipart_body([("meta", json.dumps(valid_meta(self.device)).encode(), None, None)])
            body = meta_part[: -len(f"--{BOUNDARY}--\r\n")] + body
        elif choice == 5:
            body = body.replace(b'name="meta"', b"name=meta")  # legal unquoted name: must still work
        elif choice == 6:
            body = body.replace(b"\r\n", b"\n")
        elif choice == 7:  # a Content-Length that lies (shorter), or an upload cut off before its declared end
            declared = len(body) + int(self.rng.integers(-len(body) + 1, len(body)))
            return FuzzCase("framing", "POST", "/v1/generate", {**headers, "content-length": str(declared)},
                            body[: min(len(body), declared)] if declared > len(body) else body, raw=True)
        else:
            body = body + self.rng.integers(0, 256, 512, dtype=np.uint8).tobytes()
        return self._post("framing", headers, body)

    # 6. routes: unknown paths, methods and ids
    def _route(self) -> FuzzCase:
        rid = self._pick(["x", "0" * 200, "%00", "..%2F..", "00000000-0000-0000-0000-000000000000"])
        method, path = self._pick([("GET", f"/v1/requests/{rid}"), ("POST", f"/v1/requests/{rid}/complete"),
                                   ("GET", f"/v1/requests/{rid}/image"), ("DELETE", "/v1/generate"),
                                   ("GET", "/v1/generate"), ("PUT", "/health"), ("GET", "/nope"),
                                   ("POST", "/metrics")])
        body = b"" if method == "GET" else self._pick([b"", b"{}", b"[1]", b'{"local_steps": -1}', b"\xff"])
        return FuzzCase("route", method, path, {"content-type": "application/json"}, body)


# ----------------------------------------------------------------------------- running
def _status_class(status: int) -> str:
    return f"{status // 100}xx"


async def _send_raw(base_url: str, case: FuzzCase, timeout_s: float) -> tuple[str, int, bytes]:
    """Write the request bytes as they are; a reply's status line is read, a cut-off upload is then closed."""
    from urllib.parse import urlsplit

    url = urlsplit(base_url)
    head = f"{case.method} {case.path} HTTP/1.1\r\nHost: {url.hostname}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in case.headers.items()) + "\r\n"
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(url.hostname, url.port), timeout_s)
        writer.write(head.encode("latin-1") + case.body)
        await writer.drain()
        declared = int(case.headers.get("content-length", len(case.body)))
        if declared > len(case.body):
            return "disconnect", 0, b""  # the client gives up mid-upload: the server must just count it
        line = await asyncio.wait_for(reader.readline(), timeout_s)
        parts = line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            return "transport", 0, line[:300]
        rest = await asyncio.wait_for(reader.read(300), timeout_s)
        return _status_class(int(parts[1])), int(parts[1]), rest
    except (OSError, asyncio.TimeoutError) as exc:
        return "transport", 0, repr(exc).encode()[:300]
    finally:
        if writer is not None:
            writer.close()


async def _send(client: Any, case: FuzzCase, timeout_s: float) -> tuple[str, int, bytes]:
    import httpx

    if case.raw:
        return await _send_raw(str(client.base_url), case, timeout_s)
    try:
        r = await client.request(case.method, case.path, headers=case.headers, content=case.body, timeout=timeout_s)
        return _status_class(r.status_code), r.status_code, r.content[:300]
    except (httpx.HTTPError, OSError) as exc:
        return "transport", 0, repr(exc).encode()[:300]


async def run_fuzz(base_url: str, *, requests: int, seed: int, device: dict[str, float], condition: bytes,
                   batch: int = 4, timeout_s: float = 30.0, max_examples_kept: int = 20,
                   progress: Callable[[int], None] | None = None) -> FuzzReport:
    """Send ``requests`` hostile requests in batches of ``batch``, each batch with one valid slot-mate."""
    import httpx

    gen = FuzzGenerator(seed, device, condition)
    report = FuzzReport()
    limits = httpx.Limits(max_connections=batch + 1)
    async with httpx.AsyncClient(base_url=base_url, limits=limits) as client:
        index = 0
        while index < requests:
            cases = [gen.case() for _ in range(min(batch, requests - index))]
            mate_headers, mate_body = _upload(valid_meta(device, seed=index), condition)
            mate = FuzzCase("slot_mate", "POST", "/v1/generate", mate_headers, mate_body)
            results = await asyncio.gather(*(_send(client, c, timeout_s) for c in [*cases, mate]))
            for i, (case, (cls, status, excerpt)) in enumerate(zip(cases, results[:-1])):
                report.requests += 1
                report.by_class[cls] += 1
                report.by_kind.setdefault(case.kind, Counter())[cls] += 1
                if cls in ("5xx", "transport") and len(report.server_errors) < max_examples_kept:
                    report.server_errors.append({"kind": case.kind, "seed": seed, "index": index + i,
                                                 "status": status, "body": excerpt.decode("utf-8", "replace")})
            report.mates_sent += 1
            cls, status, excerpt = results[-1]
            if status == 200:
                report.mates_served += 1
            elif len(report.mate_failures) < max_examples_kept:
                report.mate_failures.append({"index": index, "status": status,
                                             "body": excerpt.decode("utf-8", "replace")})
            index += len(cases)
            if progress is not None:
                progress(len(cases))
    return report


__all__ = ["FuzzCase", "FuzzGenerator", "FuzzReport", "multipart_body", "png_bomb", "run_fuzz", "valid_meta"]

"""A real, kernel-shaped network between the edge server and its clients (issue 12, point 6).

``NetnsLink`` makes two network namespaces (server side and client side) joined by a veth pair with
addresses in a private /30 that exist only inside those namespaces, and shapes each direction with
``tc tbf`` on the sending end: the client end's egress at B↑ (the uplink, eq. 2), the server end's
egress at B↓ (the downlink, eqs. 6-7). Processes run inside a namespace with ``ip netns exec``.
Where the kernel shapes the link, the applications must not pace as well: the client runs with
``shape_uplink=False`` (``mobigen client --no-shape``) and the server with ``shape_downlink=False``
(``mobigen serve --no-shape-downlink``); the in-app token bucket (``serving.shaping``) stays the
fallback where namespaces cannot be made.

Names carry this process's id (``mgnet-<pid>-<n>-s``/``-c``, veths ``mg<pid36><n36>s``/``c``), so
parallel runs never collide, and ``cleanup_stale`` removes leftovers whose process is gone. Every
external command runs with a timeout; ``NetnsLink`` always tears down on exit.

Measurement (``measure_cases``): an echo server (``serving.bandwidth_check.echo_app``, pacing off)
runs in the server namespace and a measuring client in the client namespace (both ``python -m
mobigen.serving.netns``). Uplink time = from sending a D-byte body to the complete 1-byte reply;
downlink time = from sending a 1-byte request to the last of D reply bytes; each is compared with
``system.transfer_time_s(D, B)`` = 8 D / B (eqs. 2, 6, 7). Both include one round trip and the
HTTP stack, and the kernel counts TCP/IP/Ethernet headers (about 4.5 % at a 1500-byte MTU) that the
model does not: the ratios report that honestly.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

PREFIX = "mgnet-"
"""Prefix of every namespace this module makes (``cleanup_stale`` only ever touches these)."""
VETH_PREFIX = "mg"
"""Prefix of the veth interface names (15 characters at most in all)."""
SERVER_ADDR = "10.213.0.1"
"""Server end of the veth pair (exists only inside the server namespace)."""
CLIENT_ADDR = "10.213.0.2"
"""Client end of the veth pair (exists only inside the client namespace)."""
PREFIX_LEN = 30
"""The private /30 of the pair."""
ECHO_PORT = 8765
"""Port of the echo server inside the server namespace (a namespace has its own port space)."""
CMD_TIMEOUT_S = 15.0
"""Timeout of each ``ip``/``tc`` command (s)."""
DEFAULT_BURST_BYTES = 3028
"""tbf bucket: two full Ethernet frames, the least that passes a full-size packet without a stall (bytes)."""
DEFAULT_LIMIT_BYTES = 4_000_000
"""tbf queue: large enough that TCP never sees a drop at these rates (bytes)."""
DEFAULT_SIZES: tuple[int, ...] = (6_000, 32_768, 65_536, 350_000)
"""Message sizes (bytes): the paper's VCE upload (≈ 6 KB), latent (≈ 33 KB) and image (≈ 350 KB), and 64 KB."""
DEFAULT_RATES: tuple[float, ...] = (5.0, 20.0)
"""Link rates (Mbps): both ends of Table I's bandwidth range."""

_counter = itertools.count()


class NetnsError(RuntimeError):
    """An ``ip``/``tc`` command failed or timed out; the message has the command and its stderr."""


def _run(argv: Sequence[str], *, timeout: float = CMD_TIMEOUT_S, check: bool = True) -> subprocess.CompletedProcess:
    try:
        cp = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise NetnsError(f"{' '.join(argv)}: timed out after {timeout:g} s") from None
    except OSError as exc:
        raise NetnsError(f"{' '.join(argv)}: {exc}") from None
    if check and cp.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: exit {cp.returncode}: {cp.stderr.strip()[-600:]}")
    return cp


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def list_namespaces() -> list[str]:
    """Names of the network namespaces ``ip netns`` knows."""
    cp = _run(["ip", "netns", "list"])
    return [line.split()[0] for line in cp.stdout.splitlines() if line.strip()]


def cleanup_stale(prefix: str = PREFIX) -> list[str]:
    """Delete namespaces named ``<prefix><pid>-...`` whose process is gone (and stray root-namespace veths of
    this module whose process is gone); return what was deleted. Other namespaces are never touched."""
    removed = []
    for ns in list_namespaces():
        if not ns.startswith(prefix):
            continue
        pid_text = ns[len(prefix):].split("-", 1)[0]
        if pid_text.isdigit() and not _alive(int(pid_text)) and int(pid_text) != os.getpid():
            _run(["ip", "netns", "del", ns], check=False)
            removed.append(ns)
    cp = _run(["ip", "-o", "link", "show", "type", "veth"], check=False)
    for line in cp.stdout.splitlines():
        parts = line.split(":")
        name = parts[1].strip().split("@")[0] if len(parts) > 1 else ""
        stem = name[len(VETH_PREFIX):-1] if name.startswith(VETH_PREFIX) and name[-1:] in ("s", "c") else ""
        if stem and "x" in stem:
            pid36 = stem.split("x", 1)[0]
            try:
                pid = int(pid36, 36)
            except ValueError:
                continue
            if not _alive(pid) and pid != os.getpid():
                _run(["ip", "link", "del", name], check=False)
                removed.append(name)
    if removed:
        logger.info("removed stale namespaces/links: %s", ", ".join(removed))
    return removed


def unavailable_reason() -> str | None:
    """Why kernel-shaped namespaces cannot be used here (None when they can): not root, no ``ip``/``tc``,
    or the kernel refuses to make a namespace, a veth pair or a tbf qdisc."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root (euid 0)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"`{tool}` (iproute2) is not installed"
    try:
        with NetnsLink() as link:
            link.shape(10.0, 10.0)
    except NetnsError as exc:
        return f"cannot make a shaped veth pair between namespaces: {exc}"
    return None


def tbf_args(rate_mbps: float, burst_bytes: int = DEFAULT_BURST_BYTES, limit_bytes: int = DEFAULT_LIMIT_BYTES) -> list[str]:
    """``tc qdisc`` arguments of a token bucket filter at ``rate_mbps`` (10^6 bit/s, the scenario's unit)."""
    if not 0 < rate_mbps <= 100_000:
        raise ValueError(f"field 'rate_mbps' must lie in (0, 100000], got {rate_mbps}")
    if burst_bytes < 1514:
        raise ValueError(f"field 'burst_bytes' must be >= 1514 (one Ethernet frame), got {burst_bytes}")
    return ["tbf", "rate", f"{int(round(rate_mbps * 1e6))}bit", "burst", str(int(burst_bytes)),
            "limit", str(int(limit_bytes))]


class NetnsLink:
    """Two namespaces joined by a veth pair; ``shape`` sets B↑ and B↓. Use as a context manager."""

    def __init__(self, *, burst_bytes: int = DEFAULT_BURST_BYTES, limit_bytes: int = DEFAULT_LIMIT_BYTES) -> None:
        n = next(_counter)
        pid = os.getpid()
        self.server_ns = f"{PREFIX}{pid}-{n}-s"
        self.client_ns = f"{PREFIX}{pid}-{n}-c"
        stem = f"{VETH_PREFIX}{_b36(pid)}x{_b36(n)}"
        if len(stem) + 1 > 15:
            raise NetnsError(f"interface name {stem}s is longer than 15 characters")
        self.server_dev, self.client_dev = stem + "s", stem + "c"
        self.burst_bytes, self.limit_bytes = burst_bytes, limit_bytes
        self.uplink_mbps: float | None = None
        self.downlink_mbps: float | None = None
        self._procs: list[subprocess.Popen] = []
        self._up = False

    # ---- lifecycle ------------------------------------------------------------------------------
    def up(self) -> "NetnsLink":
        """Create both namespaces, the veth pair and the /30 addresses; bring everything up."""
        try:
            cleanup_stale()
            _run(["ip", "netns", "add", self.server_ns])
            _run(["ip", "netns", "add", self.client_ns])
            self._up = True
            _run(["ip", "link", "add", self.server_dev, "type", "veth", "peer", "name", self.client_dev])
            _run(["ip", "link", "set", self.server_dev, "netns", self.server_ns])
            _run(["ip", "link", "set", self.client_dev, "netns", self.client_ns])
            for ns, dev, addr in ((self.server_ns, self.server_dev, SERVER_ADDR),
                                  (self.client_ns, self.client_dev, CLIENT_ADDR)):
                _run(["ip", "-n", ns, "addr", "add", f"{addr}/{PREFIX_LEN}", "dev", dev])
                _run(["ip", "-n", ns, "link", "set", dev, "up"])
                _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        """Stop every process started in the namespaces, then delete both (the veth pair goes with them)."""
        for p in self._procs:
            stop_process(p)
        self._procs.clear()
        if self._up or self.server_ns in _safe_list():
            for ns in (self.server_ns, self.client_ns):
                _run(["ip", "netns", "del", ns], check=False)
            _run(["ip", "link", "del", self.server_dev], check=False)  # only if it never left the root namespace
            self._up = False

    def __enter__(self) -> "NetnsLink":
        return self.up()

    def __exit__(self, *exc: Any) -> None:
        self.down()

    # ---- shaping --------------------------------------------------------------------------------
    def shape(self, uplink_mbps: float, downlink_mbps: float) -> None:
        """tbf on the client end's egress at B↑ and on the server end's egress at B↓ (replacing any)."""
        _run(["ip", "netns", "exec", self.client_ns, "tc", "qdisc", "replace", "dev", self.client_dev, "root",
              *tbf_args(uplink_mbps, self.burst_bytes, self.limit_bytes)])
        _run(["ip", "netns", "exec", self.server_ns, "tc", "qdisc", "replace", "dev", self.server_dev, "root",
              *tbf_args(downlink_mbps, self.burst_bytes, self.limit_bytes)])
        self.uplink_mbps, self.downlink_mbps = float(uplink_mbps), float(downlink_mbps)

    def unshape(self) -> None:
        """Remove both qdiscs (the veth then runs at memory speed)."""
        for ns, dev in ((self.client_ns, self.client_dev), (self.server_ns, self.server_dev)):
            _run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", dev, "root"], check=False)
        self.uplink_mbps = self.downlink_mbps = None

    # ---- processes ------------------------------------------------------------------------------
    def argv(self, side: str, argv: Sequence[str]) -> list[str]:
        """``argv`` wrapped to run inside the 'server' or 'client' namespace."""
        ns = {"server": self.server_ns, "client": self.client_ns}.get(side)
        if ns is None:
            raise ValueError(f"field 'side' must be 'server' or 'client', got {side!r}")
        return ["ip", "netns", "exec", ns, *argv]

    def popen(self, side: str, argv: Sequence[str], **kw: Any) -> subprocess.Popen:
        """Start ``argv`` in a namespace; ``down`` stops it."""
        p = subprocess.Popen(self.argv(side, argv), **kw)
        self._procs.append(p)
        return p

    def run(self, side: str, argv: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess:
        """Run ``argv`` in a namespace to completion (``NetnsError`` on a timeout or a non-zero exit)."""
        return _run(self.argv(side, argv), timeout=timeout)


def _safe_list() -> list[str]:
    try:
        return list_namespaces()
    except NetnsError:
        return []


def stop_process(p: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout_s``; reap it."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5.0)
    for f in (p.stdout, p.stderr, p.stdin):
        if f is not None:
            f.close()


def wait_for_line(p: subprocess.Popen, log_path: str, needle: str, timeout_s: float) -> None:
    """Wait until ``p``'s log file (its stdout and stderr) holds ``needle`` (``NetnsError`` on exit or timeout)."""
    t_end = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < t_end:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        if needle in text:
            return
        if p.poll() is not None:
            raise NetnsError(f"the process exited ({p.returncode}) before '{needle}': {text[-500:]}")
        time.sleep(0.1)
    raise NetnsError(f"no '{needle}' within {timeout_s:g} s: {text[-500:]}")


def start_logged(link: NetnsLink, side: str, argv: Sequence[str], log_path: str, needle: str,
                 timeout_s: float) -> subprocess.Popen:
    """Start ``argv`` in a namespace with its output in ``log_path``; return once the log shows ``needle``."""
    with open(log_path, "w", encoding="utf-8") as log:
        p = link.popen(side, argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    wait_for_line(p, log_path, needle, timeout_s)
    return p


# --------------------------------------------------------------------------------------------
# measurement
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferRow:
    """One measured case on the kernel-shaped link."""

    uplink_mbps: float
    """B↑ the client end was shaped to (Mbps)."""
    downlink_mbps: float
    """B↓ the server end was shaped to (Mbps)."""
    bytes: int
    """D, the message size (bytes of HTTP body)."""
    uplink_s: float
    """Median measured upload time of D bytes (s)."""
    downlink_s: float
    """Median measured download time of D bytes (s)."""
    uplink_min_s: float
    """Fastest measured upload (s): CPU contention only ever adds time, the link never goes faster than B."""
    downlink_min_s: float
    """Fastest measured download (s)."""
    uplink_model_s: float
    """8 D / B↑, eq. (2)'s transfer term (s)."""
    downlink_model_s: float
    """8 D / B↓, eqs. (6)/(7)'s transfer term (s)."""
    repeats: int
    """Measurements per direction (after one warm-up)."""

    @property
    def uplink_ratio(self) -> float:
        return self.uplink_s / self.uplink_model_s

    @property
    def downlink_ratio(self) -> float:
        return self.downlink_s / self.downlink_model_s

    @property
    def uplink_min_ratio(self) -> float:
        return self.uplink_min_s / self.uplink_model_s

    @property
    def downlink_min_ratio(self) -> float:
        return self.downlink_min_s / self.downlink_model_s

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return {**asdict(self), "uplink_ratio": self.uplink_ratio, "downlink_ratio": self.downlink_ratio,
                "uplink_min_ratio": self.uplink_min_ratio, "downlink_min_ratio": self.downlink_min_ratio}


@dataclass(frozen=True)
class LiveRow:
    """One request of the real edge server and ``MobileClient`` over the kernel-shaped link."""

    uplink_mbps: float
    """B↑ of the link and of the request (Mbps)."""
    downlink_mbps: float
    """B↓ of the link and of the request (Mbps)."""
    request: int
    """Index of the request on the client's connection (0 = the first, TCP slow start included)."""
    payload_kind: str
    """'latent' (o_k < 1, eq. 6) or 'image' (o_k = 1, eq. 7)."""
    T: int
    """T_k of the decision (steps)."""
    edge_steps: int
    """⌊o_k T_k⌋ (steps)."""
    uplink_bytes: int
    """The whole upload on the wire: condition + metadata + multipart framing (bytes)."""
    condition_bytes: int
    """D(I_k(ν_k)) (bytes)."""
    downlink_bytes: int
    """The whole reply: framing + wire payload (bytes)."""
    uplink_s: float
    """Measured by the client: first reply byte minus the server's own time, minus the upload start (s)."""
    downlink_s: float
    """Measured by the client: first to last reply byte (s)."""
    server_model_uplink_s: float
    """The server's eq. (2) term D(I_k(ν_k)) / B↑ (condition bytes alone) (s)."""
    server_model_downlink_s: float
    """The server's eq. (6)/(7) term with the scenario's D(z) or D(x₀) (s)."""

    @property
    def uplink_model_s(self) -> float:
        """8 D / B↑ with D the whole upload (s)."""
        return 8 * self.uplink_bytes / (self.uplink_mbps * 1e6)

    @property
    def downlink_model_s(self) -> float:
        """8 D / B↓ with D the whole reply (s)."""
        return 8 * self.downlink_bytes / (self.downlink_mbps * 1e6)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return {**asdict(self), "uplink_model_s": self.uplink_model_s, "downlink_model_s": self.downlink_model_s,
                "uplink_ratio": self.uplink_s / self.uplink_model_s,
                "downlink_ratio": self.downlink_s / self.downlink_model_s}


EDGE_PORT = 8000
"""Port of ``mobigen serve`` inside the server namespace."""


def start_edge_server(link: NetnsLink, scenario: str, log_path: str, *, image_size: int = 512,
                      controller: str = "exact", timeout_s: float = 240.0) -> subprocess.Popen:
    """``mobigen serve`` (tiny components, K = 1, no in-app downlink pacing) in the server namespace."""
    argv = [sys.executable, "-m", "mobigen.cli", "serve", "--host", SERVER_ADDR, "--port", str(EDGE_PORT),
            "--no-shape-downlink", "--components", "tiny", "--image-size", str(image_size), "--max-users", "1",
            "--slot-ms", "10", "--scenario", scenario, "--controller", controller]
    return start_logged(link, "server", argv, log_path, "Application startup complete", timeout_s)


def measure_live(link: NetnsLink, rates: Iterable[tuple[float, float]], scenario: str, *, requests: int = 2,
                 timeout_s: float = 300.0) -> list[LiveRow]:
    """For each (B↑, B↓): shape the link, then run ``requests`` requests of a ``MobileClient`` (no in-app
    uplink pacing) from the client namespace against the edge server (``start_edge_server``)."""
    rows = []
    for up, down in rates:
        link.shape(up, down)
        cp = link.run("client", _python_m("live-client", "--url", f"http://{SERVER_ADDR}:{EDGE_PORT}",
                                          "--uplink-mbps", str(up), "--downlink-mbps", str(down), "--requests",
                                          str(requests), "--scenario", scenario), timeout=timeout_s)
        rows += [LiveRow(**r) for r in json.loads(cp.stdout.strip().splitlines()[-1])]
    return rows


LIVE_DEVICE_TYPE = 2
"""Device type of the live client: Table I's largest budget (C_k = C_E/5), so the device can run steps itself."""


def _live_client_here(url: str, up: float, down: float, requests: int, scenario: str,
                      device_type: int = LIVE_DEVICE_TYPE) -> list[dict]:
    """(Inside the client namespace.) ``requests`` requests of one device; a row per request."""
    import numpy as np

    from mobigen.serving.client import MobileClient

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:512, 0:512]
    img = np.stack([(127 + 120 * np.sin(xx / (9 + 3 * c) + yy / 17.0)) for c in range(3)], -1)
    img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)  # textured: a real canny map
    rows = []
    with MobileClient(url, scenario=scenario, device_type=device_type, uplink_mbps=up, downlink_mbps=down,
                      shape_uplink=False) as client:
        t_end = time.monotonic() + 60
        while True:
            try:
                client.health()
                break
            except Exception:  # noqa: BLE001 - the server may still be binding
                if time.monotonic() > t_end:
                    raise
                time.sleep(0.2)
        prepared = client.prepare(img, omega_I=0.5, qoe_threshold=0.3, condition="canny", alpha=1.0, beta=0.5)
        for k in range(requests):
            r = client.run(prepared, prompt="a textured wall", omega_I=0.5, qoe_threshold=0.3, seed=k)
            m = r.server["model"]
            rows.append(dict(uplink_mbps=up, downlink_mbps=down, request=k, payload_kind=r.payload_kind, T=r.decision["T"],
                             edge_steps=r.decision["edge_steps"], uplink_bytes=r.uplink_bytes,
                             condition_bytes=r.condition_bytes, downlink_bytes=r.downlink_bytes, uplink_s=r.uplink_s,
                             downlink_s=r.downlink_s, server_model_uplink_s=m["uplink_s"],
                             server_model_downlink_s=m["downlink_s"]))
    return rows


def _python_m(*args: str) -> list[str]:
    return [sys.executable, "-m", "mobigen.serving.netns", *args]


def start_echo_server(link: NetnsLink, log_path: str, timeout_s: float = 60.0) -> subprocess.Popen:
    """The unpaced echo app in the server namespace, on SERVER_ADDR:ECHO_PORT, once it accepts connections."""
    return start_logged(link, "server", _python_m("echo-server", "--host", SERVER_ADDR, "--port", str(ECHO_PORT)),
                        log_path, "ready", timeout_s)


def measure_cases(link: NetnsLink, rates: Iterable[tuple[float, float]], sizes: Sequence[int], *,
                  repeats: int = 3, timeout_s: float = 120.0) -> list[TransferRow]:
    """For each (B↑, B↓): shape the link, then measure every size from the client namespace."""
    from mobigen.system import transfer_time_s

    rows = []
    for up, down in rates:
        link.shape(up, down)
        cp = link.run("client", _python_m("measure", "--url", f"http://{SERVER_ADDR}:{ECHO_PORT}", "--repeats",
                                          str(repeats), "--sizes", *map(str, sizes)), timeout=timeout_s)
        got = json.loads(cp.stdout.strip().splitlines()[-1])
        for n in sizes:
            m = got[str(n)]
            rows.append(TransferRow(up, down, n, m["uplink_s"], m["downlink_s"], m["uplink_min_s"],
                                    m["downlink_min_s"], float(transfer_time_s(n, up * 1e6)),
                                    float(transfer_time_s(n, down * 1e6)), repeats))
    return rows


def _measure_here(url: str, sizes: Sequence[int], repeats: int) -> dict:
    """(Inside the client namespace.) Median upload and download times per size, after a warm-up each."""
    import statistics

    import httpx

    out: dict[str, dict] = {}
    with httpx.Client(timeout=60.0) as c:
        t_end = time.monotonic() + 30
        while True:  # connect first: connection set-up is not bandwidth
            try:
                c.get(f"{url}/ping")
                break
            except httpx.TransportError:
                if time.monotonic() > t_end:
                    raise
                time.sleep(0.1)
        for n in sizes:
            ups, downs = [], []
            body = b"\xa5" * n
            for i in range(repeats + 1):
                t0 = time.perf_counter()
                r = c.post(f"{url}/xfer", params={"n": 1, "mbps": 0}, content=body)
                t1 = time.perf_counter()
                r2 = c.post(f"{url}/xfer", params={"n": n, "mbps": 0}, content=b"x")
                t2 = time.perf_counter()
                if r.status_code != 200 or r2.status_code != 200 or len(r2.content) != n:
                    raise RuntimeError(f"echo server answered {r.status_code}/{r2.status_code}, {len(r2.content)} bytes")
                if i:  # the first round warms the connection's congestion window
                    ups.append(t1 - t0)
                    downs.append(t2 - t1)
            out[str(n)] = {"uplink_s": statistics.median(ups), "downlink_s": statistics.median(downs),
                           "uplink_min_s": min(ups), "downlink_min_s": min(downs)}
    return out


def _echo_server_here(host: str, port: int) -> None:
    """(Inside the server namespace.) The echo app, unpaced (mbps=0), until SIGTERM."""
    import signal

    from mobigen.serving.bandwidth_check import echo_app
    from mobigen.serving.server import ServerThread

    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    with ServerThread(echo_app(), host=host, port=port):
        print("ready", flush=True)
        while not stop:
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    """``python -m mobigen.serving.netns echo-server|measure``: the two halves run inside the namespaces."""
    p = argparse.ArgumentParser(prog="python -m mobigen.serving.netns")
    sub = p.add_subparsers(dest="what", required=True)
    e = sub.add_parser("echo-server")
    e.add_argument("--host", required=True)
    e.add_argument("--port", type=int, required=True)
    m = sub.add_parser("measure")
    m.add_argument("--url", required=True)
    m.add_argument("--sizes", type=int, nargs="+", required=True)
    m.add_argument("--repeats", type=int, default=3)
    c = sub.add_parser("live-client")
    c.add_argument("--url", required=True)
    c.add_argument("--uplink-mbps", type=float, required=True)
    c.add_argument("--downlink-mbps", type=float, required=True)
    c.add_argument("--requests", type=int, default=2)
    c.add_argument("--scenario", required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.what == "echo-server":
        _echo_server_here(args.host, args.port)
    elif args.what == "measure":
        print(json.dumps(_measure_here(args.url, args.sizes, max(1, args.repeats))))
    else:
        print(json.dumps(_live_client_here(args.url, args.uplink_mbps, args.downlink_mbps, max(1, args.requests),
                                           args.scenario)))
    return 0


__all__ = ["CLIENT_ADDR", "DEFAULT_RATES", "DEFAULT_SIZES", "LiveRow", "NetnsError", "NetnsLink", "SERVER_ADDR",
           "TransferRow", "cleanup_stale", "list_namespaces", "measure_cases", "measure_live", "start_echo_server",
           "start_edge_server", "start_logged", "stop_process", "tbf_args", "unavailable_reason", "wait_for_line"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

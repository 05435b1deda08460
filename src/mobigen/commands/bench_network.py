"""`mobigen bench network`: transfers over a kernel-shaped veth link between two network namespaces
(``tc tbf`` at B↑/B↓) against eqs. (2), (6), (7)'s 8 D / B; optionally the real edge server and client."""

from __future__ import annotations

import argparse

from mobigen.commands._common import add_json_option, check_json_path, text_stream, user_errors, write_json

HELP = ("a real network: two network namespaces joined by a veth pair shaped by tc at B↑/B↓; measured transfer "
        "time over eq. (2)/(6)/(7)'s D / B, as ratios (needs root and iproute2)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mobigen.serving.netns import DEFAULT_RATES, DEFAULT_SIZES

    parser.add_argument("--rates", type=float, nargs="+", default=list(DEFAULT_RATES),
                        help="link rates B↑ = B↓ to measure (Mbps)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="message sizes D (bytes)")
    parser.add_argument("--repeats", type=int, default=5, help="measurements per case and direction (median)")
    parser.add_argument("--live", action="store_true",
                        help="also run `mobigen serve` (tiny components, 512 px, T in 2..4) in the server namespace and "
                             "a MobileClient in the client namespace, neither pacing in the app")
    parser.add_argument("--live-requests", type=int, default=3, help="requests per rate with --live (the first warms "
                        "the connection and is reported apart)")
    add_json_option(parser)


def _summary(ratios: list[float]) -> str:
    if not ratios:
        return "-"
    return f"{min(ratios):.3f}..{max(ratios):.3f}"


def run(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from mobigen.errors import UserError
    from mobigen.serving import netns

    with user_errors():
        check_json_path(args.json)
        for r in args.rates:
            netns.tbf_args(r)
        if any(n < 1 or n > 50_000_000 for n in args.sizes):
            raise ValueError(f"--sizes must lie in 1..50000000 bytes, got {args.sizes}")
        if not 1 <= args.repeats <= 100 or not 1 <= args.live_requests <= 50:
            raise ValueError("--repeats must lie in 1..100 and --live-requests in 1..50")
    reason = netns.unavailable_reason()
    if reason:
        raise UserError(f"cannot build the namespaced network: {reason}")
    out = text_stream(args.json)
    rates = [(r, r) for r in args.rates]
    result: dict = {"link": {"qdisc": "tbf", "burst_bytes": netns.DEFAULT_BURST_BYTES,
                             "limit_bytes": netns.DEFAULT_LIMIT_BYTES, "server_addr": netns.SERVER_ADDR,
                             "client_addr": netns.CLIENT_ADDR}}
    with tempfile.TemporaryDirectory(prefix="mobigen-net-") as tmp, netns.NetnsLink() as link:
        netns.start_echo_server(link, str(Path(tmp) / "echo.log"))
        rows = netns.measure_cases(link, rates, args.sizes, repeats=args.repeats)
        result["transfers"] = [r.to_dict() for r in rows]
        print(f"kernel-shaped transfers (tbf; {args.repeats} runs: median, and fastest in brackets) vs 8 D / B "
              "(eqs. 2, 6, 7):", file=out)
        print(f"{'Mbps':>6} {'bytes':>9} {'model s':>8} {'up s':>8} {'up/model':>16} {'down s':>8} {'down/model':>16}",
              file=out)
        for r in rows:
            print(f"{r.uplink_mbps:>6.1f} {r.bytes:>9} {r.uplink_model_s:>8.4f} {r.uplink_s:>8.4f} "
                  f"{r.uplink_ratio:>8.3f} ({r.uplink_min_ratio:.3f}) {r.downlink_s:>8.4f} "
                  f"{r.downlink_ratio:>8.3f} ({r.downlink_min_ratio:.3f})", file=out)
        big = [r for r in rows if r.bytes >= 32_768]
        med = [x for r in big for x in (r.uplink_ratio, r.downlink_ratio)]
        best = [x for r in big for x in (r.uplink_min_ratio, r.downlink_min_ratio)]
        print(f"ratios for messages >= 32 KB: median {_summary(med)}, fastest {_summary(best)} (target 0.90..1.10; "
              "the model counts no TCP/IP headers, ~4.5 % of a 1500-byte frame)", file=out)
        result["ratio_range_ge_32KB"] = {"median": [min(med), max(med)] if med else None,
                                         "fastest": [min(best), max(best)] if best else None}
        if args.live:
            result["live"] = _live(link, rates, args.live_requests, Path(tmp), out)
    write_json(result, args.json)
    return 0


def _live(link, rates, requests: int, tmp, out) -> list[dict]:  # noqa: ANN001
    from mobigen.scenario import dump_file, preset
    from mobigen.serving import netns

    scenario = str(tmp / "scenario.json")
    dump_file(preset("paper").replace(name="bench-network-small", steps_min=2, steps_max=4), scenario)
    edge = netns.start_edge_server(link, scenario, str(tmp / "edge.log"))
    try:
        rows = netns.measure_live(link, rates, scenario, requests=requests)
    finally:
        netns.stop_process(edge)
    print("\nlive: mobigen serve (server namespace) + MobileClient (client namespace), kernel shaping only:", file=out)
    print(f"{'Mbps':>6} {'#':>2} {'kind':>6} {'up B':>8} {'up s':>7} {'up/8D/B':>8} {'eq.2 s':>7} {'down B':>8} "
          f"{'down s':>7} {'dn/8D/B':>8} {'eq.6/7 s':>8}", file=out)
    for r in rows:
        d = r.to_dict()
        print(f"{r.uplink_mbps:>6.1f} {r.request:>2} {r.payload_kind:>6} {r.uplink_bytes:>8} {r.uplink_s:>7.3f} "
              f"{d['uplink_ratio']:>8.3f} {r.server_model_uplink_s:>7.3f} {r.downlink_bytes:>8} {r.downlink_s:>7.3f} "
              f"{d['downlink_ratio']:>8.3f} {r.server_model_downlink_s:>8.3f}", file=out)
    warm = [x for r in rows if r.request > 0 for x in (r.to_dict()["uplink_ratio"], r.to_dict()["downlink_ratio"])]
    print(f"live ratios after the first request of each connection: {_summary(warm)}; eq. 6/7's term uses the "
          "scenario's D(z)/D(x0), not the bytes sent", file=out)
    return [r.to_dict() for r in rows]

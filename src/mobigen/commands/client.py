"""`mobigen client`: one mobile request against an edge server (VCE, upload, local steps, report)."""

from __future__ import annotations

import argparse

from mobigen.commands._common import CODECS, CONDITIONS, add_json_option, check_json_path, text_stream, write_json

HELP = "send one generation request as a mobile device: VCE, upload, finish the local steps, save, report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", required=True, help="edge server URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--image", required=True, help="source image (any size; resized to 512x512)")
    parser.add_argument("--prompt", required=True, help="text prompt")
    parser.add_argument("--omega", type=float, required=True, help="ω^I in [0, 1]: preference for perceptual similarity")
    parser.add_argument("--qoe", type=float, required=True, help="Q̃ in [0, 1]: the QoE threshold")
    parser.add_argument("--device-type", type=int, default=0, help="device type index of the scenario (default 0)")
    parser.add_argument("--scenario", default="paper", help="scenario preset or file (device profiles, rates)")
    parser.add_argument("--uplink-mbps", type=float, default=None, help="B↑ (default: drawn from the scenario with --seed)")
    parser.add_argument("--downlink-mbps", type=float, default=None, help="B↓ (default: drawn from the scenario with --seed)")
    parser.add_argument("--seed", type=int, default=0, help="seed of z_T and of the bandwidth draw")
    parser.add_argument("--condition", default=None, choices=CONDITIONS,
                        help="skip VCE: use this condition type (needs --alpha, --beta)")
    parser.add_argument("--alpha", type=float, default=None, help="with --condition: resolution level α")
    parser.add_argument("--beta", type=float, default=None, help="with --condition: quality level β")
    parser.add_argument("--codec", default=None, choices=CODECS, help="with --condition: codec")
    parser.add_argument("--out", default=None, help="where to save the final image (PNG)")
    add_json_option(parser, help="also write the breakdown as JSON to PATH")
    parser.add_argument("--no-shape", action="store_true", help="do not pace the upload at B↑")
    parser.add_argument("--components", default=None,
                        help="this device's local weights directory (default: what the server announces: tiny or its path)")


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    import httpx

    from mobigen.commands._common import user_errors
    from mobigen.conditions.images import load_512
    from mobigen.errors import UserError
    from mobigen.serving.client import MobileClient, ReplyError, ServerError, format_breakdown

    for name, v in (("omega", args.omega), ("qoe", args.qoe)):
        if not 0.0 <= v <= 1.0:
            raise UserError(f"--{name} must lie in [0, 1], got {v}")
    if not Path(args.image).is_file():
        raise UserError(f"--image: {args.image} does not exist")
    check_json_path(args.out, "--out")  # the same checks as --json's: not a folder, and its folder exists
    check_json_path(args.json)
    with user_errors("--image"):
        rgb = load_512(args.image, convert=True)

    def fail(msg: str) -> int:
        print(f"mobigen client: {msg}", file=sys.stderr)
        return 1

    with user_errors():
        client = MobileClient(args.server, scenario=args.scenario, device_type=args.device_type,
                              uplink_mbps=args.uplink_mbps, downlink_mbps=args.downlink_mbps, seed=args.seed,
                              shape_uplink=not args.no_shape, components=args.components)
    with client:
        with user_errors():
            prepared = client.prepare(rgb, omega_I=args.omega, qoe_threshold=args.qoe, condition=args.condition,
                                      alpha=args.alpha, beta=args.beta, codec_name=args.codec)
        try:
            result = client.run(prepared, prompt=args.prompt, omega_I=args.omega, qoe_threshold=args.qoe,
                                seed=args.seed, out_path=args.out)
        except ReplyError as exc:
            return fail(f"bad reply from {args.server}: {exc.detail}")
        except ServerError as exc:
            return fail(f"server refused the request: {exc}")
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise UserError(f"--server: cannot reach {args.server}: {type(exc).__name__}: {exc}") from None
        except httpx.HTTPError as exc:
            return fail(f"the connection to {args.server} failed: {type(exc).__name__}: {exc}")
    text = text_stream(args.json)
    if prepared.vce_backend:
        print(f"VCE expected q^I={prepared.vce_expected_q[0]:.3f} q^T={prepared.vce_expected_q[1]:.3f} "
              f"({prepared.vce_backend} quality model)", file=text)
    print(format_breakdown(result), file=text)
    write_json(result.to_row(), args.json)
    if result.completion and result.completion.get("status") == "unconfirmed":
        saved = f"the image was saved to {result.image_path}, but " if result.image_path else ""
        return fail(f"{saved}the completion call failed: {result.completion.get('detail', '')}")
    return 0

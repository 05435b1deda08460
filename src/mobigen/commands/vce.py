"""`mobigen vce`: engineer one visual condition on the device (Sec. IV-B, Algorithms 1-2).

Loads the image, runs VCE (shipped profile + surrogate quality model unless --profile is given),
extracts the chosen condition, encodes it at (α, β, codec) and writes the engineered condition
file. --condition/--alpha/--beta/--codec override VCE's choice (for experiments).

The output file is what its name says. VCE picks the codec (JPEG, PNG or WebP) per configuration, so
when ``--out`` ends in an image suffix of another codec (e.g. ``cond.jpg`` while VCE chose WebP) the
suffix is replaced by the chosen codec's (``cond.webp``) and a note on stderr says so; the JSON's
``out`` is the path actually written (``requested_out`` the one asked for). Pass ``--codec jpeg`` to
get a JPEG whatever VCE prefers. A suffix that names no image format (``.bin``, none) is kept. An
existing folder as ``--out`` receives the default file name.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

HELP = "choose (condition, alpha, beta) for one request with Algorithms 1-2 and write the engineered condition"

_EXT = {"jpeg": "jpg", "png": "png", "webp": "webp"}
"""Codec -> file suffix written by default."""
_SUFFIX_CODEC = {".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg", ".jfif": "jpeg", ".png": "png", ".webp": "webp",
                 ".gif": None, ".bmp": None, ".tif": None, ".tiff": None, ".avif": None, ".heic": None}
"""Image suffixes (lower case) -> the codec they name (None: a format we never write)."""


def output_path(out: str | None, image: str, condition: str, codec: str) -> tuple[Path, bool]:
    """The file to write and whether its suffix was changed to match ``codec`` (module docstring)."""
    default_name = f"{Path(image).stem}_{condition}.{_EXT[codec]}"
    if out is None:
        return Path(default_name), False
    path = Path(out)
    if path.is_dir():
        return path / default_name, False
    suffix = path.suffix.lower()
    if suffix in _SUFFIX_CODEC and _SUFFIX_CODEC[suffix] != codec:
        return path.with_suffix(f".{_EXT[codec]}"), True
    return path, False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, help="source image file")
    parser.add_argument("--prompt", required=True, help="text prompt (sent with the condition; VCE does not use it)")
    parser.add_argument("--omega", type=float, required=True, help="ω^I in [0, 1], preference for perceptual similarity")
    parser.add_argument("--qoe", type=float, required=True, help="QoE threshold Q̃ in [0, 1]")
    parser.add_argument("--uplink-mbps", type=float, default=None, help="uplink bandwidth B↑ (Mbps); default mid-range of the scenario")
    parser.add_argument("--device-type", type=int, default=0, help="device type index of the scenario (f_k); default 0")
    parser.add_argument("--scenario", default="paper", help="scenario preset or file (default: paper)")
    parser.add_argument("--profile", default=None, help="profile table CSV (default: the shipped profile)")
    parser.add_argument("--out", default=None,
                        help="output file or folder (default: <image stem>_<condition>.<ext> here); an image suffix "
                             "that does not match the chosen codec is replaced by the codec's (see --codec)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--condition", default=None, help="override λ (canny, hed, depth, seg)")
    parser.add_argument("--alpha", type=float, default=None, help="override α (Table I level)")
    parser.add_argument("--beta", type=float, default=None, help="override β (Table I level)")
    parser.add_argument("--codec", default=None, help="override the codec (jpeg, png, webp)")


def run(args: argparse.Namespace) -> int:
    from mobigen.conditions.config_table import config_table, level_index
    from mobigen.conditions.quality_surrogate import SurrogateQuality
    from mobigen.conditions.vce import VCE, load_default_vce
    from mobigen.scenario import CONDITIONS, resolve
    from mobigen.system.profile import ProfileTable

    # --- validate the plain values first (one-line errors naming the field) ---
    if not (0.0 <= args.omega <= 1.0):
        raise ValueError(f"--omega: must be in [0, 1], got {args.omega!r}")
    if not (0.0 <= args.qoe <= 1.0):
        raise ValueError(f"--qoe: must be in [0, 1], got {args.qoe!r}")
    sc = resolve(args.scenario)
    if args.alpha is not None:
        level_index(tuple(sc.alphas), args.alpha, "--alpha")
    if args.beta is not None:
        level_index(tuple(sc.betas), args.beta, "--beta")
    if args.condition is not None and args.condition not in sc.conditions:
        raise ValueError(f"--condition: must be one of {list(sc.conditions)}, got {args.condition!r}")
    up_mbps = 0.5 * sum(sc.uplink_mbps_range) if args.uplink_mbps is None else args.uplink_mbps
    if not (up_mbps > 0 and math.isfinite(up_mbps)):
        raise ValueError(f"--uplink-mbps: must be a finite number > 0, got {up_mbps!r}")
    n_types = len(sc.device_compute_ratios)
    if not 0 <= args.device_type < n_types:
        raise ValueError(f"--device-type: must be in 0..{n_types - 1}, got {args.device_type}")
    from mobigen.conditions.codec import CODECS

    if args.codec is not None and args.codec not in CODECS:
        raise ValueError(f"--codec: must be one of {list(CODECS)}, got {args.codec!r}")

    # --- the image (safe loader: corrupt / truncated / bombs -> ImageError, a ValueError) ---
    from mobigen.conditions.images import load_512

    rgb = load_512(args.image, convert=True)

    # --- VCE ---
    if args.profile is not None:
        table = config_table(ProfileTable.load(args.profile))
        vce = VCE(table, SurrogateQuality(table=table), sc)
    else:
        vce = load_default_vce(sc)
    f_device = sc.device_compute_ratios[args.device_type] * sc.f_edge
    t0 = time.perf_counter()
    choice = vce.choose(args.omega, args.qoe, up_mbps * 1e6, f_device)
    decide_s = time.perf_counter() - t0
    overridden = any(v is not None for v in (args.condition, args.alpha, args.beta, args.codec))
    if overridden:
        choice = vce.evaluate(args.condition or choice.condition, choice.alpha if args.alpha is None else args.alpha,
                              choice.beta if args.beta is None else args.beta, args.omega, args.qoe,
                              up_mbps * 1e6, f_device, codec=args.codec)
    cond, alpha, beta, codec = choice.condition, choice.alpha, choice.beta, choice.codec
    q_I, q_T = choice.q_I, choice.q_T

    # --- where to write (checked before the extraction, which may take seconds) ---
    out, renamed = output_path(args.out, args.image, cond, codec)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out: cannot create folder '{out.parent}' ({exc.strerror or exc})") from None
    if renamed:
        print(f"note: the condition is encoded as {codec}; writing {out} instead of {args.out} so that its name "
              f"says what it is (--codec forces a codec)", file=sys.stderr)

    # --- extract, encode, write ---
    from mobigen.conditions import codec as codec_mod
    from mobigen.conditions.extractors import extract_labelled

    t0 = time.perf_counter()
    condition_img, extractor_backend = extract_labelled(cond, rgb)
    extract_s = time.perf_counter() - t0
    data = codec_mod.encode(condition_img, alpha, beta, codec)
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise ValueError(f"--out: cannot write '{out}' ({exc.strerror or exc})") from None

    result = {
        "condition": cond, "condition_index": CONDITIONS.index(cond), "alpha": alpha, "beta": beta, "codec": codec,
        "bytes": len(data), "expected_bytes": choice.expected_bytes,
        "q_I": q_I, "q_T": q_T, "qoe": args.omega * q_I + (1 - args.omega) * q_T,
        "quality_backend": vce.quality_backend, "reference_steps": vce.reference_steps,
        "feasible": bool(choice.feasible), "overridden": overridden,
        "extractor_backend": extractor_backend, "omega_I": args.omega, "qoe_threshold": args.qoe,
        "uplink_mbps": up_mbps, "device_type": args.device_type, "prompt": args.prompt, "image": str(args.image),
        "out": str(out), "requested_out": args.out, "decision_ms": 1e3 * decide_s, "extract_ms": 1e3 * extract_s,
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        qb = result["quality_backend"]
        print(f"condition {cond} (extractor: {extractor_backend}), alpha {alpha}, beta {beta}, codec {codec}")
        print(f"wrote {out}: {len(data)} bytes (profile mean for this configuration: {result['expected_bytes']:.0f} bytes)")
        print(f"expected q_I {q_I:.3f}, q_T {q_T:.3f}, QoE {result['qoe']:.3f} at T={vce.reference_steps} "
              f"[{qb} quality model]; threshold {args.qoe} {'met' if choice.feasible else 'NOT met'}"
              f"{' (VCE choice overridden)' if overridden else ''}")
        print(f"VCE decision {result['decision_ms']:.3f} ms, extraction {result['extract_ms']:.1f} ms")
    return 0

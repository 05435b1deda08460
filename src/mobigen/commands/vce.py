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
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from mobigen.commands._common import (CODECS, CONDITIONS, add_json_option, check_json_path, text_stream, user_errors,
                                      write_json)

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
    parser.add_argument("--device-type", type=int, default=0, help="device type index of the scenario (f_k)")
    parser.add_argument("--scenario", default="paper", help="scenario preset or file")
    parser.add_argument("--profile", default=None, help="profile table CSV (default: the shipped profile)")
    parser.add_argument("--out", default=None,
                        help="output file or folder (default: <image stem>_<condition>.<ext> here); an image suffix "
                             "that does not match the chosen codec is replaced by the codec's (see --codec)")
    add_json_option(parser, help="write the result as JSON to PATH (the text lines then go to stderr if PATH is '-')")
    parser.add_argument("--condition", default=None, choices=CONDITIONS, help="override λ")
    parser.add_argument("--alpha", type=float, default=None, help="override α (Table I level)")
    parser.add_argument("--beta", type=float, default=None, help="override β (Table I level)")
    parser.add_argument("--codec", default=None, choices=CODECS, help="override the codec")


def run(args: argparse.Namespace) -> int:
    with user_errors():  # 1. the flags, the scenario, the image, the profile and the output place
        sc, up_mbps = _validate(args)
        check_json_path(args.json)
        from mobigen.conditions.images import load_512  # safe loader: corrupt / truncated / bombs -> ImageError

        rgb = load_512(args.image, convert=True)
        if args.profile is not None:
            vce = _load_vce(args.profile, sc)
    if args.profile is None:
        vce = _load_vce(None, sc)
    choice, decide_s, overridden = _decide(vce, args, sc, up_mbps)  # 2. Algorithms 1-2 (or the override)
    with user_errors():
        out = _output_file(args, choice.condition, choice.codec)  # 3. where to write, before the extraction
    data, extractor_backend, extract_s = _extract_encode(choice, rgb)  # 4. extract and encode
    with user_errors():
        _write(out, data)
    result = _result(args, vce, choice, up_mbps, data, out, extractor_backend, overridden, decide_s, extract_s)
    _print_text(result, vce.reference_steps, choice.feasible, args.qoe, text_stream(args.json))
    write_json(result, args.json)
    return 0


def _validate(args: argparse.Namespace) -> tuple[Any, float]:
    """The plain values first (one-line errors naming the field); returns the scenario and B↑ in Mbps."""
    from mobigen.conditions.config_table import level_index
    from mobigen.scenario import resolve

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
    return sc, up_mbps


def _load_vce(profile: str | None, sc: Any) -> Any:
    """VCE on ``profile`` with the surrogate quality model, or the shipped default VCE."""
    from mobigen.conditions.vce import load_default_vce, surrogate_vce

    return load_default_vce(sc) if profile is None else surrogate_vce(sc, profile)


def _decide(vce: Any, args: argparse.Namespace, sc: Any, up_mbps: float) -> tuple[Any, float, bool]:
    """VCE's choice (timed), replaced by the evaluated override when --condition/--alpha/--beta/--codec is given."""
    f_device = sc.device_compute_ratios[args.device_type] * sc.f_edge
    t0 = time.perf_counter()
    choice = vce.choose(args.omega, args.qoe, up_mbps * 1e6, f_device)
    decide_s = time.perf_counter() - t0
    overridden = any(v is not None for v in (args.condition, args.alpha, args.beta, args.codec))
    if overridden:
        choice = vce.evaluate(args.condition or choice.condition, choice.alpha if args.alpha is None else args.alpha,
                              choice.beta if args.beta is None else args.beta, args.omega, args.qoe,
                              up_mbps * 1e6, f_device, codec=args.codec)
    return choice, decide_s, overridden


def _output_file(args: argparse.Namespace, condition: str, codec: str) -> Path:
    """The file to write (its folder created); a note on stderr when the suffix was changed to the codec's."""
    out, renamed = output_path(args.out, args.image, condition, codec)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out: cannot create folder '{out.parent}' ({exc.strerror or exc})") from None
    if renamed:
        print(f"note: the condition is encoded as {codec}; writing {out} instead of {args.out} so that its name "
              f"says what it is (--codec forces a codec)", file=sys.stderr)
    return out


def _extract_encode(choice: Any, rgb: Any) -> tuple[bytes, str, float]:
    """The chosen condition extracted (timed) and encoded at (α, β, codec); returns bytes, extractor, seconds."""
    from mobigen.conditions import codec as codec_mod
    from mobigen.conditions.extractors import extract_labelled

    t0 = time.perf_counter()
    condition_img, extractor_backend = extract_labelled(choice.condition, rgb)
    extract_s = time.perf_counter() - t0
    return codec_mod.encode(condition_img, choice.alpha, choice.beta, choice.codec), extractor_backend, extract_s


def _write(out: Path, data: bytes) -> None:
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise ValueError(f"--out: cannot write '{out}' ({exc.strerror or exc})") from None


def _result(args: argparse.Namespace, vce: Any, choice: Any, up_mbps: float, data: bytes, out: Path,
            extractor_backend: str, overridden: bool, decide_s: float, extract_s: float) -> dict[str, Any]:
    """The JSON-ready result."""
    from mobigen.scenario import CONDITIONS as ALL_CONDITIONS

    q_I, q_T = choice.q_I, choice.q_T
    return {
        "condition": choice.condition, "condition_index": ALL_CONDITIONS.index(choice.condition), "alpha": choice.alpha,
        "beta": choice.beta, "codec": choice.codec,
        "bytes": len(data), "expected_bytes": choice.expected_bytes,
        "q_I": q_I, "q_T": q_T, "qoe": args.omega * q_I + (1 - args.omega) * q_T,
        "quality_backend": vce.quality_backend, "reference_steps": vce.reference_steps,
        "feasible": bool(choice.feasible), "overridden": overridden,
        "extractor_backend": extractor_backend, "omega_I": args.omega, "qoe_threshold": args.qoe,
        "uplink_mbps": up_mbps, "device_type": args.device_type, "prompt": args.prompt, "image": str(args.image),
        "out": str(out), "requested_out": args.out, "decision_ms": 1e3 * decide_s, "extract_ms": 1e3 * extract_s,
    }


def _print_text(r: dict[str, Any], reference_steps: int, feasible: bool, qoe_threshold: float, stream: TextIO) -> None:
    qb = r["quality_backend"]
    lines = [f"condition {r['condition']} (extractor: {r['extractor_backend']}), alpha {r['alpha']}, beta {r['beta']}, "
             f"codec {r['codec']}",
             f"wrote {r['out']}: {r['bytes']} bytes (profile mean for this configuration: {r['expected_bytes']:.0f} bytes)",
             f"expected q_I {r['q_I']:.3f}, q_T {r['q_T']:.3f}, QoE {r['qoe']:.3f} at T={reference_steps} "
             f"[{qb} quality model]; threshold {qoe_threshold} {'met' if feasible else 'NOT met'}"
             f"{' (VCE choice overridden)' if r['overridden'] else ''}",
             f"VCE decision {r['decision_ms']:.3f} ms, extraction {r['extract_ms']:.1f} ms"]
    print("\n".join(lines), file=stream)

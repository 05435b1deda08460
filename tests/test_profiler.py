"""profile_dataset: real bytes and fidelity rows, bad files skipped and reported, determinism,
the `mobigen profile` command, and the shipped default profile table."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from mobigen.conditions import codec
from mobigen.conditions.fidelity import fidelity
from mobigen.conditions.profiler import DEFAULT_CODECS, profile_dataset
from mobigen.scenario import ALPHAS, BETAS, CONDITIONS
from mobigen.settings import dataset_dir, weights_dir
from mobigen.system.profile import TIMING_COLUMNS, ProfileTable, default_profile_path, table_paths

GRID = dict(alphas=(0.25, 1.0), betas=(0.2, 1.0))


def _synthetic(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((512, 512, 3), 30, np.uint8)
    for _ in range(12):
        x, y, r = (int(v) for v in rng.integers(20, 490, 3))
        colour = tuple(int(c) for c in rng.integers(60, 256, 3))
        cv2.circle(img, (x, y), r % 120 + 10, colour, -1)
    return img


def _bomb_png() -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 200_000, 200_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 8)) + chunk(b"IEND", b"")


BAD = ("bad/bomb.png", "bad/corrupt.jpg", "bad/deep16.png", "bad/palette.png", "bad/rgba.png", "bad/truncated.jpg")


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    (root / "good").mkdir(parents=True)
    (root / "bad").mkdir()
    for i in range(3):
        Image.fromarray(_synthetic(i)).save(root / "good" / f"{i:02d}.jpg", quality=90)
    (root / "bad" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg" * 20)
    buf = io.BytesIO()
    Image.fromarray(_synthetic(9)).save(buf, format="JPEG", quality=90)
    (root / "bad" / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    Image.fromarray((np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)).save(root / "bad" / "deep16.png")
    Image.fromarray(np.zeros((64, 64, 4), np.uint8), mode="RGBA").save(root / "bad" / "rgba.png")
    Image.fromarray(_synthetic(5)).convert("P", palette=Image.Palette.ADAPTIVE).save(root / "bad" / "palette.png")
    (root / "bad" / "bomb.png").write_bytes(_bomb_png())
    (root / "README.txt").write_text("not an image, ignored")
    return root


def test_profiles_good_images_and_reports_bad_ones(dataset: Path) -> None:
    table, skipped = profile_dataset(dataset, conditions=("canny",), progress=False, **GRID)
    assert sorted(p for p, _ in skipped) == list(BAD)
    reasons = dict(skipped)
    assert "decompression bomb" in reasons["bad/bomb.png"]
    assert "corrupt" in reasons["bad/corrupt.jpg"]
    assert "16-bit" in reasons["bad/deep16.png"]
    assert "mode P" in reasons["bad/palette.png"]
    assert "alpha" in reasons["bad/rgba.png"]
    assert "truncated" in reasons["bad/truncated.jpg"]
    f = table.frame
    assert sorted(f["image"].unique()) == ["good/00.jpg", "good/01.jpg", "good/02.jpg"]
    assert len(f) == 3 * len(DEFAULT_CODECS["canny"]) * 2 * 2
    assert table.meta["n_images"] == 3 and len(table.meta["skipped"]) == 6
    assert table.meta["metric"]["canny"].startswith("soft-edge-F")
    assert table.meta["extractor_backends"] == {"canny": "opencv"}
    # bytes are real: recompute one row
    from mobigen.conditions.extractors import extract
    from mobigen.conditions.images import load_512

    ref = extract("canny", load_512(dataset / "good" / "01.jpg"))
    row = f[(f.image == "good/01.jpg") & (f.codec == "jpeg") & (f.alpha == 0.25) & (f.beta == 0.2)].iloc[0]
    data = codec.encode(ref, 0.25, 0.2, "jpeg")
    assert row["bytes"] == len(data)
    assert row["fidelity"] == pytest.approx(fidelity("canny", ref, codec.decode(data)), abs=1e-3)
    lossless = f[(f.codec == "png") & (f.alpha == 1.0) & (f.beta == 1.0)]
    assert (lossless["fidelity"] == 1.0).all()
    assert (f.groupby("alpha")["bytes"].mean().diff().dropna() > 0).all()  # more pixels, more bytes


def test_profile_is_deterministic_and_roundtrips(dataset: Path, tmp_path: Path) -> None:
    a, _ = profile_dataset(dataset, conditions=("canny",), progress=False, **GRID)
    b, _ = profile_dataset(dataset, conditions=("canny",), progress=False, **GRID)
    assert len(a.frame) > 0
    cols = ["image", "condition", "alpha", "beta", "codec", "bytes", "fidelity"]
    assert a.frame[cols].equals(b.frame[cols])
    path = a.save(tmp_path / "out" / "p.csv")
    back = ProfileTable.load(path)
    assert back.frame[cols].equals(a.frame[cols]) and back.meta["metric"] == a.meta["metric"]
    assert back.frame["extract_s"].equals(a.frame["extract_s"])  # joined back from p.timing.csv


def test_profile_validates_arguments(dataset: Path) -> None:
    with pytest.raises(ValueError, match="alpha"):
        profile_dataset(dataset, conditions=("canny",), alphas=(0.3,), progress=False)
    with pytest.raises(ValueError, match="conditions"):
        profile_dataset(dataset, conditions=("sketch",), progress=False)
    with pytest.raises(ValueError, match="codec"):
        profile_dataset(dataset, conditions=("canny",), codecs=("gif",), progress=False)
    with pytest.raises(ValueError, match="dataset"):
        profile_dataset(dataset / "missing", conditions=("canny",), progress=False)


def test_profile_command(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mobigen.cli import main

    out = tmp_path / "cli.csv"
    rc = main(["profile", "--dataset", str(dataset), "--out", str(out), "--conditions", "canny", "--limit", "8", "--no-progress"])
    assert rc == 0
    assert out.is_file() and out.with_suffix(".json").is_file()
    text = capsys.readouterr().out
    assert "profiled 2 images" in text and "skipped 6 file(s)" in text  # sorted: 6 bad/ files, then good/00, 01
    assert main(["profile", "--dataset", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "dataset" in capsys.readouterr().err


@pytest.mark.skipif(not dataset_dir().is_dir() or not (weights_dir() / "deeplabv3_mnv2_ade20k").is_dir(),
                    reason="needs ../shared data and weights (set MOBIGEN_DATASET / MOBIGEN_WEIGHTS)")
def test_profile_real_image_all_conditions(tmp_path: Path) -> None:
    root = tmp_path / "real"
    root.mkdir()
    (root / "dog.jpg").write_bytes((dataset_dir() / "dog" / "00.jpg").read_bytes())
    table, skipped = profile_dataset(root, progress=False, alphas=(0.5,), betas=(0.6,))
    assert skipped == []
    f = table.frame
    assert set(f["condition"]) == set(CONDITIONS)
    assert len(f) == sum(len(DEFAULT_CODECS[c]) for c in CONDITIONS)
    assert f["fidelity"].between(0, 1).all() and (f["bytes"] > 0).all()
    assert table.meta["extractor_backends"]["depth"] == "pydnet-tflite"


def test_shipped_default_profile() -> None:
    path = default_profile_path()
    assert path.is_file(), f"the package must ship {path} (written by `mobigen profile`)"
    assert path.name.endswith(".csv.gz") and path.stat().st_size < 1_000_000  # compressed
    table = ProfileTable.load(path)
    f, meta = table.frame, table.meta
    assert list(f.columns) == ["image", "condition", "alpha", "beta", "codec", "bytes", "fidelity", "extract_s"]
    assert meta["n_images"] == f["image"].nunique() >= 150
    assert set(f["condition"]) == set(CONDITIONS)
    assert set(meta["metric"]) == set(CONDITIONS)
    assert "fallback" not in " ".join(meta["extractor_backends"].values())
    counts = f.groupby(["condition", "codec"]).size()
    assert (counts == meta["n_images"] * len(ALPHAS) * len(BETAS)).all()
    assert not f.duplicated(["image", "condition", "alpha", "beta", "codec"]).any()  # one row per image x config
    assert len(f) == meta["n_images"] * sum(len(v) for v in meta["codecs"].values()) * len(ALPHAS) * len(BETAS)
    assert f["fidelity"].between(0, 1).all() and (f["bytes"] > 0).all() and (f["extract_s"] > 0).all()
    for cond, codecs in meta["codecs"].items():
        assert set(f[f.condition == cond]["codec"]) == set(codecs)


def test_shipped_profile_keeps_machine_timings_apart() -> None:
    import pandas as pd

    table_file, timing_file, meta_file = table_paths(default_profile_path())
    assert timing_file.is_file() and meta_file.is_file()
    stored = pd.read_csv(table_file)
    assert not [c for c in stored.columns if c.endswith("_s")]  # no machine-specific column in the profile
    times = pd.read_csv(timing_file)
    assert list(times.columns) == TIMING_COLUMNS and timing_file.stat().st_size < 100_000
    assert not times.duplicated(["image", "condition"]).any()
    pairs = stored[["image", "condition"]].drop_duplicates()
    assert len(times) == len(pairs) == pairs.merge(times, on=["image", "condition"]).shape[0]


def test_shipped_profile_is_the_table_the_checkpoints_were_trained_on() -> None:
    """Compressing the profile and moving the timings apart changed no number: written back as one
    CSV, the loaded table is byte for byte the old ``profile.csv`` whose digest data/fig13/README.md
    records for the shipped checkpoints."""
    import hashlib
    import re

    readme = (default_profile_path().parent / "fig13" / "README.md").read_text(encoding="utf-8")
    recorded = re.search(r"sha256 ([0-9a-f]{64})", readme)
    assert recorded, "data/fig13/README.md must record the profile's sha256"
    text = ProfileTable.load(default_profile_path()).frame.to_csv(index=False)
    assert hashlib.sha256(text.encode()).hexdigest() == recorded.group(1)


def test_profile_storage_round_trips_compressed_split_and_legacy(tmp_path: Path) -> None:
    from _vce_fixtures import synthetic_profile

    prof = synthetic_profile(n_images=2)
    prof.frame.loc[prof.frame["image"] == "img1.jpg", "extract_s"] = 0.02  # a time per (image, condition)
    gz = prof.save(tmp_path / "p.csv.gz")
    assert gz.name == "p.csv.gz" and (tmp_path / "p.timing.csv").is_file() and (tmp_path / "p.json").is_file()
    for name in ("p.csv.gz", "p.csv", "p.json"):  # the .csv name finds the compressed table
        back = ProfileTable.load(tmp_path / name)
        assert back.frame.equals(ProfileTable.load(gz).frame)
    back = ProfileTable.load(gz)
    assert back.frame.drop(columns="image").equals(prof.frame.drop(columns="image").astype(back.frame.dtypes.drop("image").to_dict()))
    assert list(back.frame["image"]) == list(prof.frame["image"]) and back.meta == prof.meta
    legacy = tmp_path / "old" / "q.csv"  # one CSV that still holds extract_s (the old layout)
    legacy.parent.mkdir()
    prof.frame.to_csv(legacy, index=False)
    assert ProfileTable.load(legacy).frame.equals(back.frame)
    (tmp_path / "p.timing.csv").write_text("image,condition,extract_s\nimg0.jpg,canny,0.01\n")
    with pytest.raises(ValueError, match="extract_s"):
        ProfileTable.load(gz)
    bad = ProfileTable(frame=prof.frame.assign(extract_s=np.arange(len(prof.frame), dtype=float)))
    with pytest.raises(ValueError, match="extract_s"):
        bad.save(tmp_path / "r.csv")


def test_profile_command_refuses_folder_out_and_empty_dataset(dataset: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from mobigen.cli import main

    assert main(["profile", "--dataset", str(dataset), "--out", str(tmp_path), "--conditions", "canny"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "folder" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "e.csv"
    assert main(["profile", "--dataset", str(empty), "--out", str(out), "--conditions", "canny", "--no-progress"]) == 2
    assert "no usable image" in capsys.readouterr().err and not out.exists()
    only_bad = tmp_path / "only_bad"
    only_bad.mkdir()
    (only_bad / "x.jpg").write_bytes(b"not a jpeg")
    assert main(["profile", "--dataset", str(only_bad), "--out", str(out), "--conditions", "canny", "--no-progress"]) == 2
    cap = capsys.readouterr()
    assert "1 skipped" in cap.err and "x.jpg" in cap.out and not out.exists()


def test_config_table_refuses_rows_off_the_levels() -> None:
    from _vce_fixtures import synthetic_profile
    from mobigen.conditions.config_table import config_table

    f = synthetic_profile(n_images=1).frame.copy()
    f.loc[3, "alpha"] = 0.3
    with pytest.raises(ValueError, match="alpha"):
        config_table(ProfileTable(f))
    f = synthetic_profile(n_images=1).frame.copy()
    f.loc[5, "beta"] = 0.25
    with pytest.raises(ValueError, match="beta"):
        config_table(ProfileTable(f))

"""`mobigen client`, `mobigen loadtest` and `mobigen demo` end to end on loopback."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _serving_support import StepQuality, small_scenario_file
from mobigen.cli import main
from mobigen.control.exact import ExactController
from mobigen.serving.app import create_app
from mobigen.serving.server import ServerThread
from mobigen.serving.settings import ServerSettings

pytestmark = pytest.mark.filterwarnings("ignore")


def _profile_missing() -> str | None:
    from mobigen.system.profile import default_profile_path

    p = default_profile_path()
    return None if p.is_file() else f"the shipped profile table {p} is missing (VCE needs it)"


def test_client_command_end_to_end(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    src = tmp_path / "src.png"
    Image.fromarray((rng.random((300, 400, 3)) * 255).astype(np.uint8)).save(src)
    scenario = small_scenario_file(tmp_path)
    settings = ServerSettings(port=0, scenario=scenario, image_size=64, slot_ms=50, max_users=1)
    app = create_app(settings, controller=ExactController(), quality_model=StepQuality())
    out = tmp_path / "out.png"
    js = tmp_path / "r.json"
    with ServerThread(app) as srv:
        rc = main(["client", "--server", srv.url, "--image", str(src), "--prompt", "a red car", "--omega", "0.4",
                   "--qoe", "0.6", "--device-type", "2", "--scenario", scenario, "--condition", "canny",
                   "--alpha", "0.25", "--beta", "0.5", "--out", str(out), "--json", str(js),
                   "--uplink-mbps", "20", "--downlink-mbps", "20"])
        assert rc == 0
        text = capsys.readouterr().out
        for needle in ("decision", "bytes", "L¹ measured", "L² measured", "edge steps=", "device steps=",
                       "test-model quality model", "components=tiny(seed=0)"):
            assert needle in text, needle
        row = json.loads(js.read_text())
        assert row["T"] in (2, 3, 4) and row["uplink_bytes"] > row["condition_bytes"] > 0
        assert Image.open(out).size == (64, 64)
        if row["payload_kind"] == "latent":
            assert row["completion"]["status"] == "completed"
        # bad input: one line, exit status 2
        assert main(["client", "--server", srv.url, "--image", str(src), "--prompt", "x", "--omega", "1.5",
                     "--qoe", "0.6"]) == 2
        assert "--omega" in capsys.readouterr().err


def test_loadtest_answers_every_request_exactly_once(tmp_path):
    from mobigen.serving.loadtest import run_loadtest

    report = run_loadtest(6, 3, slot_ms=1000, quality_model=StepQuality(), controller_obj=ExactController())
    assert report["sent"] == 18 and report["answered"] == 18
    assert report["lost"] == 0 and report["duplicated"] == 0
    assert report["slots_formed"] == 3 and report["mean_slot_size"] == 6.0
    assert "control plane only" in report["mode"]
    assert report["confirmations"]["accepted"] == report["confirmations"]["sent"]
    assert report["overhead_ms"]["p50"] > 0 and report["decision_ms"]["p99"] >= report["decision_ms"]["p50"]


def test_demo_writes_images_and_summary(tmp_path):
    reason = _profile_missing()
    if reason:
        pytest.skip(reason)
    from mobigen.settings import dataset_dir

    if not (dataset_dir() / "prompts_and_classes.txt").is_file():
        pytest.skip(f"DreamBooth data set not found at {dataset_dir()}")
    scenario = small_scenario_file(tmp_path)
    out = tmp_path / "demo"
    rc = main(["demo", "--users", "2", "--out", str(out), "--image-size", "64", "--scenario", scenario,
               "--components", "tiny", "--controller", "exact"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["components"] == "tiny(seed=0)" and "NOT Stable Diffusion" in summary["components_kind"]
    assert len(summary["rows"]) == 2
    for row in summary["rows"]:
        for key in ("condition", "alpha", "beta", "T", "o", "uplink_bytes", "downlink_bytes", "latency_s"):
            assert key in row, key
        assert (out / f"user{row['user']}_{row['subject']}.png").is_file()


def test_serve_command_runs_and_shuts_down_gracefully(tmp_path):
    """`mobigen serve` as a subprocess on a free loopback port: /health answers, SIGINT stops it cleanly."""
    reason = _profile_missing()
    if reason:
        pytest.skip(reason + " (the server's default surrogate quality model)")
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from mobigen.serving.server import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mobigen.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--no-denoise", "--max-users", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        t_end = time.monotonic() + 60
        health = None
        while time.monotonic() < t_end and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None and health["status"] == "ok" and health["denoise"] == "none"
        assert health["controller"] == "exact"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert "control plane only" in out and "graceful shutdown" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)  # reap it and close its pipe

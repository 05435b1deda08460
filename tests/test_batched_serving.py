"""The live server with a batched edge (``ServerSettings.edge_max_batch``, issue 14): one slot's users
share the batched denoiser forward, every user gets its own correct reply, and the device finishes it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from _serving_support import FixedController, StepQuality, jpeg_condition, small_scenario_file
from mobigen.serving.app import create_app
from mobigen.serving.client import MobileClient, PreparedRequest
from mobigen.serving.server import ServerThread
from mobigen.serving.settings import ServerSettings
from mobigen.serving.splitrun import GenerationSpec, SplitRunner, condition_for_generation

pytestmark = pytest.mark.filterwarnings("ignore")

SIZE = 64
USERS = 3


def test_one_slot_of_users_batched_on_the_edge(tmp_path):
    from mobigen.conditions import codec
    from mobigen.generation.denoise import generate

    runner = SplitRunner(GenerationSpec(components="tiny", image_size=SIZE, wire_mode="fp32"))
    device = SplitRunner(GenerationSpec(components="tiny", image_size=SIZE, wire_mode="fp32"))
    scenario = small_scenario_file(tmp_path)
    settings = ServerSettings(port=0, scenario=scenario, image_size=SIZE, wire_mode="fp32", slot_ms=2000,
                              max_users=USERS, shape_downlink=False, edge_max_batch=4,
                              max_wait_s=600.0)
    app = create_app(settings, controller=FixedController(T=4, o=0.5), quality_model=StepQuality(), runner=runner)
    preps = [PreparedRequest("canny", 0.25, 0.5, "jpeg", jpeg_condition(i), 0.0, 0.0, 0.0) for i in range(USERS)]
    with ServerThread(app) as srv:
        def one(i):
            with MobileClient(srv.url, scenario=scenario, device_type=i, uplink_mbps=20, downlink_mbps=20,
                              runner=device) as client:
                return client.run(preps[i], prompt=f"user {i}", omega_I=0.5, qoe_threshold=0.6, seed=20 + i,
                                  out_path=str(tmp_path / f"out{i}.png"))

        with ThreadPoolExecutor(USERS) as pool:  # one slot: the K = 3 requests arrive together
            results = list(pool.map(one, range(USERS)))
        batch = app.state.service.pool.workers[0].batch_runner
    assert batch is not None and batch.largest_batch == USERS  # the three edge shares ran as one batch
    from PIL import Image

    for i, res in enumerate(results):
        assert res.payload_kind == "latent" and 0 < res.decision["edge_steps"] < res.decision["T"]
        assert res.completion["status"] == "completed"
        got = np.asarray(Image.open(tmp_path / f"out{i}.png")).astype(int)
        cond = condition_for_generation(codec.decode(preps[i].data), SIZE)
        want = generate(runner.components, prompt=f"user {i}", condition_rgb_uint8=cond, condition_type="canny",
                        seed=20 + i, total_steps=res.decision["T"]).astype(int)
        assert np.abs(got - want).max() <= 1  # batched edge: within one grey level of the monolithic image

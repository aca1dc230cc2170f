"""benchmarks/gpu.py --smoke: the GPU script's own code on the CPU with tiny sizes, so it cannot rot between the rare
runs on a GPU machine. Every configuration must train and every check must pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_gpu_script_runs_every_configuration_and_check_in_smoke_mode(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}  # no decode cache in the user's folder
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--smoke"],
        capture_output=True, text=True, timeout=600, cwd=ROOT, env=env,
    )  # fmt: skip
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, done.stdout + done.stderr
    speeds = [r for r in rows if "speed" in r]
    assert [r["speed"] for r in speeds] == ["resnet18-simclr-32px", "small-cnn-simclr-64px", "vit-tiny-mae-32px"]
    assert all(r["images_per_s"] > 0 and 0 <= r["data_and_augment_share"] <= 1 for r in speeds)
    checks = {r["check"]: r for r in rows if "check" in r}
    assert set(checks) == {
        "finite loss in bf16",
        "finite loss in fp16",
        "augmentations GPU = CPU",
        "GPU checkpoint resumes on CPU",
        "out of memory",
    }
    assert all(r["ok"] for r in checks.values()), checks
    assert checks["finite loss in bf16"]["methods"] >= 12  # every registered method ran under autocast

"""Each example runs in its fast mode and saves its picture."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "examples").glob("*.py")))
def test_example_runs_fast(script, tmp_path):
    out = tmp_path / "plot.png"
    done = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--fast", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"


def test_adashift_example_separates_adam_from_adashift():
    sys.path.insert(0, str(ROOT))
    from examples.adashift_counterexample import SEQUENTIAL, sequential

    assert sequential(SEQUENTIAL["Adam"], 3000)[-1] > 0.8
    assert sequential(SEQUENTIAL["AdaShift (n 10)"], 3000)[-1] < -0.8

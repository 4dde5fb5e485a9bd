"""Peak memory of `ot-gan wdist` against the size of the data: 1M vs 1M and 4M vs 4M points in 64-D.

Each side is written to an .npy file (N(0, I) against N(v, I), |v| = 2, so W1 = 2), then the CLI
runs on the two files with its defaults, one torch thread, in a fresh process whose own peak RSS
(memory-mapped data pages included) is read from wait4. The estimator streams minibatches, so the
peak should stay within a small multiple of the data.

    python bench/wdist_memory.py [--sizes 1000000,4000000] [--dim 64] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from report import add_write_flag  # run as a script: bench/ is on the path

CHUNK = 1 << 18  # rows generated at a time: the parent never holds a whole side


def write_pair(folder: Path, n: int, dim: int, shift: float = 2.0, seed: int = 0) -> tuple[Path, Path]:
    """a.npy ~ N(0, I) and b.npy ~ N(v, I) with |v| = ``shift``, float32, written in chunks."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(dim, generator=g)
    v = shift * v / v.norm()
    paths = folder / "a.npy", folder / "b.npy"
    for path, offset in zip(paths, (torch.zeros(dim), v)):
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
        for i in range(0, n, CHUNK):
            out[i:i + CHUNK] = (torch.randn(min(CHUNK, n - i), dim, generator=g) + offset).numpy()
        out.flush()
        del out
    return paths


def measure(a: Path, b: Path) -> tuple[dict, float, float]:
    """The CLI's JSON result, its wall-clock seconds and its peak RSS in MB, in a fresh process."""
    cmd = [sys.executable, "-m", "ot_gan.cli", "wdist", str(a), str(b), "--json", "--quiet", "--threads", "1"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"wdist exited with {proc.returncode}")
    return json.loads(out), time.perf_counter() - start, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,4000000", help="points per side, comma-separated")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--dir", default=None, help="where the .npy files go (removed afterwards)")
    add_write_flag(parser, "W1 at scale")
    args = parser.parse_args()
    print(f"| {'n a side':>9s} | {'W1/truth':>8s} | {'K':>5s} | {'steps':>5s} | {'seconds':>7s} | {'peak RSS MB':>11s} "
          f"| {'data MB':>7s} | {'peak/data':>9s} |")
    print("|" + "|".join("-" * (w + 2) for w in (9, 8, 5, 5, 7, 11, 7, 9)) + "|")
    for n in map(int, args.sizes.split(",")):
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            a, b = write_pair(Path(folder), n, args.dim)
            r, seconds, peak = measure(a, b)
            data = (a.stat().st_size + b.stat().st_size) / 2**20
        print(f"| {n:9d} | {r['distance'] / 2.0:8.4f} | {r['lipschitz']:5.3f} | {r['steps']:5d} | {seconds:7.1f} "
              f"| {peak:11.0f} | {data:7.0f} | {peak / data:9.2f} |", flush=True)


if __name__ == "__main__":
    main()

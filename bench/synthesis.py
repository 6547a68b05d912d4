"""Benchmark: samples/s of 64x64 two-channel LOS images with correlated noise.

In-graph batched generation (geoinversion's tf.data pipeline) against a per-sample NumPy
generator written the way the original research code worked (one sample at a time: draw the
parameters, build the grid, evaluate Mogi, project, add FFT noise). Both run here, now, on
the same machine; the table reports each rate and their ratio.

    .venv/bin/python bench/synthesis.py [--seconds 10] [--batch 512]
"""
import argparse
import math
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import numpy as np
import tensorflow as tf

from geoinversion.volcano.datasets import VolcanoDataset
from geoinversion.volcano.insar import los_vector


def per_sample_numpy(desc, n, seed=0):
    "The original way: a Python loop, one sample at a time, NumPy for the maths."
    rng = np.random.default_rng(seed)
    ny, nx = desc.grid.size
    px = desc.grid.pixel_size
    out = np.empty((n, ny, nx, len(desc.geometries)), np.float32)
    vecs = [los_vector(g) for g in desc.geometries]
    dd, dv = desc.distributions['depth'], desc.distributions['delta_volume']
    for i in range(n):
        depth = rng.uniform(dd.low, dd.high)
        dvol = rng.uniform(dv.low, dv.high)
        xs = (np.arange(nx) - (nx - 1) / 2) * px
        ys = ((ny - 1) / 2 - np.arange(ny)) * px
        x, y = np.meshgrid(xs, ys)
        r3 = (x**2 + y**2 + depth**2) ** 1.5
        c = (1 - 0.25) * dvol / math.pi
        ue, un, uz = c * x / r3, c * y / r3, c * depth / r3
        k = np.hypot(*np.meshgrid(np.fft.fftfreq(nx), np.fft.fftfreq(ny)))
        filt = np.zeros_like(k); filt[k > 0] = k[k > 0] ** (-desc.noise.exponent / 2)
        for ch, e in enumerate(vecs):
            los = ue * e[0] + un * e[1] + uz * e[2]
            noise = np.fft.ifft2(np.fft.fft2(rng.standard_normal((ny, nx))) * filt).real
            noise = (noise - noise.mean()) / noise.std() * desc.noise.amplitude
            out[i, ..., ch] = los + noise
    return out


def rate(fn, seconds):
    "Samples per second of `fn()` (which returns a sample count), repeated for about `seconds`."
    fn()  # warm up (tracing, allocation)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += fn()
    return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--seconds', type=float, default=10.0)
    ap.add_argument('--batch', type=int, nargs='+', default=[64, 128, 256, 512])
    args = ap.parse_args()
    ds = VolcanoDataset('volcano_mogi')
    desc = ds.description

    def looped():
        return len(per_sample_numpy(desc, 200))

    r_np = rate(looped, args.seconds)
    rows = [('per-sample NumPy loop (original way)', r_np, 1.0)]
    for batch in args.batch:
        stream = iter(ds.dataset('train', batch_size=batch, seed=0, repeat=True))
        def graph():
            x, _ = next(stream)
            return int(x['los'].shape[0])
        r_tf = rate(graph, args.seconds)
        rows.append((f'in-graph tf.data, batch {batch}', r_tf, r_tf / r_np))
    print(f"\n64x64 LOS, 2 geometries, power-law noise; {os.cpu_count()} CPU cores; TensorFlow {tf.__version__}")
    print(f"| generator | samples/s | ratio |\n|---|---:|---:|")
    for name, r, ratio in rows:
        print(f"| {name} | {r:,.0f} | {ratio:.1f}x |")


if __name__ == '__main__':
    main()

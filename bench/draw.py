"""Benchmark: output pixels per second of glacier drawing (an ensemble of three networks).

Three ways, run here, now, on the same machine and the same trained members:

* the original way: a Python loop over pixels, one window at a time through each member
  (models already loaded, in this process);
* geoinversion's way on one Dask worker: windows batched through each member, tile by tile,
  tiles as tasks (`draw` on a LocalCluster of 1 process with 1 thread);
* the same on two workers.

Dask workers are warmed up first (TensorFlow imported, members loaded once per worker) by a
first drawing that is not timed. The table reports each rate and the ratios.

    .venv/bin/python bench/draw.py [--loop_pixels 400] [--epochs 1]
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--loop_pixels', type=int, default=400, help='pixels drawn by the per-pixel loop (it is slow)')
    ap.add_argument('--epochs', type=int, default=1, help='training epochs of each member (speed does not depend on it)')
    ap.add_argument('--massifs', type=int, nargs=2, default=[2, 1])
    args = ap.parse_args()
    from dask.distributed import Client, LocalCluster
    from geoinversion.core import read_json
    from geoinversion.descriptions import read_description
    from geoinversion.volcano.datasets import resolve_example
    from geoinversion.glacier.world import make_world
    from geoinversion.glacier.data import GlacierDataset, build_patches
    from geoinversion.glacier.train import train_ensemble
    from geoinversion.glacier.draw import draw, draw_pixel_by_pixel, member

    tmp = Path(tempfile.mkdtemp(prefix='bench_draw_'))
    world = make_world(tmp / 'world', seed=0, massifs=tuple(args.massifs))
    ds = GlacierDataset('glacier_dataset', root=world)
    build_patches(ds)
    t, _ = read_description(resolve_example('glacier_train'))
    t.update(epochs=args.epochs, sample_stride=3)
    runs = train_ensemble(t, tmp / 'runs', root=world)
    inputs = [(v['name'], v['resolution'], v['scalar']) for v in t['inputs']]
    drawing = {'features': 'all', 'models': [str(r) for r in runs], 'profiles': [], 'tile_size': 32, 'batch_size': 512}

    # the original way: pixel by pixel, in this process (members loaded and traced before timing)
    e = ds.ids()[0]
    grid = ds.patches(e)['thickness']
    r, c = np.nonzero(ds.mask(e, grid))
    x, y = grid.x.values[c], grid.y.values[r]
    for run in runs: member(run)
    draw_pixel_by_pixel(str(ds.cache / e), inputs, t['area_size'], x[:3], y[:3], [str(q) for q in runs], 'thickness')
    n = min(args.loop_pixels, len(x))
    t0 = time.perf_counter()
    loop = draw_pixel_by_pixel(str(ds.cache / e), inputs, t['area_size'], x[:n], y[:n], [str(q) for q in runs], 'thickness')
    loop_rate = n / (time.perf_counter() - t0)

    rates = {}
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
            draw(drawing, tmp / 'runs', tmp / f'warm{workers}', client=client)          # warm-up: TF and members in every worker
            out = draw(drawing, tmp / 'runs', tmp / f'draw{workers}', client=client)
            s = read_json(out / 'run.json')['summary']
            rates[workers] = (s['pixels'], s['seconds'])
    # same numbers both ways
    m = __import__('geoinversion.glacier.draw', fromlist=['read_map']).read_map(tmp / 'draw2', e).values[r[:n], c[:n]]
    agree = float(np.max(np.abs(m - loop.mean(0))))

    p1, s1 = rates[1]; p2, s2 = rates[2]
    print(f'glacier drawing, 3 members, window {t["area_size"]:g} m, {len(ds.ids())} glaciers, {p1} pixels; cpu_count={os.cpu_count()}')
    print(f'| way | pixels | seconds | pixels/s | vs loop |')
    print(f'|---|---|---|---|---|')
    print(f'| per-pixel loop (original) | {n} | {n / loop_rate:.2f} | {loop_rate:.0f} | 1.0 |')
    print(f'| batched tiles, Dask 1 worker | {p1} | {s1:.2f} | {p1 / s1:.0f} | {p1 / s1 / loop_rate:.1f} |')
    print(f'| batched tiles, Dask 2 workers | {p2} | {s2:.2f} | {p2 / s2:.0f} | {p2 / s2 / loop_rate:.1f} |')
    print(f'2 workers / 1 worker: {(p2 / s2) / (p1 / s1):.2f}x; max |batched - loop| on {n} pixels: {agree:.2e} m')


if __name__ == '__main__':
    main()

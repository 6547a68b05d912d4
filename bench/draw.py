"""Benchmark: output pixels per second of glacier drawing (an ensemble of three networks).

Four ways, run here, now, on the same machine and the same trained members:

* the original way: a Python loop over pixels, one window at a time through each member with
  Keras `model.predict` (how the seed's research code drew; models already loaded);
* the same loop with a traced call per window instead of `model.predict` (a stronger loop);
* geoinversion's way on one Dask worker: windows batched through each member, tile by tile,
  tiles as tasks (`draw` on a LocalCluster of 1 process with 1 thread);
* the same on two workers.

Dask workers are warmed up first (TensorFlow imported, members loaded once per worker) by a
first drawing that is not timed; each timed way is repeated (`--repeats`) and its best kept,
since the machine may be shared. The table reports each rate and the ratios.

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
    ap.add_argument('--loop_pixels', type=int, default=400, help='pixels drawn by the traced per-pixel loop')
    ap.add_argument('--predict_pixels', type=int, default=30, help='pixels drawn by the model.predict loop (it is very slow)')
    ap.add_argument('--epochs', type=int, default=1, help='training epochs of each member (speed does not depend on it)')
    ap.add_argument('--massifs', type=int, nargs=2, default=[3, 2], help='world size: massifs along x and y (3 2: 54 glaciers, ~21k pixels)')
    ap.add_argument('--repeats', type=int, default=3, help='timed repeats of each way (the best is kept: the machine may be shared)')
    args = ap.parse_args()
    from dask.distributed import Client, LocalCluster
    from geoinversion.core import read_json
    from geoinversion.descriptions import read_description
    from geoinversion.descriptions import resolve_example
    from geoinversion.glacier.world import make_world
    from geoinversion.glacier.data import GlacierDataset, build_patches
    from geoinversion.glacier.train import train_ensemble
    from geoinversion.glacier.draw import draw, draw_pixel_by_pixel, member

    load0 = os.getloadavg()[0]
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
    loop_rate = 0
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        loop = draw_pixel_by_pixel(str(ds.cache / e), inputs, t['area_size'], x[:n], y[:n], [str(q) for q in runs], 'thickness')
        loop_rate = max(loop_rate, n / (time.perf_counter() - t0))
    # the seed's way: model.predict on one window at a time
    import keras
    from geoinversion.glacier.data import windows
    from geoinversion.glacier.train import normalize_inputs
    from geoinversion.glacier.draw import _MODELS
    nets = [(_MODELS[str(Path(q).resolve())][2], read_json(Path(q) / 'normalization.json')) for q in runs]
    patches = ds.patches(e)
    def predict_pixel(i):
        X = {}
        for name, res, scalar in inputs:
            w = windows(patches[name], x[i:i + 1], y[i:i + 1], 1 if scalar else int(round(t['area_size'] / res)))
            X[name] = w[:, 0, 0, None] if scalar else w[..., None]
        out = []
        for net, norm in nets:
            p = net.predict(normalize_inputs(X, norm), verbose=0)['thickness'][0, 0]
            out.append(norm['thickness']['low'] + p * (norm['thickness']['high'] - norm['thickness']['low']))
        return np.mean(out)
    predict_pixel(0)
    k = min(args.predict_pixels, len(x))
    t0 = time.perf_counter()
    seed_way = np.array([predict_pixel(i) for i in range(k)])
    seed_rate = k / (time.perf_counter() - t0)

    rates = {}
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
            draw(drawing, tmp / 'runs', tmp / f'warm{workers}', client=client)          # warm-up: TF and members in every worker
            best = None
            for _ in range(args.repeats):   # the machine is shared: the best of a few repeats
                out = draw(drawing, tmp / 'runs', tmp / f'draw{workers}', client=client, overwrite=True)
                s = read_json(out / 'run.json')['summary']
                best = min(best or s['seconds'], s['seconds'])
            rates[workers] = (s['pixels'], best)
    # same numbers both ways
    m = __import__('geoinversion.glacier.draw', fromlist=['read_map']).read_map(tmp / 'draw2', e).values[r[:n], c[:n]]
    agree = float(np.max(np.abs(m - loop.mean(0))))

    p1, s1 = rates[1]; p2, s2 = rates[2]
    print(f'glacier drawing, 3 members, window {t["area_size"]:g} m, {len(ds.ids())} glaciers, {p1} pixels; cpu_count={os.cpu_count()}, '
          f'load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (other processes share the cores)')
    print(f'| way | pixels | seconds | pixels/s | vs seed loop (predict) | vs traced loop |')
    print(f'|---|---|---|---|---|---|')
    print(f'| per-pixel loop, model.predict (seed) | {k} | {k / seed_rate:.2f} | {seed_rate:.1f} | 1.0 | {seed_rate / loop_rate:.3f} |')
    print(f'| per-pixel loop, traced call | {n} | {n / loop_rate:.2f} | {loop_rate:.0f} | {loop_rate / seed_rate:.0f} | 1.0 |')
    print(f'| batched tiles, Dask 1 worker | {p1} | {s1:.2f} | {p1 / s1:.0f} | {p1 / s1 / seed_rate:.0f} | {p1 / s1 / loop_rate:.1f} |')
    print(f'| batched tiles, Dask 2 workers | {p2} | {s2:.2f} | {p2 / s2:.0f} | {p2 / s2 / seed_rate:.0f} | {p2 / s2 / loop_rate:.1f} |')
    print(f'2 workers / 1 worker: {(p2 / s2) / (p1 / s1):.2f}x; max |batched - traced loop| on {n} pixels: {agree:.2e} m; '
          f'max |batched - predict loop| on {k} pixels: {float(np.max(np.abs(m[:k] - seed_way))):.2e} m')


if __name__ == '__main__':
    main()

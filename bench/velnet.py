"""Benchmark: the velocity-network stage (geoinversion.velnet) at OpenFWI's FlatVel-A shapes — 70 x 70 models, 5 shots of
1000 time steps on 70 receivers — in one run, on this machine:

(a) data generation, samples/s: `wave.datasets.generate` of the shipped `wave_flatvel_a` acquisition, in this process
    (serial; the Numba kernels use every core) and on a Dask LocalCluster of 2 workers of 1 thread each: once as
    `generate` starts it (its workers' start, imports and kernel loading included: what a user waits for), once on
    workers already warm (a client passed to `generate`: the throughput of a long run). Serial is the baseline.
(b) training, samples/s: one optimiser step per batch (`train_on_batch`) of each network compiled as a training run
    compiles it (`VelnetExperiment.build`: the shipped losses l1 + l2, its metrics, AdamW; float16 compute on a GPU), on
    batches of the generated samples, after a warm-up batch (graph tracing); the median batch time. InversionNet of
    width 1 is OpenFWI's baseline: every ratio is against it.
(c) inference, samples/s: `predict_normalised` (what scoring and `velnet-predict` call) plain, and with the acquisition
    flip averaged in (TTA: two forward passes; the ratio TTA / plain is printed).
(d) the physics term: seconds per sample of `PhysicsLoss` forward + gradient for one shot (the training default, the
    middle shot) through the propagator and its adjoint (eager, as a run with the physics term computes it: Numba on a
    CPU), as a ratio to a training step (per sample) without it. Its kernels synchronise their threads at every time
    step, so another busy process on the machine slows them far more than it slows the networks: medians, and the load
    average printed at both ends.

No timing is asserted; the numbers are for comparing networks, machines and versions.

    .venv/bin/python bench/velnet.py [--quick] [--samples 20] [--batches 4] [--batch 8] [--widths 1 0.5 0.25]

--quick (10 samples, one timed batch, widths 1 and 0.25) takes a few minutes on 2 CPU cores, seednet's first (traced)
step most of it; the full run 10-15 minutes.
"""
import argparse
import math
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')   # heavy imports stay inside the functions: the Dask workers import this file


def machine() -> str:
    "A line saying what ran the benchmark: cores, GPU, TensorFlow and Keras versions, load."
    import tensorflow as tf, keras
    gpus = tf.config.list_physical_devices('GPU')
    gpu = ', '.join(tf.config.experimental.get_device_details(g).get('device_name', g.name) for g in gpus) if gpus else 'none'
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    load = ' / '.join(f'{x:.1f}' for x in os.getloadavg()) if hasattr(os, 'getloadavg') else '?'
    return f'{cores} CPU cores usable ({os.cpu_count()} in the machine), GPU: {gpu}; TensorFlow {tf.__version__}, Keras {keras.__version__}; load average {load}'


def wave_description(n: int, chunk: int) -> dict:
    from geoinversion.descriptions import read_description
    return {**read_description('wave_flatvel_a')[0], 'n_samples': n, 'chunk': chunk, 'layout': 'openfwi'}


def generation(a, folder: Path) -> tuple[list, float, Path]:
    "Rows (how, samples, seconds, samples/s) of (a), an idle LocalCluster's start-up seconds, and the serially generated dataset."
    from geoinversion.wave.datasets import generate
    from geoinversion.parallel import client
    generate(wave_description(1, 1), folder / 'warmup', scheduler='serial', progress=False)   # Numba's compilation or cache load, here
    rows = []
    def timed(how, scheduler, out):
        t0 = time.perf_counter()
        generate(wave_description(a.samples, a.chunk), out, scheduler=scheduler, n_workers=2, progress=False)
        s = time.perf_counter() - t0
        rows.append((how, a.samples, s, a.samples / s))
    timed('serial, in this process', 'serial', folder / 'serial')
    timed('LocalCluster, 2 workers, started by `generate`', 'local', folder / 'cold')
    with client('local', 2) as c:   # the same, on workers that have imported and compiled everything already
        generate(wave_description(2, 1), folder / 'warmup_cluster', scheduler=c, progress=False)
        timed('LocalCluster, 2 workers, already warm', c, folder / 'warm')
    t0 = time.perf_counter()
    with client('local', 2): pass
    startup = time.perf_counter() - t0
    return rows, startup, folder / 'serial'


def experiment(dataset: Path, network: str, params: dict, a, physics: bool = False):
    "A `VelnetExperiment` on the generated dataset, as a training run would set it up."
    from geoinversion.velnet.train import VelnetExperiment
    d = {'name': 'bench', 'data': {'folder': str(dataset), 'validation': 0.1, 'velocity_range': [1500, 4500]},
         'network': network, 'network_params': params, 'loss': {'l1': 1.0, 'l2': 1.0}, 'epochs': 1, 'batch_size': a.batch}
    if physics: d['physics'] = {'weight': 0.1}
    return VelnetExperiment(d)


def one_batch(exp, a):
    "A batch of `a.batch` samples (scaled gathers, scaled models), repeating samples if the dataset is smaller."
    import numpy as np
    ds = exp.data.dataset
    idx = np.resize(np.arange(len(ds)), a.batch)
    return next(exp.batches(ds, idx, seed=0, shuffle=False, augment=None))


def median_seconds(fn, repeats: int) -> float:
    "The median wall time of `repeats` calls of `fn` (the median: robust to another process taking a core for a moment)."
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return statistics.median(times)


def network_rates(dataset: Path, label: str, network: str, params: dict, a) -> dict:
    "Parameters, build seconds, training samples/s, inference samples/s plain and with TTA of one network (medians over batches)."
    import numpy as np
    from geoinversion.velnet.train import predict_normalised
    exp = experiment(dataset, network, params, a)
    t0 = time.perf_counter()
    net = exp.build(seed=0)
    row = {'network': label, 'weights': net.count_params(), 'build s': time.perf_counter() - t0}
    x, y = one_batch(exp, a)
    try:
        t0 = time.perf_counter(); net.train_on_batch(x, y); row['first step s'] = time.perf_counter() - t0   # tracing
        row['train'] = a.batch / median_seconds(lambda: net.train_on_batch(x, y), a.batches)
    except Exception as e:   # reported, not raised: the other columns still mean something
        row['train'] = row['first step s'] = float('nan')
        row['error'] = f'training fails: {type(e).__name__}: {str(e).splitlines()[0][:120]}'
    ds, norm = exp.data.dataset, exp.data.normalisation
    idx = np.resize(np.arange(len(ds)), a.batch)
    for key, tta in (('predict', False), ('predict TTA', True)):
        predict_normalised(net, ds, idx[:1], norm, a.batch, tta=tta)   # warm-up (eager: nothing traced, first-call allocations)
        row[key] = a.batch / median_seconds(lambda: predict_normalised(net, ds, idx, norm, a.batch, tta=tta), a.batches)
    return row


def physics_cost(dataset: Path, a) -> dict:
    "Seconds per sample of the physics term (forward + gradient, one shot) on a batch of slightly wrong models (median of repeats)."
    import numpy as np
    import tensorflow as tf
    exp = experiment(dataset, 'inversionnet', {'width': 0.125}, a, physics=True)
    phys = exp.physics_loss()
    x, y = one_batch(exp, a)
    obs = tf.constant(np.stack([exp.data.dataset.read_data(i % len(exp.data.dataset)) for i in range(a.batch)]))
    rng = np.random.default_rng(0)
    y0 = tf.constant(np.clip(y + 0.05 * rng.standard_normal(y.shape), -1, 1).astype(np.float32))   # ~75 m/s off
    grads = []
    def step():
        with tf.GradientTape() as tape:
            tape.watch(y0)
            loss = tf.reduce_mean(phys(obs, y0))
        grads.append(tape.gradient(loss, y0))
    step()   # warm-up (kernel compilation or cache load)
    s = median_seconds(step, a.physics_repeats)
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    from geoinversion.wave.propagator import _engine
    return {'shots': phys.shots, 'engine': _engine(phys.engine, True), 's per sample': s / a.batch}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--quick', action='store_true', help='fewer samples and batches (about 3 minutes on 2 busy cores)')
    ap.add_argument('--samples', type=int, help='FlatVel-A samples generated (default 20; --quick 10)')
    ap.add_argument('--chunk', type=int, help='samples per generation task (default samples / 4, at least 1)')
    ap.add_argument('--batches', type=int, help='timed batches per network after one warm-up, their median taken (default 5; --quick 1)')
    ap.add_argument('--batch', type=int, default=8, help='samples per batch')
    ap.add_argument('--widths', type=float, nargs='+', help='InversionNet widths (default 1 0.5 0.25; --quick 1 0.25; 1, the baseline, always runs)')
    ap.add_argument('--physics-repeats', type=int, help='timed physics forward+gradient passes, their median taken (default 5; --quick 3)')
    a = ap.parse_args()
    a.samples = a.samples or (10 if a.quick else 20)
    if a.samples - max(round(0.1 * a.samples), 1) < a.batch:   # 10 % are held out, as in a run; a batch must remain
        ap.error(f'--samples {a.samples} leaves fewer training samples than --batch {a.batch}: take at least {math.ceil((a.batch + 1) / 0.9)}')
    a.chunk = a.chunk or max(1, a.samples // 4)
    a.batches = a.batches or (1 if a.quick else 5)
    a.widths = a.widths or ([1.0, 0.25] if a.quick else [1.0, 0.5, 0.25])
    a.physics_repeats = a.physics_repeats or (3 if a.quick else 5)
    widths = [1.0] + [w for w in a.widths if w != 1.0]   # the baseline first
    print(f'# geoinversion.velnet benchmark{" (--quick)" if a.quick else ""}\n\n{machine()}\n', flush=True)

    folder = Path(tempfile.mkdtemp(prefix='bench_velnet_'))
    try:
        t_all = time.perf_counter()
        gen, startup, dataset = generation(a, folder)
        print(f'## (a) FlatVel-A generation: {a.samples} samples of 5 shots x 1000 steps x 70 receivers, chunks of {a.chunk}\n')
        print('| how | samples | wall s | samples/s | ratio |\n|---|---:|---:|---:|---:|')
        for how, n, s, r in gen: print(f'| {how} | {n} | {s:.1f} | {r:.2f} | {r / gen[0][3]:.2f}x |')
        print(f'\nStarting and closing an idle LocalCluster of 2 workers alone: {startup:.1f} s (inside the first LocalCluster row; '
              'the rest of that row\'s extra time is its workers importing TensorFlow and loading the compiled kernels).\n', flush=True)

        specs = [(f'inversionnet, width {w:g}' + (' (OpenFWI baseline)' if w == 1.0 else ''), 'inversionnet', {'width': w}) for w in widths]
        specs += [('seednet, defaults', 'seednet', {}),
                  ('ensemble of 2 inversionnets, width 0.5', 'ensemble',
                   {'members': [{'network': 'inversionnet', 'params': {'width': 0.5}}] * 2})]
        rows = []
        for label, network, params in specs:
            rows.append(network_rates(dataset, label, network, params, a))
            print(f'   measured {label}', flush=True)
        base = rows[0]
        print(f'\n## (b, c) networks: batch {a.batch}; timed: the median of {a.batches} batch(es) after a warm-up; ratios against InversionNet width 1\n')
        print('| network | weights | build s | first step s | train samples/s | train ratio | predict samples/s | predict ratio '
              '| TTA samples/s | TTA / plain |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
        for r in rows:
            print(f"| {r['network']} | {r['weights']:,} | {r['build s']:.1f} | {r['first step s']:.1f} | {r['train']:.2f} | "
                  f"{r['train'] / base['train']:.2f}x | {r['predict']:.1f} | {r['predict'] / base['predict']:.2f}x | "
                  f"{r['predict TTA']:.1f} | {r['predict TTA'] / r['predict']:.2f} |")
        for r in rows:
            if 'error' in r: print(f"\n{r['network']}: {r['error']}")

        p = physics_cost(dataset, a)
        print(f"\n## (d) physics term: PhysicsLoss forward + gradient, shot {p['shots']}, engine {p['engine']}, batch {a.batch}, "
              f"median of {a.physics_repeats}\n")
        print('| compared with | training step s/sample | physics s/sample | physics / step |\n|---|---:|---:|---:|')
        for r in rows:
            if r['train'] == r['train']:
                print(f"| {r['network']} | {1 / r['train']:.3f} | {p['s per sample']:.3f} | {p['s per sample'] * r['train']:.2f} |")
        load = ' / '.join(f'{x:.1f}' for x in os.getloadavg()) if hasattr(os, 'getloadavg') else '?'
        print(f'\nwhole benchmark: {time.perf_counter() - t_all:.0f} s; load average at the end {load}')
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == '__main__':
    main()

"""Benchmark: a full-waveform inversion on the Marmousi-like model — geoinversion's trust-region L-BFGS (in this process,
and on a Dask LocalCluster of 2 workers) against Deepwave's FWI recipe (PyTorch's L-BFGS with a strong-Wolfe line search on
Deepwave's propagator), for the same number of gradient evaluations, in one run.

Each inverts data its own propagator synthesised from the true model (so neither carries the other's modelling error),
low-passed below --fmax with the same causal Butterworth filter applied to data and wavelet; the same starting model
(the true model smoothed by a Gaussian of --sigma m, water kept); velocities bounded to [1450, 4700] m/s (Deepwave: the
model clamped in its forward). geoinversion preconditions its gradient as its description says (source cut, clip,
smoothing in wavelengths, depth scaling, water mask); Deepwave's recipe uses the raw gradient.

Deepwave and PyTorch are not project dependencies; they live in the benchmark's own environment (see bench/wave/bench.py):

    python3 -m venv bench/.venv-wave
    bench/.venv-wave/bin/pip install torch==2.13.0 deepwave "tensorflow==2.21.*" "numba>=0.60" scipy pydantic xarray matplotlib tqdm dask distributed segyio
    bench/.venv-wave/bin/pip install -e . --no-deps
    bench/.venv-wave/bin/python bench/fwi.py [--events 16] [--evaluations 8]

Columns: gradient evaluations (each a forward and an adjoint simulation of every event), forward-only evaluations,
relative model error ||v - v_true|| / ||v_true|| at the start and the end, and seconds per iteration (per gradient
evaluation: an accepted iteration for geoinversion, an L-BFGS function evaluation for Deepwave).
"""
import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import numpy as np


def description(a, scheduler):
    return {'name': 'bench', 'true_model': {'generator': 'marmousi_like', 'nz': a.nz, 'nx': a.nx, 'dx': a.dx},
            'starting_model': {'smooth': a.sigma},
            'acquisition': {'dt': a.dt, 'nt': a.nt, 'sources': {'n': a.events, 'depth': 2 * a.dx}, 'receivers': {'n': a.nx // 2, 'depth': 2 * a.dx},
                            'wavelet': {'freq': a.freq}, 'pml_width': 20},
            'events': {'validation': 0.0, 'test': 0.0}, 'bands': [{'fmax': a.fmax, 'iterations': a.evaluations}],
            'preconditioning': {'source_cut_radius': 5 * a.dx}, 'validation_every': 1000, 'scheduler': scheduler, 'n_workers': 2}


def ours(a, scheduler, folder):
    from geoinversion.fwi.inversion import invert
    t0 = time.perf_counter()
    run = invert(description(a, scheduler), folder / f'ours_{scheduler or "local"}', progress=False)
    wall = time.perf_counter() - t0
    rep = json.loads((run / 'report.json').read_text())
    import pandas as pd
    h = pd.read_csv(run / 'misfit.csv')
    acc = h[h['accepted'] & (h['iteration'] > 0)]
    per_iter = float(np.diff(h.loc[h['accepted'], 'seconds'].values).mean()) if len(acc) else float('nan')
    n_events = rep['events']['training']
    return {'gradient evaluations': rep['counts']['adjoint'] // n_events, 'forward-only evaluations': rep['counts']['forward'] // n_events,
            'model error, start': rep['model_error']['start'], 'model error, final': rep['model_error']['final'],
            's per iteration': per_iter, 'wall (s)': wall}


def deepwave_run(a):
    import torch, deepwave
    from geoinversion.fwi.problem import load_problem
    from geoinversion.fwi.misfits import lowpass
    torch.set_num_threads(os.cpu_count())
    p = load_problem(description(a, 'serial'))
    ns = len(p.sources)
    sloc = torch.tensor(p.sources, dtype=torch.long)[:, None, :]
    rloc = torch.tensor(p.receivers, dtype=torch.long)[None].repeat(ns, 1, 1)
    w = lowpass(p.wavelet(), a.fmax, a.dt)
    amp = torch.tensor(w)[None, None].repeat(ns, 1, 1)
    lo, hi = p.description.bounds
    def fwd(v, sl):   # the data of the shots in slice sl
        return deepwave.scalar(v, a.dx, a.dt, source_amplitudes=amp[sl], source_locations=sloc[sl], receiver_locations=rloc[sl],
                               accuracy=8, pml_width=20, pml_freq=a.freq, max_vel=hi)[-1]
    batches = [slice(i, i + a.shot_batch) for i in range(0, ns, a.shot_batch)]
    with torch.no_grad(): obs = torch.cat([fwd(torch.tensor(p.true.values), sl) for sl in batches])
    v = torch.tensor(p.start.values.copy(), requires_grad=True)
    opt = torch.optim.LBFGS([v], lr=1.0, max_iter=a.evaluations, max_eval=a.evaluations, history_size=15, line_search_fn='strong_wolfe',
                            tolerance_grad=0, tolerance_change=0)
    evals = [0]
    def closure():   # shots in batches, gradients summed (Deepwave's examples do so: all wavefields at once do not fit in memory)
        opt.zero_grad()
        total = 0.0
        for sl in batches:
            loss = 0.5 * ((fwd(torch.clamp(v, lo, hi), sl) - obs[sl]) ** 2).sum()
            loss.backward(); total += float(loss.detach())
        evals[0] += 1
        return torch.tensor(total, dtype=v.dtype)
    t0 = time.perf_counter()
    opt.step(closure)
    wall = time.perf_counter() - t0
    vf = torch.clamp(v, lo, hi).detach().numpy()
    err = lambda m: float(np.linalg.norm(m - p.true.values) / np.linalg.norm(p.true.values))
    return {'gradient evaluations': evals[0], 'forward-only evaluations': 0, 'model error, start': err(p.start.values),
            'model error, final': err(vf), 's per iteration': wall / max(evals[0], 1), 'wall (s)': wall}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--nz', type=int, default=150); ap.add_argument('--nx', type=int, default=450); ap.add_argument('--dx', type=float, default=10.0)
    ap.add_argument('--events', type=int, default=16); ap.add_argument('--evaluations', type=int, default=8)
    ap.add_argument('--nt', type=int, default=2000); ap.add_argument('--dt', type=float, default=0.001)
    ap.add_argument('--freq', type=float, default=8.0); ap.add_argument('--fmax', type=float, default=6.0)
    ap.add_argument('--sigma', type=float, default=100.0)
    ap.add_argument('--shot-batch', type=int, default=4, help="Deepwave's shots per backward pass (memory)")
    ap.add_argument('--skip-deepwave', action='store_true')
    a = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix='bench_fwi_'))
    rows = {}
    try:
        rows['geoinversion, in this process'] = ours(a, 'serial', folder)
        rows['geoinversion, LocalCluster 2 workers'] = ours(a, None, folder)
        if not a.skip_deepwave: rows['Deepwave + torch L-BFGS'] = deepwave_run(a)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    keys = list(next(iter(rows.values())))
    print(f'\nMarmousi-like {a.nz} x {a.nx} cells of {a.dx:g} m, {a.events} events, nt {a.nt}, below {a.fmax:g} Hz, budget {a.evaluations} gradient evaluations\n')
    print('| run | ' + ' | '.join(keys) + ' |'); print('|---|' + '---:|' * len(keys))
    for name, r in rows.items():
        print(f'| {name} | ' + ' | '.join(f'{r[k]:.4g}' if isinstance(r[k], float) else str(r[k]) for k in keys) + ' |')
    s, d = rows['geoinversion, in this process'], rows['geoinversion, LocalCluster 2 workers']
    print(f"\nDask overhead: LocalCluster / in this process, seconds per iteration: {d['s per iteration'] / s['s per iteration']:.3f}")
    if 'Deepwave + torch L-BFGS' in rows:
        w = rows['Deepwave + torch L-BFGS']
        print(f"geoinversion / Deepwave: model error {s['model error, final'] / w['model error, final']:.3f}, "
              f"seconds per iteration {min(s['s per iteration'], d['s per iteration']) / w['s per iteration']:.3f}")


if __name__ == '__main__':
    main()

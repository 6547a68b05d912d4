"""Benchmark: 2D acoustic forward modelling and gradient — geoinversion (TensorFlow) against
Deepwave (PyTorch) and Devito, solving the same problem in the same run.

Set-ups: OpenFWI (70x70 cells of 10 m, dt 1 ms, 1000 steps, 15 Hz Ricker, 5 sources, 70
receivers at the surface) and a large one (300x900 cells, 2000 steps, 1 source). All use
8th-order space, 2nd-order time, a 20-cell absorbing layer, float32. Cell updates are counted
on the model grid (without the absorbing layer), so padding choices do not inflate a rate.

Devito and Deepwave are not project dependencies; they live in the benchmark's own
environment:

    python3 -m venv bench/.venv-wave
    bench/.venv-wave/bin/pip install torch==2.13.0 deepwave devito "tensorflow==2.21.*" scipy pydantic xarray matplotlib tqdm
    bench/.venv-wave/bin/pip install -e . --no-deps
    bench/.venv-wave/bin/python bench/wave/bench.py [--repeat 3] [--skip-large]
"""
import argparse
import math
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import numpy as np

ORDER, PML = 8, 20


def setup(nz, nx, nt, n_src, n_rec, dx=10.0, dt=0.001, freq=15.0, seed=0):
    "A smooth random-ish velocity model and an acquisition along the surface."
    rng = np.random.default_rng(seed)
    z = np.linspace(0, 1, nz)[:, None]
    v = (1500 + 2500 * z + 150 * rng.standard_normal((1, nx)).cumsum(1) / math.sqrt(nx)).astype(np.float32)
    v = np.clip(np.broadcast_to(v, (nz, nx)), 1500, 4500).astype(np.float32)
    src = np.stack([np.full(n_src, 1), np.round(np.linspace(0, nx - 1, n_src)).astype(int)], -1)
    rec = np.stack([np.full(n_rec, 1), np.round(np.linspace(0, nx - 1, n_rec)).astype(int)], -1)
    t = np.arange(nt) * dt - 1.5 / freq
    a = (math.pi * freq * t) ** 2
    w = ((1 - 2 * a) * np.exp(-a)).astype(np.float32)
    return dict(v=v, src=src, rec=rec, w=w, dx=dx, dt=dt, nt=nt)


def timed(fn, repeat):
    fn()                                   # warm-up: compilation, allocation
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter(); fn(); best = min(best, time.perf_counter() - t0)
    return best


# ---------------------------------------------------------------- geoinversion
def ours(p, gradient=False):
    import tensorflow as tf
    from geoinversion.wave.propagator import propagate, misfit_and_gradient
    v = tf.constant(p['v'][None])
    if not gradient:
        return lambda: np.asarray(propagate(v, p['dx'], p['dt'], p['nt'], p['src'], p['rec'], p['w'], order=ORDER, pml_width=PML))
    obs = np.asarray(propagate(v * 1.02, p['dx'], p['dt'], p['nt'], p['src'], p['rec'], p['w'], order=ORDER, pml_width=PML))
    return lambda: misfit_and_gradient(v, obs, p['dx'], p['dt'], p['nt'], p['src'], p['rec'], p['w'], order=ORDER, pml_width=PML)


# ---------------------------------------------------------------- Deepwave
def deepwave_fn(p, gradient=False):
    import torch, deepwave
    torch.set_num_threads(os.cpu_count())
    v = torch.tensor(p['v'], requires_grad=gradient)
    ns = len(p['src'])
    sloc = torch.tensor(p['src'], dtype=torch.long)[:, None, :]
    rloc = torch.tensor(p['rec'], dtype=torch.long)[None].repeat(ns, 1, 1)
    amp = torch.tensor(p['w'])[None, None].repeat(ns, 1, 1)
    def fwd():
        return deepwave.scalar(v, p['dx'], p['dt'], source_amplitudes=amp, source_locations=sloc, receiver_locations=rloc,
                               accuracy=ORDER, pml_width=PML)[-1]
    if not gradient: return lambda: fwd().detach()
    with torch.no_grad(): obs = fwd() * 1.0
    def fg():
        v.grad = None
        loss = 0.5 * ((fwd() - obs * 1.01) ** 2).sum(); loss.backward(); return v.grad
    return fg


# ---------------------------------------------------------------- Devito
def devito_fn(p):
    from devito import Grid, TimeFunction, Function, SparseTimeFunction, Eq, Operator, solve, configuration
    configuration['log-level'] = 'ERROR'
    nz, nx = p['v'].shape
    shape = (nz + 2 * PML, nx + 2 * PML)
    grid = Grid(shape=shape, extent=((shape[0] - 1) * p['dx'], (shape[1] - 1) * p['dx']))
    vel = Function(name='vel', grid=grid, space_order=ORDER)
    vel.data[:] = np.pad(p['v'], PML, mode='edge')
    damp = Function(name='damp', grid=grid, space_order=0)
    d = np.zeros(shape, np.float32)
    ramp = (np.arange(PML, 0, -1) / PML) ** 2 * 3 * math.log(1000) * 4500 / (2 * PML * p['dx'])
    for ax in (0, 1):
        idx = [slice(None)] * 2
        for i in range(PML):
            idx[ax] = i; d[tuple(idx)] = np.maximum(d[tuple(idx)], ramp[i])
            idx[ax] = shape[ax] - 1 - i; d[tuple(idx)] = np.maximum(d[tuple(idx)], ramp[i])
    damp.data[:] = d
    u = TimeFunction(name='u', grid=grid, time_order=2, space_order=ORDER)
    nt = p['nt']
    src = SparseTimeFunction(name='src', grid=grid, npoint=1, nt=nt)
    rec = SparseTimeFunction(name='rec', grid=grid, npoint=len(p['rec']), nt=nt)
    rec.coordinates.data[:] = (p['rec'] + PML) * p['dx']
    pde = u.dt2 - vel ** 2 * u.laplace + damp * u.dt
    stencil = Eq(u.forward, solve(pde, u.forward))
    op = Operator([stencil] + src.inject(field=u.forward, expr=src * grid.stepping_dim.spacing ** 2 * vel ** 2)
                  + rec.interpolate(expr=u))
    def run():
        for s in p['src']:
            u.data[:] = 0
            src.coordinates.data[:] = (np.asarray(s)[None] + PML) * p['dx']
            src.data[:, 0] = p['w']
            op.apply(dt=p['dt'])
        return rec.data
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--skip-large', action='store_true')
    args = ap.parse_args()
    cases = [('OpenFWI 70x70, 1000 steps, 5 shots', setup(70, 70, 1000, 5, 70))]
    if not args.skip_large: cases.append(('300x900, 2000 steps, 1 shot', setup(300, 900, 2000, 1, 300)))
    print(f"\n{os.cpu_count()} CPU cores; order {ORDER}, absorbing layer {PML} cells, float32\n")
    print('| set-up | engine | forward (s) | cell-updates/s | vs fastest other | forward+gradient (s) | gradient/forward |')
    print('|---|---|---:|---:|---:|---:|---:|')
    for name, p in cases:
        cells = p['v'].size * p['nt'] * len(p['src'])
        rows = {}
        for engine, fwd, fg in (('geoinversion (TF/XLA)', lambda: ours(p), lambda: ours(p, True)),
                                ('Deepwave (PyTorch)', lambda: deepwave_fn(p), lambda: deepwave_fn(p, True)),
                                ('Devito', lambda: devito_fn(p), None)):
            try:
                tf_ = timed(fwd(), args.repeat)
                tg = timed(fg(), args.repeat) if fg else float('nan')
                rows[engine] = (tf_, tg)
            except Exception as e:
                print(f'| {name} | {engine} | failed: {type(e).__name__}: {str(e)[:80]} | | | | |')
        others = [t for e, (t, _) in rows.items() if not e.startswith('geoinversion')]
        fastest_other = min(others) if others else float('nan')
        for engine, (t, g) in rows.items():
            ratio = fastest_other / t if engine.startswith('geoinversion') else fastest_other / t
            print(f'| {name} | {engine} | {t:.3f} | {cells / t:.3e} | {ratio:.2f}x | {g:.3f} | {g / t:.2f} |')


if __name__ == '__main__':
    main()

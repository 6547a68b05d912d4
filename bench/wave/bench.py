"""Benchmark: 2D acoustic forward modelling and gradient — geoinversion (TensorFlow) against
Deepwave (PyTorch) and Devito, solving the same problem in the same run.

Devito runs twice: with the same C-PML as ours written as Devito equations (the same problem: its
shot gathers agree with ours to a correlation of 1.0000), and with a plain damping sponge (a
cheaper, different problem, shown for reference). Deepwave uses its own C-PML profile.

Set-ups: OpenFWI (70x70 cells of 10 m, dt 1 ms, 1000 steps, 15 Hz Ricker, 5 sources, 70
receivers at the surface) and a large one (300x900 cells, 2000 steps, 1 source). All use
8th-order space, 2nd-order time, a 20-cell absorbing layer, float32. Cell updates are counted
on the model grid (without the absorbing layer), so padding choices do not inflate a rate.

Devito and Deepwave are not project dependencies; they live in the benchmark's own
environment:

    python3 -m venv bench/.venv-wave
    bench/.venv-wave/bin/pip install torch==2.13.0 deepwave devito "tensorflow==2.21.*" "numba>=0.60" scipy pydantic xarray matplotlib tqdm
    bench/.venv-wave/bin/pip install -e . --no-deps
    bench/.venv-wave/bin/python bench/wave/bench.py [--repeat 3] [--skip-large]

Every time is the best of --repeat runs after one warm-up run. `--rounds N` first compares the forward runs of geoinversion and
Deepwave interleaved, N rounds of (ours, theirs) on each set-up, and prints every round's ratio: on a shared machine the
load changes between two engines timed one after the other (the order alternates from round to round), and the goal (ours at
least as fast) must hold in every round. The Numba engine keeps its keep-all
gradient buffer between runs (fresh memory costs a page fault per page), so its default row is what
repeated gradients cost, as in an inversion; the "as a first run" row frees that buffer before each
run and shows what the first gradient of a given size costs.

Why the XLA engine is slower than the Numba kernels on a CPU, kernel by kernel: bench/wave/kernels.py.
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
    return dict(v=v, src=src, rec=rec, w=w, dx=dx, dt=dt, nt=nt, freq=freq)


def timed(fn, repeat):
    fn()                                   # warm-up: compilation, allocation
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter(); fn(); best = min(best, time.perf_counter() - t0)
    return best


# ---------------------------------------------------------------- geoinversion
def ours(p, gradient=False, keep_all=False, engine='numba', fresh=False):
    """`engine`: 'numba' (the CPU kernels, what `engine='auto'` runs on a CPU) or 'xla'. `keep_all`: the gradient keeps
    every step's pressure whatever its size (default: only if it fits in STORE_BYTES, 3 GiB). `fresh`: free the Numba
    engine's reused keep-all buffer before each run, so that every run pays the page faults of a first run."""
    import tensorflow as tf
    from geoinversion.wave.propagator import propagate, misfit_and_gradient
    v = tf.constant(p['v'][None])
    if not gradient:
        return lambda: np.asarray(propagate(v, p['dx'], p['dt'], p['nt'], p['src'], p['rec'], p['w'], order=ORDER, pml_width=PML,
                                               engine=engine))
    obs = np.asarray(propagate(v * 1.02, p['dx'], p['dt'], p['nt'], p['src'], p['rec'], p['w'], order=ORDER, pml_width=PML, engine=engine))
    k = (p['nt'] if keep_all is True else keep_all) if keep_all else None
    from geoinversion.wave.kernels import release_workspace
    def fg():
        if fresh: release_workspace()
        return misfit_and_gradient(v, obs, p['dx'], p['dt'], p['nt'], p['src'], p['rec'], p['w'], order=ORDER, pml_width=PML,
                                   checkpoint_every=k, engine=engine)[1].numpy()
    return fg


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
                               accuracy=ORDER, pml_width=PML, pml_freq=p['freq'])[-1]
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
    return devito_shots(p, op, [u], src, rec)


def devito_shots(p, op, fields, src, rec):
    "A function that runs a Devito operator once per shot (fields zeroed first) and returns the gathers (S, nt, R)."
    def run():
        out = []
        for s in p['src']:
            for f in fields: f.data[:] = 0
            src.coordinates.data[:] = (np.asarray(s)[None] + PML) * p['dx']
            src.data[:, 0] = p['w']
            op.apply(dt=p['dt'])
            out.append(np.array(rec.data))
        return np.stack(out)
    return run


def devito_cpml_fn(p):
    """Devito solving our problem: the same C-PML (auxiliary fields psi, zeta on each axis, the same
    coefficients from geoinversion's `pml_coefficients`), written as Devito equations on the full grid."""
    from devito import Grid, TimeFunction, Function, SparseTimeFunction, Eq, Operator, configuration
    from geoinversion.wave.propagator import pml_coefficients, wavelet_band
    configuration['log-level'] = 'ERROR'
    nz, nx = p['v'].shape
    shape = (nz + 2 * PML, nx + 2 * PML)
    grid = Grid(shape=shape, extent=((shape[0] - 1) * p['dx'], (shape[1] - 1) * p['dx']))
    z, x = grid.dimensions
    vel = Function(name='vel', grid=grid, space_order=ORDER)
    vel.data[:] = np.pad(p['v'], PML, mode='edge')
    a_, b_ = pml_coefficients(PML, p['dx'], p['dt'], float(p['v'].max()), wavelet_band(p['w'], p['dt'])[0])
    coef = {}
    for name, axis in (('z', 0), ('x', 1)):
        for key, arr in (('a', a_), ('b', b_)):
            prof = np.zeros(shape[axis], np.float32); prof[:PML] = arr[::-1]; prof[-PML:] = arr
            f = Function(name=f'{key}{name}', grid=grid, space_order=0)
            f.data[:] = prof[:, None] if axis == 0 else prof[None, :]
            coef[key + name] = f
    u = TimeFunction(name='u', grid=grid, time_order=2, space_order=ORDER)
    aux = {n: TimeFunction(name=n, grid=grid, time_order=1, space_order=ORDER) for n in ('psix', 'zetax', 'psiz', 'zetaz')}
    dt = grid.stepping_dim.spacing
    # Devito's first grid dimension (its 'x', derivative .dx) is our z (axis 0); its second ('y', .dy) is our x
    eqs = [Eq(aux['psiz'].forward, coef['bz'] * aux['psiz'] + coef['az'] * u.dx),
           Eq(aux['psix'].forward, coef['bx'] * aux['psix'] + coef['ax'] * u.dy),
           Eq(aux['zetaz'].forward, coef['bz'] * aux['zetaz'] + coef['az'] * (u.dx2 + aux['psiz'].forward.dx)),
           Eq(aux['zetax'].forward, coef['bx'] * aux['zetax'] + coef['ax'] * (u.dy2 + aux['psix'].forward.dy)),
           Eq(u.forward, 2 * u - u.backward + dt ** 2 * vel ** 2 * (u.dx2 + u.dy2 + aux['psiz'].forward.dx + aux['zetaz'].forward
                                                                   + aux['psix'].forward.dy + aux['zetax'].forward))]
    nt = p['nt']
    src = SparseTimeFunction(name='src', grid=grid, npoint=1, nt=nt)
    rec = SparseTimeFunction(name='rec', grid=grid, npoint=len(p['rec']), nt=nt)
    rec.coordinates.data[:] = (p['rec'] + PML) * p['dx']
    op = Operator(eqs + src.inject(field=u.forward, expr=src * dt ** 2 * vel ** 2 / p['dx'] ** 2) + rec.interpolate(expr=u))
    return devito_shots(p, op, [u, *aux.values()], src, rec)


def agreement(ref, other):
    "|correlation| of two engines' receiver data: the same up to a sign and a scale (Deepwave's source convention differs)."
    a, b = np.asarray(ref, np.float64).ravel(), np.asarray(other, np.float64).ravel()
    return abs(float(a @ b / math.sqrt((a @ a) * (b @ b))))


def rounds(cases, n, repeat):
    "Forward runs of geoinversion and Deepwave interleaved: n rounds of (ours, Deepwave), each the best of `repeat`; a table of every round."
    print(f"\nForward runs interleaved, {n} rounds, each time the best of {repeat}; ratio = Deepwave's time / ours (>= 1: ours is faster)\n")
    print('| set-up | round | geoinversion (s) | Deepwave (s) | ratio |')
    print('|---|---:|---:|---:|---:|')
    worst = {}
    for name, p in cases:
        f, g = ours(p), deepwave_fn(p)
        f(); g()
        for r in range(n):   # the order alternates (ours first, then theirs first): a load that drifts through a round favours neither
            if r % 2 == 0: a, b = timed(f, repeat), timed(g, repeat)
            else: b, a = timed(g, repeat), timed(f, repeat)
            worst[name] = min(worst.get(name, math.inf), b / a)
            print(f'| {name} | {r + 1} | {a:.3f} | {b:.3f} | {b / a:.2f}x |', flush=True)
    for name, w in worst.items(): print(f'\n{name}: lowest ratio over {n} rounds {w:.2f}x')


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--skip-large', action='store_true')
    ap.add_argument('--rounds', type=int, default=0, help='first, N rounds of forward runs of ours and Deepwave interleaved')
    ap.add_argument('--rounds-only', action='store_true', help='only the interleaved rounds, not the table of every engine')
    args = ap.parse_args()
    cases = [('OpenFWI 70x70, 1000 steps, 5 shots', setup(70, 70, 1000, 5, 70))]
    if not args.skip_large: cases.append(('300x900, 2000 steps, 1 shot', setup(300, 900, 2000, 1, 300)))
    if args.rounds: rounds(cases, args.rounds, args.repeat)
    if args.rounds_only: return
    print(f"\n{os.cpu_count()} CPU cores; order {ORDER}, absorbing layer {PML} cells, float32")
    print("'same problem': the same C-PML; 'agreement': correlation of the shot gathers with geoinversion's;")
    print("the ratio is the fastest other same-problem engine's time over this engine's time\n")
    print('| set-up | engine | same problem | agreement | forward (s) | cell-updates/s | fastest other / this | forward+gradient (s) | gradient/forward |')
    print('|---|---|---|---:|---:|---:|---:|---:|---:|')
    for name, p in cases:
        cells = p['v'].size * p['nt'] * len(p['src'])
        rows, ref = {}, None
        for engine, same, fwd, fg in (('geoinversion, Numba kernels (default on a CPU)', True, lambda: ours(p), lambda: ours(p, True)),
                                      ('geoinversion, Numba, as a first run (buffer freed before each)', True, lambda: ours(p),
                                       lambda: ours(p, True, fresh=True)),
                                      ('geoinversion, Numba, checkpoints every sqrt(nt) steps', True, lambda: ours(p),
                                       lambda: ours(p, True, keep_all=round(math.sqrt(p['nt'])))),
                                      ('geoinversion, TF/XLA', True, lambda: ours(p, engine='xla'), lambda: ours(p, True, engine='xla')),
                                      ('Deepwave (PyTorch)', True, lambda: deepwave_fn(p), lambda: deepwave_fn(p, True)),
                                      ('Devito, C-PML', True, lambda: devito_cpml_fn(p), None),
                                      ('Devito, damping sponge', False, lambda: devito_fn(p), None)):
            try:
                f = fwd()
                out = np.asarray(f())   # (S, nt, R); Deepwave gives (S, R, nt), ours (B, S, nt, R)
                out = out.transpose(0, 2, 1) if engine.startswith('Deepwave') else out.reshape(len(p['src']), p['nt'], -1)
                ref = out if ref is None else ref
                tf_ = timed(f, args.repeat)
                tg = timed(fg(), args.repeat) if fg else float('nan')
                rows[engine] = (same, agreement(ref, out), tf_, tg)
            except Exception as e:
                print(f'| {name} | {engine} | failed: {type(e).__name__}: {str(e)[:80]} | | | | | | |')
        others = [t for e, (same, _, t, _) in rows.items() if same and not e.startswith('geoinversion')]
        fastest_other = min(others) if others else float('nan')
        for engine, (same, agree, t, g) in rows.items():
            print(f"| {name} | {engine} | {'yes' if same else 'no'} | {agree:.4f} | {t:.3f} | {cells / t:.3e} | "
                  f"{fastest_other / t:.2f}x | {g:.3f} | {g / t:.2f} |")


if __name__ == '__main__':
    main()

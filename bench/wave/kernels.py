"""Where the forward time goes: how XLA:CPU compiles the time step, measured kernel by kernel.

`bench/wave/bench.py` shows geoinversion's forward at about half Deepwave's speed on this CPU. This
benchmark isolates why. It times, per time step and in the same run:

- geoinversion's full step (C-PML on four sides) and Deepwave's full step (its own C-PML);
- the bare 8th-order Laplacian update with no absorbing layer, in the layout the propagator uses
  (a 4-D (B, S, Nz, Nx) state padded each step) and in a flat layout (the state as one row-major
  vector with M zero guard columns per row, so both stencil axes are constant offsets of a 1-D
  array), each with one and two steps per loop iteration (two steps let XLA swap p and p_old
  without copying them);
- the flat update plus stand-ins for the PML corrections (band-sized state updated each step and
  added back on the full grid), added in the ways XLA offers: zero-padding along rows (z bands),
  zero-padding along columns (x bands, also behind an optimization barrier), dynamic-update-slice,
  and a windowed scatter; and, with no injection at all, x memory fields kept on the whole grid
  (zero outside the bands, updated with full-grid coefficient arrays); and the grid split into column
  blocks stored apart, the interior updated by the bare kernel with its halo columns concatenated
  from the x band blocks (stand-ins) when its padded input is built; and the flat state viewed as
  (S, Nz, Kb, w) column blocks, so that every computed array has that shape and the x bands are whole
  blocks added back by a pad along the block axis (the one structure found that keeps both the
  update and the band injection vectorised).

Two findings about XLA:CPU that the propagator must respect (measured on the column-block prototype,
branch `wave-column-blocks`): a fused loop whose *output* is the flat vector but whose operands are
blocked (or broadcast along rows) is emitted as scalar code, because each index is delinearised; and
kernels that share no buffer are run concurrently by the runtime's thunk executor, which on two
cores oversubscribes its thread pool (one step went from 160 to 950 microseconds; ordering the
z-band kernels after the x-band ones, or `--xla_cpu_enable_concurrency_optimized_scheduler=false`,
removes it).

The bare flat kernels are checked against the padded 4-D kernel on a point source (the recorded
traces must agree to float32 rounding), so the fast layout computes the same thing.

    bench/.venv-wave/bin/python bench/wave/kernels.py        # Deepwave row only if it is installed
    .venv/bin/python bench/wave/kernels.py
"""
import math
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import numpy as np
import tensorflow as tf
from tensorflow.compiler.tf2xla.python import xla
from tensorflow.compiler.xla import xla_data_pb2

from geoinversion.wave.propagator import D1, D2, propagate, ricker

ORDER, M, BAND = 8, 4, 24          # 8th order; band = 20-cell PML + M model cells, per side
A2 = [float(x) for x in D2[ORDER]]
A1 = [float(x) for x in D1[ORDER]]
SETUPS = {'OpenFWI (5 shots, 110x110 padded, 1000 steps)': (5, 110, 110, 1000),
          '300x900 (1 shot, 340x940 padded, 2000 steps)': (1, 340, 940, 2000)}


def best_of(fn, repeat=3):
    fn()
    t = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter(); fn(); t = min(t, time.perf_counter() - t0)
    return t


def padded_4d(S, Nz, Nx, nt, unroll=1):
    "The bare update in the propagator's layout: (S, Nz, Nx) state, zero-padded by M on both axes every step."
    @tf.function(jit_compile=True)
    def run(src, amp):
        def one(p, po, k):
            P = tf.pad(p, [[0, 0], [M, M], [M, M]])
            lap = 2 * A2[0] * p
            for j in range(1, M + 1):
                lap += A2[j] * (P[:, M + j:M + j + Nz, M:M + Nx] + P[:, M - j:M - j + Nz, M:M + Nx]
                                + P[:, M:M + Nz, M + j:M + j + Nx] + P[:, M:M + Nz, M - j:M - j + Nx])
            return 2 * p - po + 0.1 * lap + amp[k] * src, p
        def body(k, p, po, rec):
            for u in range(unroll): p, po = one(p, po, k + u)
            return k + unroll, p, po, rec.write(k // unroll, p[:, M + 1, :])
        z = tf.zeros([S, Nz, Nx])
        return tf.while_loop(lambda k, *_: k < nt, body, (0, z, z, tf.TensorArray(tf.float32, nt // unroll)))[-1].stack()
    return run


def flat(S, Nz, Nx, nt, unroll=1, extra=None):
    """The bare update in the flat layout: rows of W = Nx + M (M zero guard columns), the state a (S, Nz*W) vector;
    `extra` adds stand-ins for the PML corrections."""
    W, L, E = Nx + M, Nz * (Nx + M), M * (Nx + M)
    dn = xla_data_pb2.ScatterDimensionNumbers(update_window_dims=[0, 1, 2], inserted_window_dims=[],
                                              scatter_dims_to_operand_dims=[1, 2], index_vector_dim=0)
    add = tf.function(lambda a, b: a + b).get_concrete_function(tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.float32))
    regions = [(0, 0, Nz, BAND), (0, Nx - BAND, Nz, BAND)]    # the two x bands (columns)

    @tf.function(jit_compile=True)
    def run(src, amp):
        c2 = tf.reshape(tf.pad(tf.fill([Nz, Nx], 0.1), [[0, 0], [0, M]]), [1, L])   # zero on the guard columns
        prof = np.zeros(W, np.float32); prof[:BAND] = prof[Nx - BAND:Nx] = 1
        ax, bx = [tf.constant(np.tile(prof * f, Nz)[None]) for f in (1e-3, 0.99)]   # full-grid coefficient arrays
        srcf = tf.reshape(tf.pad(src, [[0, 0], [0, 0], [0, M]]), [S, L])
        def one(p, po, bands, k):
            P = tf.pad(p, [[0, 0], [E, E]])
            lap = 2 * A2[0] * p
            for j in range(1, M + 1):
                lap += A2[j] * (P[:, E + j:E + j + L] + P[:, E - j:E - j + L] + P[:, E + j * W:E + j * W + L] + P[:, E - j * W:E - j * W + L])
            new = 2 * p - po + c2 * lap + amp[k] * srcf
            p2 = tf.reshape(p, [S, Nz, W])
            if extra == 'z bands: row padding':
                top, bot = [0.99 * b + 1e-3 * x for b, x in zip(bands, (p2[:, :BAND], p2[:, Nz - BAND:]))]
                corr = tf.pad(top, [[0, 0], [0, Nz - BAND], [0, 0]]) + tf.pad(bot, [[0, 0], [Nz - BAND, 0], [0, 0]])
                return new + tf.reshape(corr, [S, L]) * c2, p, (top, bot)
            if extra is None: return new, p, bands
            if extra == 'x fields on the full grid':   # psi_x, zeta_x stored everywhere (zero outside the bands): no injection
                psi, zeta = bands           # the lagged C-PML form: the derivative of the previous psi
                PS = tf.pad(psi, [[0, 0], [M, M]])
                dpsi = sum(A1[j - 1] * (PS[:, M + j:M + j + L] - PS[:, M - j:M - j + L]) for j in range(1, M + 1))
                dp = sum(A1[j - 1] * (P[:, E + j:E + j + L] - P[:, E - j:E - j + L]) for j in range(1, M + 1))
                zeta = bx * zeta + ax * (lap + dpsi)
                return new + c2 * (dpsi + zeta), p, (bx * psi + ax * dp, zeta)
            left, right = [0.99 * b + 1e-3 * p2[:, :, c:c + w] for b, (_, c, _, w) in zip(bands, regions)]
            new2 = tf.reshape(new, [S, Nz, W])
            if extra == 'x bands: column padding':
                new2 = new2 + tf.pad(left, [[0, 0], [0, 0], [0, W - BAND]]) + tf.pad(right, [[0, 0], [0, 0], [Nx - BAND, M]])
            elif extra == 'x bands: column padding behind an optimization barrier':
                pads = xla.optimization_barrier(tf.pad(left, [[0, 0], [0, 0], [0, W - BAND]]), tf.pad(right, [[0, 0], [0, 0], [Nx - BAND, M]]))
                new2 = new2 + pads[0] + pads[1]
            elif extra == 'x bands: dynamic-update-slice':
                for b, (r, c, h, w) in zip((left, right), regions):
                    new2 = xla.dynamic_update_slice(new2, new2[:, r:r + h, c:c + w] + b, [0, r, c])
            elif extra == 'x bands: windowed scatter':
                for b, (r, c, h, w) in zip((left, right), regions):
                    new2 = xla.scatter(new2, tf.constant([r, c], tf.int32), b, add, dn, indices_are_sorted=True)
            return tf.reshape(new2, [S, L]), p, (left, right)
        def body(k, p, po, bands, rec):
            for u in range(unroll): p, po, bands = one(p, po, bands, k + u)
            return k + unroll, p, po, bands, rec.write(k // unroll, tf.reshape(p, [S, Nz, W])[:, M + 1, :Nx])
        z = tf.zeros([S, L])
        bands = (tf.zeros([S, BAND, W]),) * 2 if extra and extra.startswith('z') else (tf.zeros([S, Nz, BAND]),) * 2
        if extra == 'x fields on the full grid': bands = (z, z)
        return tf.while_loop(lambda k, *_: k < nt, body, (0, z, z, bands, tf.TensorArray(tf.float32, nt // unroll)))[-1].stack()
    return run


def interior_block(S, Nz, Nx, nt):
    """Column blocks stored apart: the interior (all rows, the Nx - 2*BAND columns between the x bands) is a flat
    state updated by the bare kernel; its M halo columns each side are concatenated from the band blocks when its
    padded input is built (stand-in band blocks, updated each step). Two steps per loop iteration."""
    Wi = Nx - 2 * BAND
    W, L, E = Wi + 2 * M, Nz * (Wi + 2 * M), M * (Wi + 2 * M)

    @tf.function(jit_compile=True)
    def run(src, amp):
        srci = src[:, :, BAND:Nx - BAND]
        def one(I, Io, XL, XR, k):
            P = tf.pad(tf.reshape(tf.concat([XL[..., BAND - M:], I, XR[..., :M]], -1), [S, L]), [[0, 0], [E, E]])
            lap = 2 * A2[0] * P[:, E:E + L]
            for j in range(1, M + 1):
                lap += A2[j] * (P[:, E + j:E + j + L] + P[:, E - j:E - j + L] + P[:, E + j * W:E + j * W + L] + P[:, E - j * W:E - j * W + L])
            new = tf.reshape(2 * P[:, E:E + L] + 0.1 * lap, [S, Nz, W])[..., M:M + Wi] - Io + amp[k] * srci
            return new, I, 0.99 * XL + 1e-3 * I[..., :1], 0.99 * XR + 1e-3 * I[..., -1:]
        def body(k, I, Io, XL, XR, rec):
            for u in range(2): I, Io, XL, XR = one(I, Io, XL, XR, k + u)
            return k + 2, I, Io, XL, XR, rec.write(k // 2, I[:, M + 1, :])
        I, X = tf.zeros([S, Nz, Wi]), tf.zeros([S, Nz, BAND])
        return tf.while_loop(lambda k, *_: k < nt, body, (0, I, I, X, X, tf.TensorArray(tf.float32, nt // 2)))[-1].stack()
    return run


def block_layout(Nx, w):
    "Kb blocks of w per stored row, g1 + g2 >= M zero guard columns, each x band (BAND cells) inside the first or last block."
    Kb = -(-(Nx + M) // w)
    g = Kb * w - Nx
    return Kb, g // 2, g - g // 2, Kb >= 2 and g <= 2 * (w - BAND)


def column_blocks(S, Nz, Nx, nt, extra=None):
    """The flat update with the state viewed as (S, Nz, Kb, w): each stored row (guard columns included) cut into Kb
    blocks of w (the smallest multiple of 8 that holds an x band in the first and in the last block). Both stencil
    axes are still shifts of the flat vector, but every array the step computes has the 4-D shape, so the x bands
    are blocks 0 and Kb - 1 and are added back by padding along the block axis, not the innermost one.
    `extra`: 'x' adds the x-band stand-ins that way, 'xz' also the z bands (rows). Two steps per loop iteration."""
    w = next(w for w in range(8, Nx + 16, 8) if block_layout(Nx, w)[3])
    Kb, g1, g2, _ = block_layout(Nx, w)
    W = Kb * w; L, E = Nz * W, M * W

    @tf.function(jit_compile=True)
    def run(src, amp):
        c2 = tf.reshape(tf.pad(tf.fill([Nz, Nx], 0.1), [[0, 0], [g1, g2]]), [1, Nz, Kb, w])   # zero on the guard columns
        srcb = tf.reshape(tf.pad(src, [[0, 0], [0, 0], [g1, g2]]), [S, Nz, Kb, w])
        def one(p, po, bands, k):
            P = tf.pad(tf.reshape(p, [S, L]), [[0, 0], [E, E]])
            sh = lambda o: tf.reshape(P[:, E + o:E + o + L], [S, Nz, Kb, w])
            lap = 2 * A2[0] * p
            for j in range(1, M + 1):
                lap += A2[j] * (sh(j) + sh(-j) + sh(j * W) + sh(-j * W))
            if extra is None: return 2 * p - po + c2 * lap + amp[k] * srcb, p, bands
            left, right = [0.99 * b + 1e-3 * x for b, x in zip(bands[:2], (p[:, :, :1], p[:, :, -1:]))]
            corr = tf.pad(left, [[0, 0], [0, 0], [0, Kb - 1], [0, 0]]) + tf.pad(right, [[0, 0], [0, 0], [Kb - 1, 0], [0, 0]])
            new = (left, right)
            if extra == 'xz':
                top, bot = [0.99 * b + 1e-3 * x for b, x in zip(bands[2:], (p[:, :BAND], p[:, Nz - BAND:]))]
                corr += tf.pad(top, [[0, 0], [0, Nz - BAND], [0, 0], [0, 0]]) + tf.pad(bot, [[0, 0], [Nz - BAND, 0], [0, 0], [0, 0]])
                new += (top, bot)
            return 2 * p - po + c2 * (lap + corr) + amp[k] * srcb, p, new
        def body(k, p, po, bands, rec):
            for u in range(2): p, po, bands = one(p, po, bands, k + u)
            return k + 2, p, po, bands, rec.write(k // 2, tf.reshape(p, [S, Nz, W])[:, M + 1, g1:g1 + Nx])
        z = tf.zeros([S, Nz, Kb, w])
        bands = () if extra is None else (tf.zeros([S, Nz, 1, w]),) * 2 + ((tf.zeros([S, BAND, Kb, w]),) * 2 if extra == 'xz' else ())
        return tf.while_loop(lambda k, *_: k < nt, body, (0, z, z, bands, tf.TensorArray(tf.float32, nt // 2)))[-1].stack()
    return run


def ours_full(S, Nz, Nx, nt):
    "geoinversion's forward, the absorbing layer included: a model of (Nz - 40) x (Nx - 40) cells with a 20-cell PML."
    v = np.full((Nz - 40, Nx - 40), 2000.0, np.float32)
    src = np.stack([np.full(S, 1), np.round(np.linspace(0, Nx - 41, S)).astype(int)], -1)
    rec = np.stack([np.full(70, 1), np.round(np.linspace(0, Nx - 41, 70)).astype(int)], -1)
    w = ricker(15.0, 0.001, nt)
    return lambda: propagate(v, 10.0, 0.001, nt, src, rec, w, order=ORDER, pml_width=20).numpy()


def deepwave_full(S, Nz, Nx, nt):
    import torch, deepwave
    torch.set_num_threads(os.cpu_count())
    v = torch.full((Nz - 40, Nx - 40), 2000.0)
    sloc = torch.tensor(np.stack([np.full(S, 1), np.round(np.linspace(0, Nx - 41, S)).astype(int)], -1))[:, None]
    rloc = torch.tensor(np.stack([np.full(70, 1), np.round(np.linspace(0, Nx - 41, 70)).astype(int)], -1))[None].repeat(S, 1, 1)
    amp = torch.tensor(ricker(15.0, 0.001, nt), dtype=torch.float32)[None, None].repeat(S, 1, 1)
    return lambda: deepwave.scalar(v, 10.0, 0.001, source_amplitudes=amp, source_locations=sloc,
                                   receiver_locations=rloc, accuracy=ORDER, pml_width=20, pml_freq=15.0)[-1]


def main():
    print(f'{os.cpu_count()} CPU cores, float32, 8th order; microseconds per time step (best of 3); '
          "ratio: Deepwave's full step over this row's step (>= 1: as fast as Deepwave or faster)\n")
    print('| set-up | kernel | absorbing layer | us/step | Deepwave / this |')
    print('|---|---|---|---:|---:|')
    for name, (S, Nz, Nx, nt) in SETUPS.items():
        src = np.zeros((S, Nz, Nx), np.float32); src[np.arange(S), Nz // 2, np.linspace(M, Nx - M - 1, S).astype(int)] = 1
        src, amp = tf.constant(src), tf.constant(ricker(15.0, 0.001, nt) * 100, tf.float32)
        rows = []
        try: rows.append(('Deepwave full step', 'C-PML', deepwave_full(S, Nz, Nx, nt)))
        except ImportError: pass
        rows.append(('geoinversion full step', 'C-PML', ours_full(S, Nz, Nx, nt)))
        ref = padded_4d(S, Nz, Nx, nt)(src, amp).numpy()
        for label, unroll, fn in [('bare update, 4-D padded state', 1, padded_4d), ('bare update, 4-D padded state', 2, padded_4d),
                                  ('bare update, flat state', 1, flat), ('bare update, flat state', 2, flat)]:
            k = fn(S, Nz, Nx, nt, unroll)
            got = k(src, amp).numpy()
            err = np.abs(got - ref[unroll - 1::unroll]).max() / np.abs(ref).max()
            assert err < 1e-5, f'{label} x{unroll} disagrees with the padded kernel: {err:.1e}'
            rows.append((f'{label}, {unroll} step(s) per iteration', 'none', lambda k=k: k(src, amp).numpy()))
        for extra in ('z bands: row padding', 'x bands: column padding', 'x bands: column padding behind an optimization barrier', 'x bands: dynamic-update-slice', 'x bands: windowed scatter',
                      'x fields on the full grid'):
            k = flat(S, Nz, Nx, nt, 2, extra)
            rows.append((f'flat state, 2 steps per iteration, + {extra}', 'stand-in', lambda k=k: k(src, amp).numpy()))
        k = interior_block(S, Nz, Nx, nt)
        rows.append(('interior column block apart, halo columns concatenated from the x band blocks, 2 steps per iteration',
                     'stand-in', lambda k=k: k(src, amp).numpy()))
        k = column_blocks(S, Nz, Nx, nt)
        err = np.abs(k(src, amp).numpy() - ref[1::2]).max() / np.abs(ref).max()
        assert err < 1e-5, f'the column-block kernel disagrees with the padded kernel: {err:.1e}'
        rows.append(('bare update, state viewed as (S, Nz, Kb, w) column blocks, 2 steps per iteration', 'none', lambda k=k: k(src, amp).numpy()))
        for extra, what in (('x', 'x bands added by padding along the block axis'),
                            ('xz', 'x bands so, and z bands by padding along the row axis')):
            k = column_blocks(S, Nz, Nx, nt, extra)
            rows.append((f'the same + {what}', 'stand-in', lambda k=k: k(src, amp).numpy()))
        times = [(label, layer, best_of(fn) / nt * 1e6) for label, layer, fn in rows]
        dw = times[0][2] if times[0][0].startswith('Deepwave') else None
        for label, layer, us in times:
            print(f"| {name} | {label} | {layer} | {us:.1f} | {dw / us:.2f} |" if dw else f'| {name} | {label} | {layer} | {us:.1f} | |')


if __name__ == '__main__':
    main()

"""The Numba engine's kept-increment buffer is reused between gradient runs: a gradient must stay right while
another run happens before it is read (a persistent tape), and after the buffer is freed (issue: wave propagator)."""
import numpy as np
import tensorflow as tf

from geoinversion.wave.kernels import release_workspace
from geoinversion.wave.propagator import misfit_and_gradient, propagate, ricker

NZ, NX, NT, DX, DT = 30, 40, 200, 10.0, 0.001
KW = dict(dx=DX, dt=DT, nt=NT, sources=np.array([[3, 10], [3, 30]]), receivers=np.array([[2, x] for x in range(0, NX, 3)]),
          wavelet=ricker(15.0, DT, NT), order=8, pml_width=10, engine='numba')


def _model(seed):
    rng = np.random.default_rng(seed)
    return 2000 + 500 * np.linspace(0, 1, NZ)[:, None] + rng.uniform(-50, 50, (NZ, NX))


def test_kept_gradient_survives_other_runs():
    release_workspace()
    v = tf.constant(_model(0))                                     # float64: exact comparisons are meaningful
    obs = propagate(_model(1), **KW)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(v)
        J = 0.5 * tf.reduce_sum(tf.square(propagate(v, **KW) - obs))
    g1 = tape.gradient(J, v).numpy()
    for seed in (2, 3):                                            # other keep-all runs of the same size in between
        misfit_and_gradient(_model(seed), obs, **KW)
    g2 = tape.gradient(J, v).numpy()
    np.testing.assert_array_equal(g1, g2)                          # the tape's buffer was not handed out again
    _, ref = misfit_and_gradient(v, obs, checkpoint_every=17, **KW)   # recomputed segments: no kept buffer at all
    np.testing.assert_allclose(g1, ref.numpy(), rtol=0, atol=1e-12 * np.abs(g1).max())
    del tape
    release_workspace()
    _, g3 = misfit_and_gradient(v, obs, **KW)                      # a fresh buffer after the release
    np.testing.assert_allclose(g3.numpy(), g1, rtol=0, atol=1e-12 * np.abs(g1).max())

"""100 samples of every velocity family (20 under CI unless GEOINVERSION_SLOW=1), with the full
OpenFWI acquisition, generated on a Dask LocalCluster of 2 workers and read back in both layouts;
the `wave-dataset` command killed and resumed, and its papermill run against it."""
import json

import numpy as np
import pytest
from dask.distributed import LocalCluster

from conftest import ROOT, cli, kill_and_resume
from test_notebooks import skip_flags

from geoinversion.wave.datasets import generate, read_openfwi, read_sample_folders
from geoinversion.wave.models import OPENFWI_NAMES

FAMILIES = ['FlatVel-A', 'FlatVel-B', 'CurveVel-A', 'CurveVel-B', 'FlatFault-A', 'FlatFault-B', 'CurveFault-A', 'CurveFault-B']

@pytest.fixture(scope='module')
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c

def test_all_openfwi_names_covered():
    assert {f.lower() for f in FAMILIES} == set(OPENFWI_NAMES)

@pytest.mark.parametrize('family', FAMILIES)
def test_100_samples_on_two_dask_workers(tmp_path, cluster, family):
    out = tmp_path / family
    n = 20 if 'slow' in skip_flags() else 100   # the notebooks' rule: CI skips what is slow unless GEOINVERSION_SLOW=1
    s = generate({'family': family, 'n_samples': n, 'seed': 1, 'chunk': n // 4}, out, scheduler=cluster.scheduler_address, progress=False)
    assert s['samples'] == n and s['chunks'] == 4
    d1, m1 = read_openfwi(out)
    d2, m2 = read_sample_folders(out)
    assert d1.shape == (n, 5, 1000, 70) and m1.shape == (n, 1, 70, 70)
    np.testing.assert_array_equal(d1, d2); np.testing.assert_array_equal(m1[:, 0], m2)
    assert np.isfinite(d1).all() and (np.abs(d1).max(axis=(1, 2, 3)) > 0).all()
    assert m2.min() >= 1500 and m2.max() <= 4500
    assert len({m.tobytes() for m in m2}) == n            # n different models

SHORT = {'family': 'CurveVel-A', 'n_samples': 8, 'seed': 2, 'chunk': 1,
         'acquisition': {'nt': 400, 'n_sources': 3, 'n_receivers': 35, 'pml_width': 10}}

def test_command_killed_then_resumed_and_papermill_equal(tmp_path):
    """`geoinversion wave-dataset` SIGKILLed after its first chunks, run again: the dataset equals
    one generated in a single go by the papermill run; a changed description is refused by path."""
    desc = tmp_path / 'short.json'; desc.write_text(json.dumps(SHORT))
    args = ['wave-dataset', '--config', desc, '--out', tmp_path / 'cli', '--scheduler', 'local', '--n_workers', '2', '--quiet']
    done = lambda: len(list((tmp_path / 'cli' / 'openfwi').glob('model_*.npy'))) >= 2
    def killed():   # a killed generation: still 'running', only whole chunks and samples on disk
        assert json.loads((tmp_path / 'cli' / 'run.json').read_text())['status'] == 'running'
        for sample in (tmp_path / 'cli' / 'samples').glob('sample_*'):
            assert sorted(f.name for f in sample.iterdir()) == ['receiver_data_src_0.npy', 'receiver_data_src_1.npy', 'receiver_data_src_2.npy', 'vp_model.npy']
    kill_and_resume(args, done, between=killed)
    run = json.loads((tmp_path / 'cli' / 'run.json').read_text())
    assert run['status'] == 'finished' and len(run['starts']) == 2 and 0 < run['summary']['skipped_chunks'] < 8
    import papermill as pm
    pm.execute_notebook(str(ROOT / 'papermill_runs' / 'wave_dataset.ipynb'), str(tmp_path / 'pm.ipynb'),
                        parameters={'config': str(desc), 'out': str(tmp_path / 'pm'), 'scheduler': 'serial'}, progress_bar=False, kernel_name='python3')
    d1, m1 = read_openfwi(tmp_path / 'cli'); d2, m2 = read_openfwi(tmp_path / 'pm')
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_allclose(d1, d2, rtol=0, atol=1e-5 * np.abs(d2).max())
    assert json.loads((tmp_path / 'cli' / 'dataset.json').read_text()) == json.loads((tmp_path / 'pm' / 'dataset.json').read_text())
    desc.write_text(json.dumps({**SHORT, 'seed': 3}))
    (tmp_path / 'cli' / 'openfwi' / 'model_0003.npy').unlink()
    r = json.loads((tmp_path / 'cli' / 'run.json').read_text()); r['status'] = 'running'; (tmp_path / 'cli' / 'run.json').write_text(json.dumps(r))
    r = cli(*args, check=False)
    assert r.returncode == 2 and '$.seed' in r.stderr and 'Traceback' not in r.stderr, r.stderr

"""100 samples of every velocity family, with the full OpenFWI acquisition, generated on a Dask
LocalCluster of 2 workers and read back in both layouts (issue: waveform datasets)."""
import numpy as np
import pytest
from dask.distributed import LocalCluster

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
    s = generate({'family': family, 'n_samples': 100, 'seed': 1, 'chunk': 25}, out, scheduler=cluster.scheduler_address, progress=False)
    assert s['samples'] == 100 and s['chunks'] == 4
    d1, m1 = read_openfwi(out)
    d2, m2 = read_sample_folders(out)
    assert d1.shape == (100, 5, 1000, 70) and m1.shape == (100, 1, 70, 70)
    np.testing.assert_array_equal(d1, d2); np.testing.assert_array_equal(m1[:, 0], m2)
    assert np.isfinite(d1).all() and (np.abs(d1).max(axis=(1, 2, 3)) > 0).all()
    assert m2.min() >= 1500 and m2.max() <= 4500
    assert len({m.tobytes() for m in m2}) == 100          # 100 different models

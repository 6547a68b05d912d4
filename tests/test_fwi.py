"""The FWI stage as users run it: `geoinversion fwi` in real processes, killed with SIGKILL at three moments and
resumed to the same final model as an uninterrupted run; a task that fails once is posted again, one that always
fails names its event; a SLURM scheduler's job script; papermill against the CLI; bad descriptions, nothing written."""
import json
import os
from pathlib import Path

import numpy as np
import papermill as pm
import pytest
import xarray as xr

from conftest import ENV, ROOT, cli, kill_and_resume

TINY = {'name': 'tiny', 'true_model': {'generator': 'marmousi_like', 'nz': 24, 'nx': 60, 'dx': 25.0},
        'starting_model': {'smooth': 150.0},
        'acquisition': {'dt': 0.002, 'nt': 400, 'sources': {'n': 5, 'depth': 25.0}, 'receivers': {'n': 30, 'depth': 25.0},
                        'wavelet': {'freq': 6.0}, 'pml_width': 8},
        'events': {'validation': 0.2, 'test': 0.0}, 'bands': [{'fmax': 4.0, 'iterations': 2}, {'fmax': 8.0, 'iterations': 1}],
        'preconditioning': {'source_cut_radius': 50.0}, 'validation_every': 1, 'scheduler': 'serial'}

def final_model(run):
    last = sorted((Path(run) / 'models').glob('iter_*.nc'))[-1]
    with xr.open_dataarray(last) as da: return last.name, da.values.copy()

@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    "The uninterrupted run."
    tmp = tmp_path_factory.mktemp('fwi')
    (tmp / 'tiny.json').write_text(json.dumps(TINY))
    r = cli('fwi', '--config', tmp / 'tiny.json', '--out', tmp / 'ref', '--quiet')
    assert '# FWI report: tiny' in r.stdout
    return tmp

def with_env(**extra): return {**ENV, **extra}

def _resume_same(reference, tmp_path, ready, **hooks):
    run = tmp_path / 'killed'
    import conftest
    old = dict(conftest.ENV)
    conftest.ENV.update(hooks)
    try: kill_and_resume(['fwi', '--config', reference / 'tiny.json', '--out', run, '--quiet'], ready, timeout=600)
    finally: conftest.ENV.clear(); conftest.ENV.update(old)
    name, v = final_model(run)
    ref_name, ref = final_model(reference / 'ref')
    assert name == ref_name
    np.testing.assert_array_equal(v, ref)                           # the same bits
    rec = json.loads((run / 'run.json').read_text())
    assert rec['status'] == 'finished' and len(rec['starts']) == 2
    assert json.loads((run / 'report.json').read_text())['counts'] == json.loads((reference / 'ref' / 'report.json').read_text())['counts']
    return run

def test_sigkill_during_forward_tasks(reference, tmp_path):
    "Killed while the forward tasks of a trial model run (more forward results than the start's)."
    run = tmp_path / 'killed'
    ready = lambda: len(list((run / 'tasks').glob('forward_b0_*'))) > 4 + 1
    _resume_same(reference, tmp_path, ready)

def test_sigkill_during_smoothing(reference, tmp_path):
    "Killed while a smooth task runs (it waits 2 s so that the kill falls inside it)."
    run = tmp_path / 'killed'
    ready = lambda: (run / 'tasks' / '.running_smooth').exists() and len(list((run / 'tasks').glob('smooth_*'))) >= 1
    _resume_same(reference, tmp_path, ready, GEOINVERSION_FWI_PAUSE='smooth:2')

def test_sigkill_right_after_an_accepted_step(reference, tmp_path):
    "Killed the moment the first accepted model is written (before or just after its state is committed)."
    run = tmp_path / 'killed'
    _resume_same(reference, tmp_path, lambda: (run / 'models' / 'iter_0001.nc').exists())

def test_a_task_that_fails_once_is_posted_again(reference, tmp_path):
    env = with_env(GEOINVERSION_FWI_FAIL='adjoint:S001:1')
    import subprocess, sys
    exe = str(Path(sys.executable).parent / 'geoinversion')
    r = subprocess.run([exe, 'fwi', '--config', str(reference / 'tiny.json'), '--out', str(tmp_path / 'once'), '--quiet'],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    np.testing.assert_array_equal(final_model(tmp_path / 'once')[1], final_model(reference / 'ref')[1])
    assert len(list((tmp_path / 'once' / 'tasks' / '.failures').glob('adjoint_S001_*'))) == 1

def test_a_task_that_always_fails_names_its_event(reference, tmp_path):
    import subprocess, sys
    exe = str(Path(sys.executable).parent / 'geoinversion')
    r = subprocess.run([exe, 'fwi', '--config', str(reference / 'tiny.json'), '--out', str(tmp_path / 'always'), '--quiet'],
                       capture_output=True, text=True, env=with_env(GEOINVERSION_FWI_FAIL='forward:S003:-1'), timeout=600)
    assert r.returncode == 2 and 'the forward task of event S003 (band 0) failed 3 times' in r.stderr, r.stderr[-2000:]
    assert json.loads((tmp_path / 'always' / 'run.json').read_text())['status'] == 'failed'

def test_slurm_scheduler(reference, tmp_path):
    "A SLURM description: its job script holds what was asked; on a machine without sbatch, a clear error and no run folder."
    from geoinversion.fwi.problem import load_fwi_description
    from geoinversion.parallel import job_script
    slurm = {'kind': 'slurm', 'cores': 4, 'memory': '8GB', 'walltime': '04:00:00', 'queue': 'normal', 'account': 'fwi01',
             'jobs': 16, 'job_script_prologue': ['module load python']}
    d = load_fwi_description({**TINY, 'scheduler': slurm})
    script = job_script(d.scheduler)
    for line in ('#SBATCH -p normal', '#SBATCH -A fwi01', '#SBATCH -t 04:00:00', '#SBATCH --cpus-per-task=4', 'module load python'):
        assert line in script, (line, script)
    (tmp_path / 'slurm.json').write_text(json.dumps(slurm))
    r = cli('fwi', '--config', reference / 'tiny.json', '--out', tmp_path / 'x', '--scheduler', tmp_path / 'slurm.json', check=False)
    assert r.returncode == 2 and 'sbatch not found' in r.stderr and not (tmp_path / 'x').exists(), r.stderr[-2000:]

def test_papermill_equals_cli(reference, tmp_path):
    pm.execute_notebook(str(ROOT / 'papermill_runs' / 'fwi.ipynb'), str(tmp_path / 'fwi_out.ipynb'),
                        parameters={'config': str(reference / 'tiny.json'), 'out': str(tmp_path / 'pm')},
                        kernel_name='python3', cwd=str(ROOT), progress_bar=False)
    np.testing.assert_array_equal(final_model(tmp_path / 'pm')[1], final_model(reference / 'ref')[1])
    assert (tmp_path / 'pm' / 'misfit.csv').read_text() != ''

@pytest.mark.parametrize('change, message', [
    ({'misfit': {'name': 'l1'}}, '$.misfit.name: unknown misfit'),
    ({'optimizer': {'name': 'adam'}}, '$.optimizer.name: unknown optimizer'),
    ({'bands': [{'fmax': 8.0}, {'fmax': 4.0}]}, '$.bands[1].fmax: bands go from low to high'),
    ({'events': {'validation': ['S001'], 'test': ['S001']}}, 'an event is in both validation and test'),
    ({'acquisition': {**TINY['acquisition'], 'dt': 0.01}}, 'is unstable'),
    ({'starting_model': {'smooth': float('nan')}}, '$.starting_model.smooth'),
    ({'observed': {'file': 'recorded.npy'}}, '$.observed.file: the gathers do not match the acquisition'),
    ({'bounds': [1450.0, 4000.0]}, '$.bounds: the true model reaches 4500 m/s'),
])
def test_bad_descriptions_write_nothing(tmp_path, change, message):
    "Each refused before the run folder exists; a recorded-data file (beside the description) is read and checked at the door too."
    np.save(tmp_path / 'recorded.npy', np.zeros((5, 300, 30), np.float32))   # 300 time steps; the acquisition records 400
    f = tmp_path / 'bad.json'
    f.write_text(json.dumps({**TINY, **change}))
    r = cli('fwi', '--config', f, '--out', tmp_path / 'run', check=False)
    assert r.returncode == 2 and f'{f}: at' in r.stderr and message in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / 'run').exists() and 'Traceback' not in r.stderr

"""Training runs as users run them: the CLI in real processes, killed and resumed; papermill against the CLI."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import papermill as pm
import pytest

ROOT = Path(__file__).parent.parent
EXE = str(Path(sys.executable).parent / 'geoinversion')
ENV = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2', 'MPLBACKEND': 'Agg'}

def small(name, epochs, train=256):
    return {'name': name, 'model': 'model_mogi_cnn', 'dataset': 'volcano_mogi', 'epochs': epochs, 'batch_size': 32,
            'sizes': {'train': train, 'validation': 64, 'test': 64}, 'learning_rate': 2e-3,
            'metrics': {'depth': ['relative_error']}}

def cli(*args, check=True, timeout=600):
    r = subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=timeout)
    if check: assert r.returncode == 0, r.stderr[-3000:]
    return r

def epochs_of(run):
    lines = (run / 'history.csv').read_text().splitlines()[1:]
    return [int(float(l.split(',')[0])) for l in lines]

def test_sigkill_then_resume(tmp_path):
    "SIGKILL a training after some epochs; the same command finishes it and every epoch is in the history once."
    desc = tmp_path / 'train.json'
    desc.write_text(json.dumps(small('killed', 8, train=512)))
    run = tmp_path / 'runs' / 'killed_seed0'
    p = subprocess.Popen([EXE, 'train', '--json_data', str(desc), '--seed', '0', '--storage_path', str(tmp_path / 'runs'), '--quiet'],
                         env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = run / 'checkpoint' / 'state.json'
    deadline = time.time() + 300
    while time.time() < deadline:
        if state.exists() and json.loads(state.read_text())['epoch'] >= 2: break
        if p.poll() is not None: pytest.fail('training ended before it could be killed')
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    killed_at = json.loads(state.read_text())['epoch']
    assert 2 <= killed_at < 8, killed_at
    assert json.loads((run / 'run.json').read_text())['status'] == 'running'
    other = tmp_path / 'other.json'   # the same run name with other settings: refused, nothing changed
    other.write_text(json.dumps({**small('killed', 8, train=512), 'learning_rate': 1e-2}))
    r = cli('train', '--json_data', other, '--seed', 0, '--storage_path', tmp_path / 'runs', '--quiet', check=False)
    assert r.returncode == 2 and 'started with another description' in r.stderr and 'learning_rate' in r.stderr, r.stderr[-2000:]
    cli('train', '--json_data', desc, '--seed', 0, '--storage_path', tmp_path / 'runs', '--quiet')
    assert epochs_of(run) == list(range(1, 9))
    record = json.loads((run / 'run.json').read_text())
    assert record['status'] == 'finished' and len(record['starts']) == 2
    assert not list(run.rglob('.*.tmp*'))

def test_papermill_and_cli_give_the_same_test_metrics(tmp_path):
    desc = tmp_path / 'train.json'
    desc.write_text(json.dumps(small('same', 2)))
    cli('train', '--json_data', desc, '--seed', 3, '--storage_path', tmp_path / 'cli', '--quiet')
    pm.execute_notebook(str(ROOT / 'papermill_runs' / 'train.ipynb'), str(tmp_path / 'train_out.ipynb'),
                        parameters={'json_data': str(desc), 'seed': 3, 'storage_path': str(tmp_path / 'pm')},
                        kernel_name='python3', cwd=str(ROOT), progress_bar=False)
    a = json.loads((tmp_path / 'cli' / 'same_seed3' / 'test_metrics.json').read_text())
    b = json.loads((tmp_path / 'pm' / 'same_seed3' / 'test_metrics.json').read_text())
    assert a == b

def test_matrix_cli_and_papermill(tmp_path):
    desc = tmp_path / 'train.json'
    desc.write_text(json.dumps(small('m', 1, train=64)))
    cli('train', '--json_data', desc, '--seed', 0, '--storage_path', tmp_path, '--quiet')
    run = tmp_path / 'm_seed0'
    r = cli('matrix', '--training_run', run, '--out', tmp_path / 'mx', '--resolution', 8, '--lsq_points', 2)
    assert json.loads((tmp_path / 'mx' / 'summary.json').read_text())['cells'] == 64
    pm.execute_notebook(str(ROOT / 'papermill_runs' / 'matrix.ipynb'), str(tmp_path / 'mx_out.ipynb'),
                        parameters={'training_run': str(run), 'out': str(tmp_path / 'mx_pm'), 'resolution': 8},
                        kernel_name='python3', cwd=str(ROOT), progress_bar=False)
    import xarray as xr
    with xr.open_dataset(tmp_path / 'mx' / 'matrix.nc') as a, xr.open_dataset(tmp_path / 'mx_pm' / 'matrix.nc') as b:
        np.testing.assert_allclose(a['pred_depth'].values, b['pred_depth'].values, rtol=1e-4)
        np.testing.assert_array_equal(a['truth_depth'].values, b['truth_depth'].values)
    bad = cli('matrix', '--training_run', run, '--out', tmp_path / 'mx2', '--x_range', 0, 4000, check=False)
    assert bad.returncode == 2 and 'depth must be > 0' in bad.stderr and not (tmp_path / 'mx2').exists()

@pytest.mark.parametrize('edit, message', [
    ({'optimizer': 'adamax'}, '$.optimizer: unknown optimizer'),
    ({'losses': {'depth': 'l3'}}, '$.losses.depth: unknown loss'),
    ({'epochs': 0}, '$.epochs: out of range'),
    ({'model': 'no_such_model'}, '$.model: no such example description'),
])
def test_bad_training_description_cli(tmp_path, edit, message):
    desc = tmp_path / 'bad.json'
    desc.write_text(json.dumps({**small('bad', 1), **edit}))
    r = cli('train', '--json_data', desc, '--seed', 0, '--storage_path', tmp_path / 'runs', check=False)
    assert r.returncode == 2 and f'{desc}: at {message}' in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / 'runs').exists() and 'Traceback' not in r.stderr

def test_pretrain_must_be_a_finished_run(tmp_path):
    desc = tmp_path / 't.json'
    desc.write_text(json.dumps(small('p', 1, train=64)))
    r = cli('train', '--json_data', desc, '--seed', 0, '--storage_path', tmp_path / 'runs', '--pretrain', tmp_path / 'nope', check=False)
    assert r.returncode == 2 and 'not a finished training run' in r.stderr

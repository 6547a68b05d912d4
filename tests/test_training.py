"""Training runs as users run them: the CLI in real processes, killed and resumed; papermill against the CLI; the old
spellings of the options; a run mirrored over two logical CPU devices."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import papermill as pm
import pytest

from conftest import ROOT, cli, committed_epoch, kill_and_resume

def small(name, epochs, train=256):
    return {'name': name, 'model': 'model_mogi_cnn', 'dataset': 'volcano_mogi', 'epochs': epochs, 'batch_size': 32,
            'sizes': {'train': train, 'validation': 64, 'test': 64}, 'learning_rate': 2e-3,
            'metrics': {'depth': ['relative_error']}}

def epochs_of(run):
    lines = (run / 'history.csv').read_text().splitlines()[1:]
    return [int(float(l.split(',')[0])) for l in lines]

def test_sigkill_then_resume(tmp_path):
    "SIGKILL a training after some epochs; the same command finishes it and every epoch is in the history once."
    desc = tmp_path / 'train.json'
    desc.write_text(json.dumps(small('killed', 8, train=512)))
    run = tmp_path / 'runs' / 'killed_seed0'
    args = ['train', '--config', desc, '--seed', 0, '--out', run, '--quiet']
    def between():
        killed_at = committed_epoch(run)
        assert 2 <= killed_at < 8, killed_at
        assert json.loads((run / 'run.json').read_text())['status'] == 'running'
        other = tmp_path / 'other.json'   # the same run with other settings: refused, nothing changed
        other.write_text(json.dumps({**small('killed', 8, train=512), 'learning_rate': 1e-2}))
        r = cli('train', '--config', other, '--seed', 0, '--out', run, '--quiet', check=False)
        assert r.returncode == 2 and 'started with another description' in r.stderr and 'learning_rate' in r.stderr, r.stderr[-2000:]
    kill_and_resume(args, lambda: committed_epoch(run) >= 2, between)
    assert epochs_of(run) == list(range(1, 9))
    record = json.loads((run / 'run.json').read_text())
    assert record['status'] == 'finished' and len(record['starts']) == 2
    assert not list(run.rglob('.*.tmp*'))

def test_old_spellings_still_work(tmp_path):
    "--json_data and --storage_path (the parent of <name>_seed<seed>) still train, with a deprecation message each."
    desc = tmp_path / 'train.json'
    desc.write_text(json.dumps(small('old', 1, train=64)))
    r = cli('train', '--json_data', desc, '--seed', 2, '--storage_path', tmp_path / 'runs', '--quiet')
    assert '--json_data is deprecated; use --config' in r.stderr and '--storage_path is deprecated' in r.stderr
    assert json.loads((tmp_path / 'runs' / 'old_seed2' / 'run.json').read_text())['status'] == 'finished'
    r = cli('train', '--config', desc, '--seed', 2, '--out', tmp_path / 'x', '--storage_path', tmp_path / 'runs', check=False)
    assert r.returncode == 2 and 'not both' in r.stderr

def test_papermill_and_cli_give_the_same_test_metrics(tmp_path):
    desc = tmp_path / 'train.json'
    desc.write_text(json.dumps(small('same', 2)))
    cli('train', '--config', desc, '--seed', 3, '--out', tmp_path / 'cli', '--quiet')
    pm.execute_notebook(str(ROOT / 'papermill_runs' / 'train.ipynb'), str(tmp_path / 'train_out.ipynb'),
                        parameters={'config': str(desc), 'seed': 3, 'out': str(tmp_path / 'pm')},
                        kernel_name='python3', cwd=str(ROOT), progress_bar=False)
    a = json.loads((tmp_path / 'cli' / 'test_metrics.json').read_text())
    b = json.loads((tmp_path / 'pm' / 'test_metrics.json').read_text())
    assert a == b

def test_matrix_cli_and_papermill(tmp_path):
    desc = tmp_path / 'train.json'
    desc.write_text(json.dumps(small('m', 1, train=64)))
    run = tmp_path / 'm_seed0'
    cli('train', '--config', desc, '--seed', 0, '--out', run, '--quiet')
    cli('matrix', '--run', run, '--out', tmp_path / 'mx', '--resolution', 8, '--lsq_points', 2)
    assert json.loads((tmp_path / 'mx' / 'summary.json').read_text())['cells'] == 64
    pm.execute_notebook(str(ROOT / 'papermill_runs' / 'matrix.ipynb'), str(tmp_path / 'mx_out.ipynb'),
                        parameters={'run': str(run), 'out': str(tmp_path / 'mx_pm'), 'resolution': 8},
                        kernel_name='python3', cwd=str(ROOT), progress_bar=False)
    import xarray as xr
    with xr.open_dataset(tmp_path / 'mx' / 'matrix.nc') as a, xr.open_dataset(tmp_path / 'mx_pm' / 'matrix.nc') as b:
        np.testing.assert_allclose(a['pred_depth'].values, b['pred_depth'].values, rtol=1e-4)
        np.testing.assert_array_equal(a['truth_depth'].values, b['truth_depth'].values)
    bad = cli('matrix', '--run', run, '--out', tmp_path / 'mx2', '--x_range', 0, 4000, check=False)
    assert bad.returncode == 2 and 'depth must be > 0' in bad.stderr and not (tmp_path / 'mx2').exists()

@pytest.mark.parametrize('edit, message', [
    ({'optimizer': 'adamax'}, '$.optimizer: unknown optimizer'),
    ({'losses': {'depth': 'l3'}}, '$.losses.depth: unknown loss'),
    ({'epochs': 0}, '$.epochs: out of range'),
    ({'model': 'no_such_model'}, '$.model: no such example model description'),
    ({'name': '../escaped'}, '$.name: a name is not a path'),
    # issue 18: checked before any run folder exists (a NaN rate, an output twice, a head of two units for a one-number target)
    ({'learning_rate': float('nan')}, '$.learning_rate: not a finite number; got nan'),
    ({'outputs': ['depth', 'depth']}, "$.outputs[1]: a name given twice; got 'depth'"),
    ({'model': 'two_unit_head'}, "$.model.operations.hd.units: output 'depth' gives 2 values per sample; a target is one number"),
    ({'model': 'not_flattened'}, "$.model.branches: output 'depth' gives an array of shape [4, 4, 1] per sample"),
])
def test_bad_training_description_cli(tmp_path, edit, message):
    desc = tmp_path / 'bad.json'
    model = json.loads((ROOT / 'geoinversion' / 'data' / 'model_mogi_flat.json').read_text())
    if edit.get('model') == 'two_unit_head': model['operations']['hd']['units'] = [2]; edit = {'model': model}
    if edit.get('model') == 'not_flattened':
        model['operations'].pop('f'); model['branches'][0].remove('f'); edit = {'model': model}
    desc.write_text(json.dumps({**small('bad', 1), **edit}))
    r = cli('train', '--config', desc, '--seed', 0, '--out', tmp_path / 'runs' / 'bad_seed0', check=False)
    assert r.returncode == 2 and f'{desc}: at {message}' in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / 'runs').exists() and 'Traceback' not in r.stderr

def test_pretrain_must_be_a_finished_run(tmp_path):
    desc = tmp_path / 't.json'
    desc.write_text(json.dumps(small('p', 1, train=64)))
    r = cli('train', '--config', desc, '--seed', 0, '--out', tmp_path / 'runs' / 'p', '--pretrain', tmp_path / 'nope', check=False)
    assert r.returncode == 2 and 'not a finished training run' in r.stderr

MIRRORED = textwrap.dedent('''
    import sys, json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np, keras
    from geoinversion.training import Experiment, read_history, train
    class Line(Experiment):
        name, steps, epochs = 'line', 8, 3
        def resolved(self): return {}
        def build(self, seed):
            net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(8, activation='tanh'), keras.layers.Dense(1)])
            net.compile(keras.optimizers.Adam(0.05), 'mse'); return net
        def stream(self, subset, seed, start=0):
            x = np.random.default_rng([seed, len(subset)]).uniform(-1, 1, (256, 1)).astype('float32')
            ds = tf.data.Dataset.from_tensor_slices((x, 3 * x + 1)).batch(32)
            return ds.repeat().skip(start) if subset == 'train' else ds
    out = {}
    for strategy in (None, 'mirrored'):
        run = train(Line(), 0, f'{sys.argv[1]}/{strategy}', verbose=0, strategy=strategy)
        out[str(strategy)] = {'loss': [r['loss'] for r in read_history(run)],
                              'replicas': json.loads((run / 'run.json').read_text())['summary']['replicas']}
    print(json.dumps(out))
''')

def test_mirrored_over_two_logical_cpus(tmp_path):
    "The runner under MirroredStrategy on two logical CPU devices: two replicas, and the single-device run's losses."
    r = subprocess.run([sys.executable, '-c', MIRRORED, str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out['None']['replicas'] == 1 and out['mirrored']['replicas'] == 2
    np.testing.assert_allclose(out['mirrored']['loss'], out['None']['loss'], rtol=1e-4)
    assert out['None']['loss'][-1] < out['None']['loss'][0]

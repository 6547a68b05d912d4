"""Velocity networks as users run them: `velnet-train` in a real process SIGKILLed mid-epoch and resumed to the same bits
as an uninterrupted run; papermill against the CLI; `velnet-predict` on a local Dask cluster against the same in this
process; bad descriptions and bad data folders refused with one clear line each, before any run folder exists."""
import json
import shutil
from pathlib import Path

import numpy as np
import papermill as pm
import pytest

from conftest import ROOT, cli, committed_epoch, kill_and_resume

ACQ = {'nt': 150, 'n_sources': 3, 'n_receivers': 12, 'pml_width': 8}

@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    "A tiny generated dataset: 16 FlatVel-A-like models of 24 x 24 cells, 3 shots, 12 receivers, 150 steps."
    from geoinversion.wave.datasets import generate
    out = tmp_path_factory.mktemp('velnet') / 'ds'
    generate({'family': {'type': 'flat_layers', 'variant': 'A', 'nz': 24, 'nx': 24, 'layers': [2, 4]}, 'n_samples': 16, 'chunk': 8,
              'acquisition': ACQ}, out, scheduler='serial', progress=False)
    return out

@pytest.fixture(scope='module')
def trained(dataset, tmp_path_factory):
    "One run of one epoch on the dataset, trained in this process, for the tests of predictions."
    from geoinversion.velnet.train import train_velnet
    tmp = tmp_path_factory.mktemp('trained')
    return train_velnet(json.loads(description(tmp, dataset, epochs=1, figure_samples=0).read_text()), 0, tmp / 'run', verbose=0)

def description(tmp_path, dataset, **change):
    d = {'name': 'tiny', 'data': {'folder': str(dataset), 'validation': 0.25, 'augment': [{'name': 'flip', 'p': 0.5}]},
         'network_params': {'width': 0.125}, 'epochs': 3, 'batch_size': 4, 'figure_samples': 2, **change}
    f = tmp_path / f'velnet_{len(list(tmp_path.glob("velnet_*.json")))}.json'
    f.write_text(json.dumps(d))
    return f

def in_process(*args):
    "Exit code and stderr of `geoinversion ARGS` run in this process (the bad-input cases: no TensorFlow start-up per case)."
    import contextlib, io
    from geoinversion.cli import main
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try: code = main([str(a) for a in args])
        except SystemExit as e: code = e.code
    return code, err.getvalue()

def weights(run):
    import keras
    import geoinversion.velnet.models  # noqa: F401
    return keras.models.load_model(Path(run) / 'last.keras', compile=False).get_weights()

def test_sigkill_mid_training_then_resume_gives_the_same_bits(tmp_path, dataset):
    cfg = description(tmp_path, dataset)
    cli('velnet-train', '--config', cfg, '--seed', 1, '--out', tmp_path / 'whole', '--quiet')
    args = ('velnet-train', '--config', cfg, '--seed', 1, '--out', tmp_path / 'killed', '--quiet')
    def between():
        run = json.loads((tmp_path / 'killed' / 'run.json').read_text())
        assert run['status'] == 'running' and committed_epoch(tmp_path / 'killed') == 1
    kill_and_resume(args, lambda: committed_epoch(tmp_path / 'killed') >= 1, between)
    run = json.loads((tmp_path / 'killed' / 'run.json').read_text())
    assert run['status'] == 'finished' and len(run['starts']) == 2
    for a, b in zip(weights(tmp_path / 'whole'), weights(tmp_path / 'killed')): np.testing.assert_array_equal(a, b)
    a = json.loads((tmp_path / 'whole' / 'test_metrics.json').read_text())
    assert a == json.loads((tmp_path / 'killed' / 'test_metrics.json').read_text())
    assert set(a) >= {'network', 'tta', 'tta_post_process', 'data_misfit'} and (tmp_path / 'whole' / 'predictions.png').exists()

def test_another_description_on_an_unfinished_run_is_refused(tmp_path, dataset):
    cfg = description(tmp_path, dataset, epochs=4)
    args = ('velnet-train', '--config', cfg, '--out', tmp_path / 'run', '--quiet')
    from conftest import kill_when
    kill_when(args, lambda: committed_epoch(tmp_path / 'run') >= 1)
    r = cli('velnet-train', '--config', description(tmp_path, dataset, epochs=4, batch_size=2), '--out', tmp_path / 'run', check=False)
    assert r.returncode != 0 and '$.batch_size' in r.stderr and 'Traceback' not in r.stderr, r.stderr

def test_papermill_equals_cli(tmp_path, dataset):
    cfg = description(tmp_path, dataset, epochs=1)
    cli('velnet-train', '--config', cfg, '--seed', 3, '--out', tmp_path / 'cli', '--quiet')
    pm.execute_notebook(str(ROOT / 'papermill_runs' / 'velnet.ipynb'), str(tmp_path / 'velnet_out.ipynb'),
                        parameters={'config': str(cfg), 'seed': 3, 'out': str(tmp_path / 'pm')}, kernel_name='python3', cwd=str(ROOT),
                        progress_bar=False)
    assert json.loads((tmp_path / 'cli' / 'test_metrics.json').read_text()) == json.loads((tmp_path / 'pm' / 'test_metrics.json').read_text())
    for a, b in zip(weights(tmp_path / 'cli'), weights(tmp_path / 'pm')): np.testing.assert_array_equal(a, b)

def test_predict_on_dask_equals_in_process(tmp_path, dataset, trained):
    "A test set as users have one, gathers without velocity models, predicted on a local Dask cluster: the predictions of the labelled data here."
    shutil.copytree(dataset / 'openfwi', tmp_path / 'test')
    for f in (tmp_path / 'test').glob('model_*.npy'): f.unlink()
    here = cli('velnet-predict', '--model', trained, '--data', dataset / 'openfwi', '--out', tmp_path / 'here.npz', '--tta',
               '--figure', tmp_path / 'pred.png')
    there = cli('velnet-predict', '--model', trained, '--data', tmp_path / 'test', '--out', tmp_path / 'dask.npz', '--tta',
                '--scheduler', 'local', '--chunk', 5)
    a, b = np.load(tmp_path / 'here.npz'), np.load(tmp_path / 'dask.npz')
    assert sorted(a.files) == sorted(b.files) and len(a.files) == 16
    for k in a.files:
        assert a[k].dtype == np.float64 and a[k].shape == (24, 24)
        np.testing.assert_allclose(a[k], b[k], rtol=1e-6)
    s, t = json.loads(here.stdout), json.loads(there.stdout)
    assert set(s['scores']) == {'mae', 'rmse', 'ssim', 'mape'} and (tmp_path / 'pred.png').exists()
    assert 'scores' not in t and t['samples'] == 16 and t['shape'] == [24, 24], t

BAD_DESCRIPTIONS = [
    ({'network': 'unet'}, '$.network'),
    ({'network_params': {'width': -1}}, '$.network_params.width'),
    ({'network_params': {'depth': 3}}, '$.network_params'),
    ({'loss': {'mse': 1.0}}, '$.loss.mse'),
    ({'loss': {'l1': 'one'}}, '$.loss.l1'),
    ({'loss': {'l1': 0}}, '$.loss'),
    ({'physics': {'weight': 1e300}}, '$.physics.weight'),
    ({'physics': {'shots': [7]}}, '$.physics.shots[0]'),
    ({'epochs': 0}, '$.epochs'),
    ({'batch_size': 1.5}, '$.batch_size'),
    ({'learning_rate': float('inf')}, '$.learning_rate'),
    ({'optimizer': 'lbfgs'}, '$.optimizer'),
    ({'name': 'a/b'}, '$.name'),
    ({'metrics': ['accuracy']}, '$.metrics[0]'),
    ({'post_process': -1}, '$.post_process'),
    ({'data': {'folder': 'x', 'layout': 'zarr'}}, '$.data.layout'),
    ({'data': {'folder': 'x', 'velocity_range': [3000, 2000]}}, '$.data.velocity_range'),
    ({'data': {'folder': 'x', 'augment': [{'name': 'rotate'}]}}, '$.data.augment[0].name'),
]

@pytest.mark.parametrize('change,path', BAD_DESCRIPTIONS, ids=[p for _, p in BAD_DESCRIPTIONS])
def test_bad_description_is_one_clear_line_and_writes_nothing(tmp_path, dataset, change, path):
    cfg = description(tmp_path, dataset, **change)
    code, err = in_process('velnet-train', '--config', cfg, '--out', tmp_path / 'run')
    assert code != 0 and 'Traceback' not in err, err
    last = err.strip().splitlines()[-1]
    assert path in last and str(cfg) in last, last
    assert not (tmp_path / 'run').exists()

def test_a_bad_description_in_a_real_process_is_one_line_exit_2(tmp_path, dataset):
    cfg = description(tmp_path, dataset, loss={'l1': float('nan')})
    r = cli('velnet-train', '--config', cfg, '--out', tmp_path / 'run', check=False)
    assert r.returncode == 2 and r.stderr.strip().count('\n') == 0 and '$.loss.l1' in r.stderr, r.stderr
    assert not (tmp_path / 'run').exists()

def _folders(root, n=4, S=3, nt=150, R=12):
    for i in range(n):
        d = root / f'sample_{i}'; d.mkdir(parents=True)
        for s in range(S): np.save(d / f'receiver_data_src_{s}.npy', np.random.default_rng(i).standard_normal((nt, R)).astype(np.float32))
        np.save(d / 'vp_model.npy', np.linspace(1500, 3000, 24 * 24, dtype=np.float32).reshape(24, 24))
    return root

def _missing_source(root): (root / 'sample_2' / 'receiver_data_src_1.npy').unlink(); return 'sample_2'
def _mismatched(root): np.save(root / 'sample_1' / 'receiver_data_src_0.npy', np.zeros((140, 12), np.float32)); return 'sample_1'
def _nan(root):
    a = np.load(root / 'sample_3' / 'receiver_data_src_2.npy'); a[5, 5] = np.nan
    np.save(root / 'sample_3' / 'receiver_data_src_2.npy', a); return 'sample_3'
def _empty(root):
    shutil.rmtree(root); root.mkdir(); return str(root.name)

@pytest.mark.parametrize('spoil', [_missing_source, _mismatched, _nan, _empty], ids=['missing source', 'mismatched shapes', 'NaN in data', 'empty folder'])
def test_bad_data_folder_is_one_clear_line(tmp_path, spoil):
    root = _folders(tmp_path / 'data')
    where = spoil(root)
    cfg = tmp_path / 'velnet.json'
    cfg.write_text(json.dumps({'data': {'folder': str(root), 'validation': 0.25, 'scaler_samples': 4}, 'network_params': {'width': 0.125},
                               'epochs': 1, 'batch_size': 2}))
    code, err = in_process('velnet-train', '--config', cfg, '--out', tmp_path / 'run')
    assert code != 0 and 'Traceback' not in err, err
    last = err.strip().splitlines()[-1]
    assert where in last, last

MIRRORED = r'''
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from geoinversion.core import read_json
from geoinversion.velnet.train import train_velnet
run = train_velnet(json.loads(sys.argv[1]), 0, sys.argv[2], verbose=0, strategy='mirrored')   # (one strategy per process)
print(read_json(run / 'run.json')['summary']['replicas'])
'''

def test_two_devices_with_a_remainder_train(tmp_path, dataset):
    "Two logical CPUs under MirroredStrategy, 12 training samples in batches of 8 and 4 validation samples: the remainders do not reach the replicas."
    import subprocess, sys
    d = {'name': 'two', 'data': {'folder': str(dataset), 'validation': 0.25}, 'network_params': {'width': 0.125}, 'epochs': 1,
         'batch_size': 8, 'tta': False, 'figure_samples': 0}
    for k, desc in enumerate((d, {**d, 'physics': {'weight': 0.1}})):   # with the physics term too (eager steps)
        r = subprocess.run([sys.executable, '-c', MIRRORED, json.dumps(desc), str(tmp_path / f'run{k}')], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        assert r.stdout.strip().splitlines()[-1] == '2'


def test_predict_refuses_models_of_another_grid(tmp_path, trained):
    from geoinversion.wave.datasets import generate
    generate({'family': {'type': 'flat_layers', 'variant': 'A', 'nz': 32, 'nx': 24, 'layers': [2, 4]}, 'n_samples': 2, 'chunk': 2,
              'acquisition': ACQ}, tmp_path / 'other', scheduler='serial', progress=False)
    code, err = in_process('velnet-predict', '--model', trained, '--data', tmp_path / 'other', '--out', tmp_path / 's.npz')
    assert code != 0 and 'predicts [24, 24]' in err and 'Traceback' not in err, err
    assert not (tmp_path / 's.npz').exists()

def test_nan_met_while_training_names_the_file(tmp_path, dataset):
    "A NaN in a sample the scaler estimate does not read: met inside tf.data, reported as the bad file, not as TensorFlow's error."
    shutil.copytree(dataset, tmp_path / 'ds')
    f = tmp_path / 'ds' / 'samples' / 'sample_000005' / 'receiver_data_src_1.npy'
    a = np.load(f); a[3, 3] = np.nan; np.save(f, a)
    cfg = description(tmp_path, tmp_path / 'ds' / 'samples', epochs=1)
    d = json.loads(cfg.read_text()); d['data']['scaler_samples'] = 1; cfg.write_text(json.dumps(d))
    code, err = in_process('velnet-train', '--config', cfg, '--out', tmp_path / 'run')
    assert code != 0 and 'sample_000005' in err and 'unexpected' not in err and 'InvalidArgument' not in err, err

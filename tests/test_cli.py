"""The geoinversion command, run as a user runs it: a real process writing real files."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import cli, kill_when

def test_synth_writes_a_run_folder(tmp_path):
    cli('synth', '--out', tmp_path / 'run', '--n', 12, '--seed', 5)
    files = sorted(p.name for p in (tmp_path / 'run').iterdir())
    assert files == ['description.json', 'environment.json', 'normalization.json', 'run.json', 'samples.nc', 'samples.png']
    run = json.loads((tmp_path / 'run' / 'run.json').read_text())
    assert run['status'] == 'finished' and run['summary']['samples'] == 12
    env = json.loads((tmp_path / 'run' / 'environment.json').read_text())
    assert env['packages']['tensorflow'].startswith('2.21')
    with xr.open_dataset(tmp_path / 'run' / 'samples.nc') as ds:
        assert ds['los'].shape == (12, 64, 64, 2) and ds['los'].attrs['units'] == 'm'
        assert ((ds['depth'] >= 2075 - 1e-3) & (ds['depth'] <= 2425 + 1e-3)).all()   # test subset: held-out depths

def test_same_seed_same_samples_across_processes(tmp_path):
    for name, seed in (('a', 7), ('b', 7), ('c', 8)):
        cli('synth', '--out', tmp_path / name, '--n', 6, '--seed', seed, '--subset', 'train')
    load = lambda n: xr.open_dataset(tmp_path / n / 'samples.nc')['los'].values
    np.testing.assert_array_equal(load('a'), load('b'))
    assert not np.allclose(load('a'), load('c'))

def test_finished_run_is_not_overwritten(tmp_path):
    cli('synth', '--out', tmp_path / 'r', '--n', 2)
    before = (tmp_path / 'r' / 'samples.nc').read_bytes()
    r = cli('synth', '--out', tmp_path / 'r', '--n', 3, check=False)
    assert r.returncode == 2 and 'overwrite' in r.stderr
    assert (tmp_path / 'r' / 'samples.nc').read_bytes() == before
    cli('synth', '--out', tmp_path / 'r', '--n', 3, '--overwrite')
    with xr.open_dataset(tmp_path / 'r' / 'samples.nc') as ds: assert ds.sizes['sample'] == 3

@pytest.mark.parametrize('content, path, allowed', [
    ('{"type": "generated"', '$', None),                                                     # not JSON
    ('{"type": "generated", "generation_type": "sill"}', '$.generation_type', 'mogi'),
    ('{"type": "generated", "generation_type": "mogi", "distributions": {"depth": {"type": "uniform", "low": 0, "high": 10}, "delta_volume": {"type": "uniform", "low": 1, "high": 2}}, '
     '"geometries": [{"name": "a", "heading": 0, "incidence": 30}]}', '$.distributions.depth', '> 0'),
])
def test_bad_description_exits_2_with_location(tmp_path, content, path, allowed):
    f = tmp_path / 'bad.json'
    f.write_text(content)
    r = cli('synth', '--config', f, '--out', tmp_path / 'r', check=False)
    assert r.returncode == 2, r.stderr
    assert f'{f}: at {path}:' in r.stderr
    if allowed: assert f'allowed: ' in r.stderr and allowed in r.stderr
    assert not (tmp_path / 'r').exists()
    assert 'Traceback' not in r.stderr

def test_missing_file_and_bad_numbers(tmp_path):
    r = cli('synth', '--dataset', tmp_path / 'nope.json', '--out', tmp_path / 'r', check=False)   # (the old spelling of --config)
    assert r.returncode == 2 and 'description file not found' in r.stderr and '--dataset is deprecated; use --config' in r.stderr
    r = cli('synth', '--out', tmp_path / 'r', '--n', 0, check=False)
    assert r.returncode == 2 and '--n must be positive' in r.stderr
    r = cli('synth', '--out', tmp_path / 'r', '--subset', 'holdout', check=False)
    assert r.returncode == 2 and 'invalid choice' in r.stderr

def test_killed_run_resumes(tmp_path):
    "SIGKILL in the middle of a long generation leaves no partial file, and the same command then finishes."
    out = tmp_path / 'r'
    seen = []
    def ready():   # a second after the run folder appears: in the middle of generating
        if (out / 'run.json').exists(): seen.append(time.time())
        return bool(seen) and time.time() - seen[0] > 1.0
    kill_when(['synth', '--out', out, '--n', 60000, '--subset', 'train'], ready, timeout=120)
    assert json.loads((out / 'run.json').read_text())['status'] == 'running'
    assert not (out / 'samples.nc').exists()
    cli('synth', '--out', out, '--n', 5, '--subset', 'train')   # reopens the unfinished run
    run = json.loads((out / 'run.json').read_text())
    assert run['status'] == 'finished' and len(run['starts']) == 2
    assert not [p.name for p in out.iterdir() if p.name.endswith('.tmp')]

def _mogi():
    return json.loads((Path(__file__).parent.parent / 'geoinversion' / 'data' / 'volcano_mogi.json').read_text())

@pytest.mark.parametrize('case', ['out is a file', 'seed too large', 'negative lsq_points', 'a folder as config', 'image named as a target',
                                  'empty image name', 'nothing left to train', 'NaN fixed value'])
def test_bad_inputs_of_issue_18(tmp_path, case):
    "Each bad input of the issue: exit status 2, the reason in the last line, no traceback, nothing written."
    (tmp_path / 'afile').write_text('not a folder')
    f = tmp_path / 'd.json'
    edits = {'image named as a target': ({'image_name': 'depth', 'units': {'depth': 'm'}}, '$.image_name: image_name is also a parameter'),
             'empty image name': ({'image_name': '', 'units': {}}, "$.image_name: an empty string; got ''"),
             'nothing left to train': ({'varyings': {'depth': [[0.0, 1.0]]}}, '$.varyings.depth: the held-out quantiles of depth leave 0'),
             'NaN fixed value': ({'fixed': {'x0': float('nan'), 'y0': 0.0, 'nu': 0.25}}, '$.fixed.x0: not a finite number; got nan')}
    if case in edits:
        edit, says = edits[case]
        f.write_text(json.dumps({**_mogi(), **edit}))
        args, says = ['synth', '--config', f, '--out', tmp_path / 'r', '--n', 2], f'{f}: at {says}'
    else:
        args, says = {'out is a file': (['synth', '--out', tmp_path / 'afile', '--n', 2], 'is a file, not a run folder'),
                      'seed too large': (['synth', '--out', tmp_path / 'r', '--seed', 4294967296], '4294967296 is out of range (a seed: in [0, 4294967295])'),
                      'negative lsq_points': (['matrix', '--run', tmp_path, '--out', tmp_path / 'r', '--lsq_points', '-5'], '-5 is out of range'),
                      'a folder as config': (['synth', '--config', tmp_path, '--out', tmp_path / 'r'], 'this is a folder, not a description file')}[case]
    r = cli(*args, check=False)
    assert r.returncode == 2, r.stderr[-2000:]
    assert says in r.stderr.strip().splitlines()[-1], r.stderr[-2000:]
    assert 'Traceback' not in r.stderr and 'absl' not in r.stderr and 'cuda' not in r.stderr
    assert not (tmp_path / 'r').exists() and (tmp_path / 'afile').read_text() == 'not a folder'

def test_no_tensorflow_start_up_lines(tmp_path):
    "An error after TensorFlow has loaded is one line on stderr: the C++ start-up lines are dropped (and --debug shows them)."
    f = tmp_path / 'bad.json'; f.write_text(json.dumps({**_mogi(), 'noise': {'amplitude': 1e300}}))
    r = cli('synth', '--config', f, '--out', tmp_path / 'r', check=False)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [f'geoinversion synth: error: {f}: at $.noise.amplitude: out of range; got 1e+300; allowed: <= 10.0'], r.stderr
    r = cli('--debug', 'synth', '--config', f, '--out', tmp_path / 'r', check=False)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith('geoinversion synth: error:')

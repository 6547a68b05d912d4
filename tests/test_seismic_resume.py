"""A GBF training killed with SIGKILL resumes from its last finished epoch when the same command runs again."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).parent / 'geoinversion')
ENV = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2', 'MPLBACKEND': 'Agg'}

def test_gbf_train_sigkill_then_resume(tmp_path):
    desc = tmp_path / 'gbf.json'
    desc.write_text(json.dumps({'name': 'killed', 'architecture': 'alexnet1d', 'width': 8, 'dense': 16, 'windows': 120,
                                'epochs': 12, 'batch_size': 8, 'fractions': [0.7, 0.15, 0.15]}))
    cmd = [EXE, 'gbf-train', '--json_data', str(desc), '--seed', '0', '--storage_path', str(tmp_path / 'runs'), '--quiet']
    run = tmp_path / 'runs' / 'killed_seed0'
    state = run / 'checkpoint' / 'state.json'
    p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline:
        if state.exists() and json.loads(state.read_text())['epoch'] >= 2: break
        if p.poll() is not None: pytest.fail('training ended before it could be killed')
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL); p.wait()
    killed_at = json.loads(state.read_text())['epoch']
    assert 2 <= killed_at < 12, killed_at
    assert json.loads((run / 'run.json').read_text())['status'] == 'running'
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    epochs = [int(float(l.split(',')[0])) for l in (run / 'history.csv').read_text().splitlines()[1:]]
    assert epochs == list(range(1, 13)), epochs
    record = json.loads((run / 'run.json').read_text())
    assert record['status'] == 'finished' and len(record['starts']) == 2
    assert (run / 'model.keras').exists() and (run / 'test_metrics.json').exists()
    assert not list(run.rglob('.*.tmp*'))

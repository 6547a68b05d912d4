"""A GBF training killed with SIGKILL resumes from its last finished epoch when the same command runs again."""
import json

from conftest import committed_epoch, kill_and_resume

def test_gbf_train_sigkill_then_resume(tmp_path):
    desc = tmp_path / 'gbf.json'
    desc.write_text(json.dumps({'name': 'killed', 'architecture': 'alexnet1d', 'width': 8, 'dense': 16, 'windows': 120,
                                'epochs': 12, 'batch_size': 8, 'fractions': [0.7, 0.15, 0.15]}))
    run = tmp_path / 'runs' / 'killed_seed0'
    def between():
        assert 2 <= committed_epoch(run) < 12, committed_epoch(run)
        assert json.loads((run / 'run.json').read_text())['status'] == 'running'
    kill_and_resume(['gbf-train', '--config', desc, '--seed', 0, '--out', run, '--quiet'], lambda: committed_epoch(run) >= 2, between)
    epochs = [int(float(l.split(',')[0])) for l in (run / 'history.csv').read_text().splitlines()[1:]]
    assert epochs == list(range(1, 13)), epochs
    record = json.loads((run / 'run.json').read_text())
    assert record['status'] == 'finished' and len(record['starts']) == 2
    assert (run / 'model.keras').exists() and (run / 'test_metrics.json').exists()
    assert not list(run.rglob('.*.tmp*'))

"""Run every notebook in nbs/ as a test: its examples are the library's tests.

Cells flagged `#| slow` are skipped where the environment says CI (`CI=true`, as CI runs) or
`GEOINVERSION_SKIP_SLOW=1`; `GEOINVERSION_SLOW=1` runs them there too."""
import os
from pathlib import Path

import pytest
from nbdev.test import test_nb as run_notebook  # renamed so pytest does not collect it

NBS = sorted((Path(__file__).parent.parent / 'nbs').glob('*.ipynb'))

def _on(name): return os.environ.get(name, '').lower() in ('1', 'true', 'yes')

def skip_flags() -> list:
    "The cell flags not run: always `notest`; `slow` under CI unless asked for."
    slow = (_on('CI') or _on('GEOINVERSION_SKIP_SLOW')) and not _on('GEOINVERSION_SLOW')
    return ['notest', 'slow'] if slow else ['notest']

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb):
    ok, seconds = run_notebook(nb, skip_flags=skip_flags())
    assert ok, f'{nb.name} failed (see the traceback above)'

def test_there_are_notebooks():
    assert len(NBS) >= 7

def test_slow_cells_are_skipped_under_ci(monkeypatch):
    monkeypatch.setenv('CI', 'true'); monkeypatch.delenv('GEOINVERSION_SLOW', raising=False)
    assert skip_flags() == ['notest', 'slow']
    monkeypatch.setenv('GEOINVERSION_SLOW', '1'); assert skip_flags() == ['notest']
    monkeypatch.delenv('CI'); monkeypatch.delenv('GEOINVERSION_SLOW'); monkeypatch.delenv('GEOINVERSION_SKIP_SLOW', raising=False)
    assert skip_flags() == ['notest']

def test_a_slow_cell_is_skipped_when_asked(tmp_path):
    "A notebook whose `#| slow` cell fails passes with `slow` skipped, and fails when it runs."
    import json
    cell = lambda src: {'cell_type': 'code', 'id': f'c{abs(hash(src)) % 10**6}', 'metadata': {}, 'outputs': [], 'execution_count': None, 'source': src}
    nb = {'cells': [cell('x = 1'), cell('#| slow\nraise RuntimeError("slow cell ran")')], 'nbformat': 4, 'nbformat_minor': 5,
          'metadata': {'kernelspec': {'name': 'python3', 'display_name': 'python3', 'language': 'python'}}}
    (tmp_path / 'n.ipynb').write_text(json.dumps(nb))
    assert run_notebook(tmp_path / 'n.ipynb', skip_flags=['notest', 'slow'])[0]
    assert not run_notebook(tmp_path / 'n.ipynb', skip_flags=['notest'], showerr=False)[0]

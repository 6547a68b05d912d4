"""Run every notebook in nbs/ as a test: its examples are the library's tests."""
from pathlib import Path

import pytest
from nbdev.test import test_nb as run_notebook  # renamed so pytest does not collect it

NBS = sorted((Path(__file__).parent.parent / 'nbs').glob('*.ipynb'))

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb):
    ok, seconds = run_notebook(nb)
    assert ok, f'{nb.name} failed (see the traceback above)'

def test_there_are_notebooks():
    assert len(NBS) >= 7

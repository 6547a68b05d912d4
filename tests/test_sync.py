"""The library must be exactly what nbdev_export makes of the notebooks, and the notebooks clean."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent

def _copy_project(tmp_path):
    for name in ('settings.ini', 'nbs', 'geoinversion'):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    return tmp_path

def _tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob('*.py')) if '__pycache__' not in p.parts}

def test_library_matches_notebooks(tmp_path):
    proj = _copy_project(tmp_path)
    subprocess.run([str(BIN / 'nbdev_export')], cwd=proj, check=True, capture_output=True)
    exported, committed = _tree(proj / 'geoinversion'), _tree(ROOT / 'geoinversion')
    assert sorted(exported) == sorted(committed), 'modules differ: run nbdev_export'
    stale = [k for k in exported if exported[k] != committed[k]]
    assert not stale, f'out of sync with the notebooks (run nbdev_export): {stale}'

def test_notebooks_are_clean(tmp_path):
    proj = _copy_project(tmp_path)
    subprocess.run([str(BIN / 'nbdev_clean')], cwd=proj, check=True, capture_output=True)
    dirty = [p.name for p in sorted((ROOT / 'nbs').glob('*.ipynb')) if p.read_bytes() != (proj / 'nbs' / p.name).read_bytes()]
    assert not dirty, f'notebooks not clean (run nbdev_clean): {dirty}'

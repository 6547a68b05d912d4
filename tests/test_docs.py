"""The documentation site builds offline without Quarto (Jupyter Book 1), one page per notebook."""
import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).parent.parent

def test_site_builds_with_a_page_per_notebook():
    r = subprocess.run(['bash', 'scripts/docs.sh'], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    html = ROOT / '_book' / '_build' / 'html'
    assert (html / 'index.html').exists()
    for nb in sorted((ROOT / 'nbs').glob('[0-9]*.ipynb')):
        page = html / f'{nb.stem}.html'
        assert page.exists(), f'no page for {nb.name}'
        first = json.loads(nb.read_text())['cells'][0]
        title = ''.join(first['source']).splitlines()[0].lstrip('# ').strip()
        assert title.split()[0] in page.read_text(), f'{page.name} lacks its title {title!r}'
    figures = list((html / '_images').glob('*.png'))
    assert len(figures) >= 5, 'the notebooks keep figures; the site should show them'

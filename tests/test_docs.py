"""The documentation site, built offline without Quarto (bash scripts/docs.sh: nbdev's processed
notebooks rendered by Jupyter Book 1), one page per notebook, and looked at in a browser: headless
Chromium through Playwright opens the home page and four stage pages, checks that figures load,
formulas are typeset (MathJax from the site itself, nothing fetched from the web), tables are
tables, and no directive, exported source or traceback shows; screenshots go to tests/_output/docs/."""
import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import launch_chromium

ROOT = Path(__file__).parent.parent
HTML = ROOT / '_book' / '_build' / 'html'
SHOTS = ROOT / 'tests' / '_output' / 'docs'
STAGES = ['11_volcano.insar', '31_glacier.data', '50_wave.propagator', '67_fwi.marmousi']
NOTEBOOKS = sorted(p.stem for p in (ROOT / 'nbs').glob('*.ipynb'))
RAW = {'a directive': re.compile(r'#\|'), 'a traceback': re.compile(r'Traceback \(most recent call last\)')}
PROSE = {'a Markdown table left as text': re.compile(r'\|\s*:?-{3,}'), 'unrendered TeX': re.compile(r'\\\(|\\\[|\$\$')}  # outside code cells


@pytest.fixture(scope='module')
def site():
    r = subprocess.run(['bash', 'scripts/docs.sh'], cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    assert 'There was an error in building your book' not in r.stdout + r.stderr, r.stdout[-3000:] + r.stderr[-3000:]
    return HTML


class _Text(HTMLParser):
    "The text a reader sees in a page's article, less scripts, styles, TeX that MathJax typesets (class math) and, with inputs=False, code cells' source."
    VOID = {'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr'}
    def __init__(self, inputs):
        super().__init__(); self.parts, self.stack, self.inputs = [], [], inputs
    def handle_starttag(self, tag, attrs):
        if tag in self.VOID: return
        cls = (dict(attrs).get('class') or '').split()
        skip = tag in ('script', 'style') or 'math' in cls or (not self.inputs and 'cell_input' in cls)
        self.stack.append((tag, skip, tag == 'article'))
    def handle_endtag(self, tag):
        if any(t == tag for t, _, _ in self.stack):   # (an end tag without its start tag is left alone)
            while self.stack.pop()[0] != tag: pass
    def handle_data(self, data):
        if any(a for _, _, a in self.stack) and not any(s for _, s, _ in self.stack): self.parts.append(data)

def _text(page, inputs=True):
    p = _Text(inputs); p.feed(page.read_text()); return ''.join(p.parts)

def _shows(name, text, checks):
    for what, rx in checks.items():
        m = rx.search(text)
        assert not m, f'{name} shows {what}: ...{text[max(0, m.start() - 150):m.end() + 150]}...'

def _title(nb):
    first = json.loads((ROOT / 'nbs' / f'{nb}.ipynb').read_text())['cells'][0]
    return ''.join(first['source']).splitlines()[0].lstrip('# ').strip()


def test_a_page_per_notebook_with_its_title_and_nothing_raw(site):
    for nb in NOTEBOOKS:
        page = site / f'{nb}.html'
        assert page.exists(), f'no page for {nb}.ipynb'
        text = _text(page)
        assert _title(nb) in text, f'{page.name} lacks its title {_title(nb)!r}'
        _shows(page.name, text, RAW)
        _shows(page.name, _text(page, inputs=False), PROSE)
        assert 'from __future__ import annotations' not in text, f'{page.name} shows exported source'
        kept = json.loads((ROOT / '_book' / 'src' / f'{nb}.ipynb').read_text())['cells']
        figures = sum(1 for c in kept if 'remove-output' not in c['metadata'].get('tags', [])
                      for o in c.get('outputs', []) if {'image/png', 'image/jpeg'} & set(o.get('data', {})))
        shown = page.read_text().count('<img ')
        assert shown >= figures, f'{page.name} shows {shown} images of the {figures} figures its notebook keeps'
    figures = [p for p in (site / '_images').iterdir() if p.suffix in ('.png', '.jpg', '.jpeg')]
    assert len(figures) >= 20, 'the notebooks keep figures; the site should show them'


def test_quarto_cell_options_become_myst_nb_tags():
    import sys; sys.path.insert(0, str(ROOT / 'scripts'))
    from docs_nbs import convert
    code = lambda src, outputs=(): {'cell_type': 'code', 'metadata': {}, 'source': src, 'outputs': list(outputs), 'execution_count': None}
    nb = {'metadata': {'widgets': {}}, 'cells': [
        {'cell_type': 'raw', 'metadata': {}, 'source': '---\ntitle: Core\ndescription: The pieces.\noutput-file: core.html\n---\n'},
        code('#| echo: false\nx = 1'), code('#| output: false\nx'), code('#| include: false\ny = 2'),
        code('#| code-fold: show\n#| code-summary: "Exported source"\ndef f(): pass'), code('#| echo: false\n#| output: asis\nshow_doc(f)',
        [{'output_type': 'execute_result', 'metadata': {}, 'execution_count': None, 'data': {'text/markdown': '---\n\n[source](https://x/y.py#L1){target="_blank" style="float:right"}\n\n### f\n\n```python\n\ndef f():\n\n\n```\n\n*Doc of `f`, see [`g`](https://geoinversion.github.io/geoinversion/core.html#g).*'}}]),
        code('#| eval: false\n'), {'cell_type': 'markdown', 'metadata': {}, 'source': 'See [`g`](https://geoinversion.github.io/geoinversion/core.html#g).'}]}
    out = convert(nb, 'https://geoinversion.github.io/geoinversion', {'core.html': '00_core'})['cells']
    assert out[0]['source'] == '# Core\n\n> The pieces.\n'
    assert [c['metadata'].get('tags') for c in out[1:6]] == [['remove-input'], ['remove-output'], ['remove-cell'], ['hide-input'], ['remove-input', 'show-doc']]
    assert not any('#|' in c['source'] for c in out) and len(out) == 7   # the empty cell is gone
    md = out[5]['outputs'][0]['data']['text/markdown']
    assert md.startswith('[source](https://x/y.py#L1)\n') and '<a id="f"></a>**`f`**' in md and '```python\ndef f():\n```' in md
    assert '<a href="00_core.html#g"><code>g</code></a>' in md and out[6]['source'] == 'See <a href="00_core.html#g"><code>g</code></a>.'
    assert 'widgets' not in nb['metadata']


def test_exported_functions_have_their_signature_and_docstring(site):
    page = (site / '10_volcano.sources.html').read_text()
    assert page.count('tag_show-doc') >= 5
    text = _text(site / '10_volcano.sources.html')
    assert 'def mogi(' in text and 'Mogi point source: surface displacement' in text
    assert 'ue, un, uz = generators' in text   # an example cell is shown, its source too


_PROSE_JS = '''() => { const a = document.querySelector('article').cloneNode(true);
  a.querySelectorAll('.cell_input, mjx-assistive-mml, script, style').forEach(e => e.remove());
  document.body.appendChild(a); const t = a.innerText; a.remove(); return t; }'''


def test_pages_in_a_browser(site):
    from playwright.sync_api import sync_playwright
    SHOTS.mkdir(parents=True, exist_ok=True)
    web, typeset = [], {}
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={'width': 1280, 'height': 900})
        page.on('request', lambda r: web.append(r.url) if not r.url.startswith(('file:', 'data:', 'blob:')) else None)
        for name in ['index'] + STAGES:
            page.goto((site / f'{name}.html').as_uri(), wait_until='load')
            if page.locator('article .math').count():
                page.wait_for_function('() => window.MathJax && MathJax.startup && MathJax.startup.promise', timeout=30000)
                page.evaluate('() => MathJax.startup.promise')
            page.screenshot(path=str(SHOTS / f'{name}.png'), full_page=True)   # (before the checks: a failing page is kept too)
            images = page.eval_on_selector_all('article img', 'els => els.map(e => [e.getAttribute("src"), e.complete && e.naturalWidth])')
            assert all(w for _, w in images), f'{name}: images that do not load: {[s for s, w in images if not w]}'
            math = page.eval_on_selector_all('article .math', 'els => els.map(e => [e.textContent.slice(0, 80), !!e.querySelector("mjx-container")])')
            assert all(ok for _, ok in math), f'{name}: formulas not typeset: {[t for t, ok in math if not ok][:5]}'
            _shows(name, page.inner_text('article'), RAW)
            _shows(name, page.evaluate(_PROSE_JS), PROSE)
            if name == 'index':
                links = set(page.eval_on_selector_all('article a[href]', 'els => els.map(e => e.getAttribute("href").split("#")[0])'))
                unlinked = [nb for nb in NOTEBOOKS if nb != 'index' and f'{nb}.html' not in links]
                assert not unlinked, f'the home page links no page for {unlinked}'
            else:
                assert images, f'{name}: a stage page with figures shows none'
            typeset[name] = page.locator('article mjx-container').count()
        browser.close()
    assert not web, f'the site fetched from the web: {sorted(set(web))[:5]}'
    assert typeset['11_volcano.insar'] >= 5 and typeset['50_wave.propagator'] >= 5, typeset

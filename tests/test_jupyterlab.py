"""The explorers in a real JupyterLab, driven by headless Chromium (Playwright).

One JupyterLab server for the module, in a temporary folder holding a small notebook per explorer
(it imports the explorer and displays it, on data this test writes: a matrix, a drawing, a live
result, an FWI run — no training, no simulation). For each: open the notebook, run its cell with
Shift+Enter, wait for the widget and its figure, move a control as a user does (arrow keys on a
slider's handle, a choice in a drop-down list), check that the figure changed, and save a
screenshot of the cell in tests/_output/jupyterlab/<name>.png. The server (and its kernels) is
stopped at the end, whatever happens.

Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM): Playwright's own browser download is not
available. Without it, or without Playwright or JupyterLab, the tests fail under CI (CI=true) with
what is missing, and are skipped elsewhere."""
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import CHROMIUM, launch_chromium

ROOT = Path(__file__).parent.parent
SHOTS = Path(__file__).parent / '_output' / 'jupyterlab'
BIN = Path(sys.executable).parent
UNDER_CI = os.environ.get('CI', '').lower() in ('1', 'true', 'yes')

def _missing() -> list:
    "What the browser tests need and this machine lacks."
    out = []
    try: import playwright.sync_api  # noqa: F401
    except ImportError: out.append('the playwright package (pip install playwright; dev requirements)')
    if not (BIN / 'jupyter-lab').exists(): out.append(f'JupyterLab ({BIN / "jupyter-lab"}; dev requirements)')
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        out.append(f'Chromium at {CHROMIUM} (Debian: apt-get install chromium, as scripts/env.sh dev does; or set $CHROMIUM)')
    return out

MISSING = _missing()
MESSAGE = 'JupyterLab browser tests cannot run: missing ' + '; '.join(MISSING)
if MISSING and not UNDER_CI: pytestmark = pytest.mark.skip(reason=MESSAGE)   # under CI each test fails, saying what is missing

# ---------------------------------------------------------------- data the notebooks show (written here, in seconds)

def _matrix(folder: Path):
    "A matrix run folder's matrix.nc, as infer_matrix writes it (12 x 10 cells, two outputs)."
    import xarray as xr
    depth, dv = np.linspace(500, 4000, 12), np.linspace(5e5, 4e6, 10)
    gx, gy = np.meshgrid(depth, dv)
    ds = xr.Dataset(coords={'depth': ('depth', depth, {'units': 'm'}), 'delta_volume': ('delta_volume', dv, {'units': 'm3'})})
    for o, truth in (('depth', gx), ('delta_volume', gy)):
        pred = truth * (1 + 0.3 * np.sin(gx / 700) * np.cos(gy / 1e6))
        ds[f'truth_{o}'] = (('delta_volume', 'depth'), truth, {'units': ds[o].attrs['units']})
        ds[f'pred_{o}'] = (('delta_volume', 'depth'), pred, {'units': ds[o].attrs['units']})
        ds[f'abs_error_{o}'] = (('delta_volume', 'depth'), np.abs(pred - truth), {'units': ds[o].attrs['units']})
        ds[f'rel_error_{o}'] = (('delta_volume', 'depth'), np.abs(pred - truth) / truth, {'units': ''})
    folder.mkdir(parents=True)
    ds.to_netcdf(folder / 'matrix.nc', engine='h5netcdf')

def _drawing(folder: Path):
    "A drawing run folder of two glaciers (mean and std GeoTIFFs, entities.csv); its dataset is not there (no reference layer)."
    from affine import Affine
    from geoinversion.glacier.world import _write_tif
    yy, xx = np.mgrid[0:60, 0:40]
    for k, e in enumerate(['G001', 'G002']):
        inside = ((xx - 20) / 14) ** 2 + ((yy - 30) / (26 - 6 * k)) ** 2 < 1
        mean = np.where(inside, 60 * (1 - ((xx - 20) / 14) ** 2 - ((yy - 30) / 26) ** 2).clip(0) + 5 * k, np.nan)
        t = Affine(20.0, 0, 2_600_000 + 3000 * k, 0, -20.0, 1_160_000)
        (folder / e).mkdir(parents=True)
        _write_tif(folder / e / 'thickness_mean.tif', mean, t, 'EPSG:2056', name='thickness: ensemble mean', units='m')
        _write_tif(folder / e / 'thickness_std.tif', np.where(inside, 2 + yy / 10, np.nan), t, 'EPSG:2056', name='thickness: ensemble standard deviation', units='m')
    (folder / 'entities.csv').write_text('id,error,pixels\nG001,,1\nG002,,1\n')
    (folder / 'description.json').write_text(json.dumps({'training': {'training': {'outputs': [{'name': 'thickness'}]},
                                                                      'dataset': {}, 'root': str(folder / 'gone'), 'cache': str(folder / 'gone')}}))

def _live(path: Path):
    "A pickled LiveResult: ten minutes, windows every 5 s, an event at 200 s, nine kept windows with a P and an S."
    import pickle
    import pandas as pd
    from obspy import UTCDateTime
    from geoinversion.seismic.live import LiveResult
    t0 = UTCDateTime(2024, 1, 1)
    starts = [t0 + 5 * k for k in range(73)]
    p = np.array([float(abs(s + 60 - (t0 + 200)) <= 25) for s in starts])
    w = pd.DataFrame({'start': [str(s) for s in starts], 'p_position': [str(s + 60) for s in starts],
                      'event_id': ['E1' if v else '' for v in p], 'back_azimuth': 120.0, 'p_event': p, 'p_explosion': 0.1 * p})
    w['class'] = np.where(p > 0.5, 'earthquake', 'noise')
    ev = pd.DataFrame({'event_id': ['E1'], 'p_time': [str(t0 + 200)], 'back_azimuth': [120.0], 'source': ['bulletin'], 'n_windows': [5],
                       'event_votes': [5], 'explosion_votes': [0], 'p_event': [1.0], 'p_explosion': [0.1], 'label': ['earthquake']})
    rng, t = np.random.default_rng(0), np.arange(9600) / 40.0
    beams = {}
    for s in starts[24:33]:
        x = 0.1 * rng.normal(size=(9600, 3)).astype(np.float32)
        tp = (t0 + 200) - s
        x[:, 0] += np.where(t > tp, np.exp(-(t - tp) / 3) * np.sin(2 * np.pi * 3 * (t - tp)), 0)
        x[:, 1] += np.where(t > tp + 40, 2 * np.exp(-(t - tp - 40) / 5) * np.sin(2 * np.pi * 2 * (t - tp - 40)), 0)
        beams[str(s)] = x
    path.write_bytes(pickle.dumps(LiveResult(w, ev, [], {}, beams, t0, t0 + 600)))

def _fwi_run(folder: Path):
    "An FWI run folder with three accepted iterations (models, gradients, the starting and true models, misfit.csv)."
    import xarray as xr
    z, x = np.mgrid[0:30, 0:80]
    true = 1500 + 40 * z + 300 * np.exp(-((x - 40) ** 2 + (z - 18) ** 2) / 40)
    start = 1500 + 40.0 * z
    da = lambda v, units, name: xr.DataArray(v, dims=('z', 'x'), attrs={'units': units, 'long_name': name, 'dx': 25.0})
    for sub in ('models', 'gradients', 'problem'): (folder / sub).mkdir(parents=True)
    da(start, 'm/s', 'P-wave velocity').to_netcdf(folder / 'problem' / 'start.nc', engine='h5netcdf')
    da(true, 'm/s', 'P-wave velocity').to_netcdf(folder / 'problem' / 'true.nc', engine='h5netcdf')
    rows = []
    for k in range(3):
        m = start + (k / 2) * (true - start) * 0.8
        da(m, 'm/s', 'P-wave velocity').to_netcdf(folder / 'models' / f'iter_{k:04d}.nc', engine='h5netcdf')
        da(true - m, '1/(km/s)', 'preconditioned mean misfit gradient').to_netcdf(folder / 'gradients' / f'iter_{k:04d}.nc', engine='h5netcdf')
        rows.append(f'{k},{k // 2},{4.0 * (1 + k // 2)},True,{0.05 / (k + 1)},{0.1 - 0.01 * k}')
    (folder / 'misfit.csv').write_text('iteration,band,fmax,accepted,training_misfit,model_error\n' + '\n'.join(rows) + '\n')

# name: (code of the notebook's one cell, the control to move and how)
EXPLORERS = {
    'insar': ("from geoinversion.volcano.insar import Explorer\nExplorer('mogi')", ('slider', 2, 'ArrowRight', 4)),
    'matrix': ("from geoinversion.volcano.matrix import MatrixViewer\nMatrixViewer('matrix')", ('slider', 0, 'ArrowLeft', 8)),
    'glacier': ("from geoinversion.glacier.draw import DrawingViewer\nDrawingViewer('drawing')", ('select', 1, 'ensemble standard deviation', None)),
    'live': ("import pickle\nfrom geoinversion.seismic.live import LiveViewer\nLiveViewer(pickle.loads(open('live.pkl', 'rb').read()))",
             ('slider', 0, 'ArrowLeft', 2)),
    'fwi': ("from geoinversion.fwi.cli import IterationViewer\nIterationViewer('fwi_run', view='update')", ('slider', 0, 'ArrowLeft', 1)),
}

def _notebook(path: Path, source: str):
    cell = {'cell_type': 'code', 'execution_count': None, 'id': 'explorer', 'metadata': {}, 'outputs': [], 'source': source}
    nb = {'cells': [cell], 'nbformat': 4, 'nbformat_minor': 5,
          'metadata': {'kernelspec': {'display_name': 'Python 3 (ipykernel)', 'language': 'python', 'name': 'python3'}}}
    path.write_text(json.dumps(nb))

# ---------------------------------------------------------------- the server and the browser

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _get(url: str, method: str = 'GET'):
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as r:
        return r.read()

@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    "A JupyterLab server on a free port with a random token, in a folder holding the notebooks and their data; stopped at the end."
    if MISSING: pytest.fail(MESSAGE, pytrace=False)
    root = tmp_path_factory.mktemp('lab')
    work = root / 'notebooks'; work.mkdir()
    _matrix(work / 'matrix'); _drawing(work / 'drawing'); _live(work / 'live.pkl'); _fwi_run(work / 'fwi_run')
    for name, (source, _) in EXPLORERS.items(): _notebook(work / f'{name}.ipynb', source)
    settings = root / 'settings' / '@jupyterlab' / 'apputils-extension'; settings.mkdir(parents=True)
    (settings / 'notification.jupyterlab-settings').write_text(json.dumps({'fetchNews': 'false', 'checkForUpdates': False}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, 'JUPYTERLAB_SETTINGS_DIR': str(root / 'settings'), 'JUPYTERLAB_WORKSPACES_DIR': str(root / 'workspaces'),
           'JUPYTER_RUNTIME_DIR': str(root / 'runtime'), 'TF_CPP_MIN_LOG_LEVEL': '2', 'PYTHONPATH': str(ROOT)}
    log = open(root / 'server.log', 'w')
    server = subprocess.Popen([str(BIN / 'jupyter-lab'), '--no-browser', '--ip=127.0.0.1', f'--port={port}', f'--IdentityProvider.token={token}',
                               f'--ServerApp.root_dir={work}', '--ServerApp.port_retries=0', *(['--allow-root'] if os.geteuid() == 0 else [])],
                              stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=work)
    base = f'http://127.0.0.1:{port}'
    try:
        deadline = time.time() + 60
        while True:
            try: _get(f'{base}/api/status?token={token}'); break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    pytest.fail(f'JupyterLab did not start (exit {server.poll()}):\n' + (root / 'server.log').read_text()[-3000:])
                time.sleep(0.3)
        yield {'base': base, 'token': token, 'log': root / 'server.log', 'folder': work}
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)   # the server's own process group: it shuts its kernels down
            try: server.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL); server.wait()
        log.close()

@pytest.fixture(scope='module')
def browser(lab):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = launch_chromium(p)
        try: yield b
        finally: b.close()

@pytest.fixture
def page(browser):
    "A fresh browser page for each notebook."
    pg = browser.new_page(viewport={'width': 1600, 'height': 1300})
    pg.set_default_timeout(60_000)
    try: yield pg
    finally: pg.close()

def _shutdown_kernels(lab):
    "Delete every session (its kernel shuts down): one heavy kernel at a time."
    for s in json.loads(_get(f"{lab['base']}/api/sessions?token={lab['token']}")):
        try: _get(f"{lab['base']}/api/sessions/{s['id']}?token={lab['token']}", 'DELETE')
        except OSError: pass

def _outputs_text(page) -> str:
    return '\n'.join(page.locator('.jp-OutputArea-output').all_inner_texts())[-3000:]

def _wait_for(page, condition, seconds: float, what: str, lab):
    "Poll `condition()` until true; fail with what the notebook shows (a traceback fails at once)."
    deadline = time.time() + seconds
    while not condition():
        text = _outputs_text(page)
        if 'Traceback' in text or 'Error:' in text: pytest.fail(f'{what}: the cell failed:\n{text}')
        if time.time() > deadline:
            pytest.fail(f'{what}: not within {seconds:.0f} s. Outputs:\n{text}\nServer log:\n{lab["log"].read_text()[-2000:]}')
        page.wait_for_timeout(300)

@pytest.mark.parametrize('name', list(EXPLORERS))
def test_explorer_in_jupyterlab(lab, page, name):
    try: _explore(lab, page, name)
    except BaseException:   # what the page showed, to see why
        SHOTS.mkdir(parents=True, exist_ok=True)
        try: page.screenshot(path=str(SHOTS / f'{name}-failure.png'))
        except Exception: pass
        raise
    finally: _shutdown_kernels(lab)

def _explore(lab, page, name):
    source, (kind, index, action, times) = EXPLORERS[name]
    page.goto(f"{lab['base']}/lab/workspaces/{name}/tree/{name}.ipynb?token={lab['token']}")   # a workspace of its own: this notebook alone
    panel = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)').first
    editor = panel.locator('.jp-Cell .cm-content').first
    editor.wait_for(state='visible', timeout=90_000)
    _wait_for(page, lambda: page.get_by_text('| Idle').count() > 0, 90, f'{name}: the kernel ready', lab)
    prompt = panel.locator('.jp-Cell .jp-InputArea-prompt').first
    for attempt in range(3):   # run the cell, as a user does (again if the notebook was not listening yet)
        editor.click()
        page.keyboard.press('Shift+Enter')
        try: page.wait_for_function("p => !/\\[ \\]/.test(p.textContent)", arg=prompt.element_handle(), timeout=10_000); break
        except Exception:
            if attempt == 2: pytest.fail(f'{name}: Shift+Enter did not run the cell (its prompt is still {prompt.inner_text()!r})')
    explorer = panel.locator('.geoinversion-explorer').first
    image = explorer.locator('.jp-OutputArea-output img').first
    _wait_for(page, lambda: image.count() > 0 and image.is_visible(), 150, f'{name}: the widget and its figure', lab)
    before = image.get_attribute('src')
    width = image.evaluate('i => i.naturalWidth')
    assert width >= 500, f'{name}: the figure is {width} px wide'
    if kind == 'slider':   # arrow keys on the slider's handle: a user's keyboard move
        handle = explorer.locator('.widget-slider .noUi-handle').nth(index)
        handle.focus()
        for _ in range(times): handle.press(action)
    else:                  # a choice in a drop-down list
        explorer.locator('select').nth(index).select_option(label=action)
    _wait_for(page, lambda: image.count() > 0 and image.get_attribute('src') != before, 60, f'{name}: the figure after the control moved', lab)
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / f'{name}-failure.png').unlink(missing_ok=True)
    page.wait_for_timeout(300)
    panel.locator('.jp-Cell:has(.geoinversion-explorer)').first.screenshot(path=str(SHOTS / f'{name}.png'))
    assert (SHOTS / f'{name}.png').stat().st_size > 10_000

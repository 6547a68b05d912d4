"""What every test uses: the `geoinversion` command run as a user runs it, and a kill-and-resume of one."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('MPLBACKEND', 'Agg')

ROOT = Path(__file__).parent.parent
EXE = str(Path(sys.executable).parent / 'geoinversion')
ENV = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2', 'MPLBACKEND': 'Agg'}

def cli(*args, check=True, timeout=600, stdin=None, cwd=ROOT):
    "Run `geoinversion ARGS` in a real process; with `check`, fail the test (showing stderr) unless it exits 0."
    r = subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=timeout, input=stdin, cwd=cwd)
    if check: assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r

def kill_when(args, # the command's arguments (after `geoinversion`)
              ready, # ready() -> True when the run is at the moment to kill it
              timeout=600):
    "Start `geoinversion ARGS` and SIGKILL it as soon as `ready()` (fails the test if it ends first)."
    p = subprocess.Popen([EXE, *map(str, args)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.time() + timeout
    try:
        while not ready():
            if p.poll() is not None: pytest.fail(f'the command ended (status {p.returncode}) before it could be killed')
            if time.time() > deadline: pytest.fail(f'not ready to be killed after {timeout} s')
            time.sleep(0.02)
    finally:
        if p.poll() is None: p.send_signal(signal.SIGKILL)
        p.wait()

def kill_and_resume(args, # the command's arguments (after `geoinversion`)
                    ready, # ready() -> True when the run is at the moment to kill it
                    between=None, # between() runs after the kill, before the resume (to look at what the kill left)
                    timeout=600):
    "Start `geoinversion ARGS`, SIGKILL it as soon as `ready()`, then run the same command to its end; returns that run."
    kill_when(args, ready, timeout)
    if between is not None: between()
    return cli(*args, timeout=timeout)

def committed_epoch(run) -> int:
    "The last epoch a training run committed (0 if none)."
    f = Path(run) / 'checkpoint' / 'state.json'
    try: return json.loads(f.read_text())['epoch'] if f.exists() else 0
    except (ValueError, KeyError): return 0   # (read while being replaced)

# Debian's chromium, driven by Playwright (its own browser download is not available here): $CHROMIUM, else /usr/bin/chromium
CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')

def launch_chromium(playwright):
    "Headless Chromium for the browser tests; a clear failure when it is not installed."
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f'no Chromium at {CHROMIUM} (Debian: apt-get install chromium, as scripts/env.sh dev does; or set $CHROMIUM)')
    return playwright.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox'])

"""GBF live runs as users run them: the CLI on a real SDS archive on disk, with gaps, missing elements, mixed
sampling rates, a corrupt miniSEED file, an interval without data, ObsPy's single-station example, and the
interactive mode. Commands run through the `geoinversion` entry point, where the seismic plug-in adds them."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import obspy
import pandas as pd
import pytest

from conftest import cli, kill_and_resume

T0 = obspy.UTCDateTime('2024-03-01T00:00:00')
DURATION = 1200.0

def array_record(bulletin, start, duration, seed=0):
    "Element noise over the whole record plus the signal of every bulletin event (S1's generator)."
    from geoinversion.seismic.array import arces_inventory, array_offsets
    from geoinversion.seismic.synthetic import element_stream, event_signal
    inv = arces_inventory()
    st = element_stream(None, inv, start, duration, seed, glitches=False)
    off = array_offsets(inv)
    n = st[0].stats.npts
    for _, row in bulletin.iterrows():
        s = event_signal(row.to_dict(), off, start, n)
        if s is None: continue
        for e, code in enumerate(off.index):
            for c, comp in enumerate('ZNE'):
                tr = st.select(station=code, channel='BH' + comp)[0]
                tr.data = tr.data + s[e, c]
    return st, inv

@pytest.fixture(scope='module')
def archive(tmp_path_factory):
    "An SDS archive on disk (20 minutes, two events), its StationXML and bulletin; and a tiny trained model."
    from geoinversion.seismic.live import write_sds
    from geoinversion.seismic.synthetic import make_bulletin
    from geoinversion.seismic.models import train_gbf
    root = tmp_path_factory.mktemp('gbf')
    b = make_bulletin(2, 4, T0, DURATION, snr_range=(10, 30), min_separation_s=400)
    st, inv = array_record(b, T0, DURATION)
    write_sds(st, root / 'sds')
    inv.write(str(root / 'array.xml'), format='STATIONXML')
    b.to_csv(root / 'bulletin.csv', index=False)
    run = train_gbf({'name': 'tiny', 'windows': 48, 'epochs': 1, 'width': 4, 'dense': 8, 'batch_size': 16,
                     'fractions': [0.5, 0.25, 0.25]}, 0, root / 'runs' / 'tiny_seed0', verbose=0)
    return {'root': root, 'sds': root / 'sds', 'inventory': root / 'array.xml', 'bulletin': root / 'bulletin.csv', 'model': run}

def live_args(a, out, *more, start=T0, duration=DURATION):
    return ['gbf-live', '--run', a['model'], '--data', a['sds'], '--inventory', a['inventory'],
            '--start', start, '--duration', duration, '--out', out, *more]

def test_live_on_an_sds_archive(archive, tmp_path):
    out = tmp_path / 'live'
    r = cli(*live_args(archive, out, '--bulletin', archive['bulletin']))
    ev = pd.read_csv(out / 'events.csv')
    assert len(ev) == 2 and ev['n_windows'].between(4, 5).all(), ev   # ±10 s around P, windows every 5 s
    w = pd.read_csv(out / 'windows.csv')
    assert len(w) == int((DURATION - 240) // 5) + 1
    assert json.loads((out / 'run.json').read_text())['status'] == 'finished'
    # the QuakeML holds every candidate (noise and unclassified ones too), with its P time and its label as event type
    cat = obspy.read_events(str(out / 'catalog.xml'))
    assert len(cat) == len(ev)
    types = {'earthquake': 'earthquake', 'explosion': 'explosion', 'noise': 'not existing', 'unclassified': 'not reported'}
    for e, (_, row) in zip(cat, ev.iterrows()):
        assert e.event_type == types[row['label']] and abs(e.picks[0].time - obspy.UTCDateTime(row['p_time'])) < 1e-3
    # the resolved settings are recorded
    d = json.loads((out / 'description.json').read_text())
    assert d['model_run'] == str(Path(archive['model']).resolve()) and d['inventory'] == str(Path(archive['inventory']).resolve())
    assert d['bulletin'] == str(Path(archive['bulletin']).resolve()) and d['source'] == f"SDS archive {Path(archive['sds']).resolve()}"
    assert (d['step'], d['vote_seconds'], d['chunk_seconds'], d['trigger_on'], d['freqmin'], d['freqmax'], d['p_velocity'], d['s_velocity']) == \
        (5.0, 10.0, 3600.0, 3.0, 2.0, 8.0, 6.45, 3.70)
    assert (out / 'animation.gif').stat().st_size > 1000
    r2 = cli(*live_args(archive, out, '--bulletin', archive['bulletin']), check=False)
    assert r2.returncode == 2 and 'overwrite' in r2.stderr
    # the papermill run calls the same functions: the same events
    import papermill as pm
    root = Path(__file__).parent.parent
    pm.execute_notebook(str(root / 'papermill_runs' / 'gbf_live.ipynb'), str(tmp_path / 'pm.ipynb'), kernel_name='python3',
                        parameters={'run': str(archive['model']), 'data': str(archive['sds']), 'inventory': str(archive['inventory']),
                                    'bulletin': str(archive['bulletin']), 'start': str(T0), 'duration': DURATION,
                                    'out': str(tmp_path / 'pm'), 'gif': False}, cwd=str(root), progress_bar=False)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / 'pm' / 'live' / 'events.csv'), ev)

def test_catalog_content_against_the_bulletin(archive, tmp_path):
    "With threshold 0 every bulletin event is labelled an event: the QuakeML must then hold each one, at its P time and back-azimuth."
    out = tmp_path / 'all'
    cli(*live_args(archive, out, '--bulletin', archive['bulletin'], '--threshold', 0, '--no_gif'))
    b = pd.read_csv(archive['bulletin']).sort_values('p_time')
    cat = sorted(obspy.read_events(str(out / 'catalog.xml')), key=lambda e: e.picks[0].time)
    assert len(cat) == len(b) == 2
    for e, (_, r) in zip(cat, b.iterrows()):
        assert abs(e.picks[0].time - obspy.UTCDateTime(r['p_time'])) < 1e-3
        assert abs(e.picks[0].backazimuth - r['back_azimuth']) < 1e-6
        assert e.event_descriptions[0].text == r['event_id'] and e.event_type in ('earthquake', 'explosion')
        assert abs(e.preferred_origin().time - obspy.UTCDateTime(r['origin_time'])) < 1e-3

def test_live_sigkill_then_resume(archive, tmp_path):
    "gbf-live killed with SIGKILL after its first chunk; the same command resumes, skips the finished chunks, and gives the uninterrupted result."
    args = lambda out: live_args(archive, out, '--bulletin', archive['bulletin'], '--chunk_seconds', 240, '--no_gif')
    ref = tmp_path / 'ref'
    cli(*args(ref))                                                  # 193 windows in chunks of 48: 5 chunks
    out = tmp_path / 'killed'
    done = []
    def between():
        done.extend(sorted(f.name for f in (out / 'chunks').glob('[0-9]*.json')))   # (state.json marks that some chunk is done)
        assert 1 <= len(done) < 5, done
        assert json.loads((out / 'run.json').read_text())['status'] == 'running'
    kill_and_resume(args(out), lambda: (out / 'chunks' / '0000.json').exists(), between, timeout=300)
    rec = json.loads((out / 'run.json').read_text())
    assert rec['status'] == 'finished' and len(rec['starts']) == 2
    assert rec['summary']['chunks_reused'] == len(done) and rec['summary']['chunks_computed'] == 5 - len(done)
    for f in ('windows.csv', 'events.csv', 'notes.txt'):
        assert (out / f).read_text() == (ref / f).read_text(), f
    assert not (out / 'chunks').exists() and not list(out.rglob('.*.tmp'))

def test_bad_data_is_skipped_with_notes(archive, tmp_path):
    "Gaps, a missing element, another sampling rate and a corrupt miniSEED file: logged, and the run finishes."
    import shutil
    sds = tmp_path / 'sds'
    shutil.copytree(archive['sds'], sds)
    day = f'{T0.year}.{T0.julday:03d}'
    f = lambda sta, cha: sds / str(T0.year) / 'XA' / sta / f'{cha}.D' / f'XA.{sta}..{cha}.D.{day}'
    shutil.rmtree(sds / str(T0.year) / 'XA' / 'AR03')                                   # missing element
    for cha in ('BHZ', 'BHN', 'BHE'):                                                    # a 60 s gap in AR01
        st = obspy.read(str(f('AR01', cha)))
        tr = st[0]
        a, b = tr.copy().trim(T0, T0 + 500), tr.copy().trim(T0 + 560, T0 + DURATION)
        obspy.Stream([a, b]).write(str(f('AR01', cha)), format='MSEED')
    for cha in ('BHZ', 'BHN', 'BHE'):                                                    # AR05 at 20 Hz
        st = obspy.read(str(f('AR05', cha))); st.resample(20.0)
        st[0].data = st[0].data.astype(np.float32); st.write(str(f('AR05', cha)), format='MSEED')
    f('AR07', 'BHZ').write_bytes(b'this is not miniSEED' * 500)                          # a corrupt file
    out = tmp_path / 'live'
    r = cli('gbf-live', '--run', archive['model'], '--data', sds, '--inventory', archive['inventory'],
            '--bulletin', archive['bulletin'], '--start', T0, '--duration', DURATION, '--out', out, '--no_gif')
    notes = (out / 'notes.txt').read_text()
    assert 'AR03' in notes and 'left out' in notes, notes
    assert 'AR01' in notes and 'gap' in notes, notes
    assert 'AR05' in notes and '20.0 Hz' in notes, notes
    assert 'AR07' in notes, notes
    ev = pd.read_csv(out / 'events.csv')
    assert len(ev) == 2 and (ev['n_windows'] > 0).all()

def test_interval_without_data_is_a_clear_error(archive, tmp_path):
    r = cli(*live_args(archive, tmp_path / 'none', start=T0 + 86400 * 3), check=False)
    assert r.returncode == 2 and 'no data' in r.stderr.lower(), r.stderr[-2000:]
    assert 'Traceback' not in r.stderr
    assert not (tmp_path / 'none').exists()                          # nothing to resume: no run folder left behind

def test_obspy_example_needs_an_array(archive, tmp_path):
    f = tmp_path / 'example.mseed'
    obspy.read().write(str(f), format='MSEED')
    r = cli('gbf-live', '--run', archive['model'], '--data', f, '--start', '2009-08-24T00:20:03', '--duration', 300,
            '--out', tmp_path / 'x', check=False)
    assert r.returncode == 2 and 'an array is needed' in r.stderr, r.stderr[-2000:]
    r = cli('gbf-live', '--model', archive['model'], '--mseed', f, '--start', '2009-08-24T00:20:03', '--duration', 300,
            '--out', tmp_path / 'x', check=False)   # the old spellings: the same answer, and what replaces them
    assert r.returncode == 2 and 'an array is needed' in r.stderr and '--mseed is deprecated; use --data' in r.stderr

def test_interactive_goes_on_after_bad_intervals(archive, tmp_path):
    lines = f'{T0} +{DURATION}\nnot a time\n{T0 + 86400 * 3} +600\n{T0} {T0 + 600}\n{T0} {T0 + 600}\nq\n'
    r = cli('gbf-interactive', '--run', archive['model'], '--data', archive['sds'], '--inventory', archive['inventory'],
            '--out', tmp_path / 'ia', '--no_gif', stdin=lines)
    assert '3 interval(s) classified, 2 skipped' in r.stdout, r.stdout + r.stderr[-2000:]
    names = sorted(p.name for p in (tmp_path / 'ia').iterdir())      # the repeated interval gets a new folder, nothing is overwritten
    assert len(names) == 3 and names[0] + '_2' in names, names

def test_bad_bulletin_value_is_one_clear_error(archive, tmp_path):
    b = pd.read_csv(archive['bulletin']); b.loc[1, 'back_azimuth'] = 400.0
    bad = tmp_path / 'bad.csv'; b.to_csv(bad, index=False)
    r = cli(*live_args(archive, tmp_path / 'x', '--bulletin', bad), check=False)
    assert r.returncode == 2 and 'row 1 (line 3), column back_azimuth: 400.0' in r.stderr, r.stderr[-2000:]
    r = cli(*live_args(archive, tmp_path / 'x', '--chunk_seconds', 60), check=False)
    assert r.returncode == 2 and 'argument --chunk_seconds: 60 is out of range (seconds: in [240, ' in r.stderr, r.stderr[-2000:]


def test_bad_inputs_of_issue_18(archive, tmp_path):
    "--start yesterday, another stage's run as --run, an inventory of other codes: one clear line each, exit 2, nothing written."
    r = cli(*live_args(archive, tmp_path / 'a', start='yesterday'), check=False)
    assert r.returncode == 2 and "--start 'yesterday' is not a time: give an ISO time such as 2024-01-01T00:00:00" in r.stderr, r.stderr[-2000:]
    assert 'q to quit' not in r.stderr
    from geoinversion.runs import finish_run, start_run
    glacier = start_run(tmp_path / 'glacier_seed0', 'train', {'training': {}, 'shapes': {'dem': [20, 20, 1]}})
    (glacier / 'model.keras').write_bytes(b'x'); (glacier / 'normalization.json').write_text('{}'); finish_run(glacier)
    r = cli('gbf-live', '--run', glacier, '--data', archive['sds'], '--start', T0, '--duration', 600, '--out', tmp_path / 'b', check=False)
    assert r.returncode == 2 and 'a glacier training run, not a GBF training run' in r.stderr and 'scaler.json' in r.stderr, r.stderr[-2000:]
    inv = obspy.read_inventory(str(archive['inventory']))
    for net in inv: net.code = 'NO'
    inv.write(str(tmp_path / 'other.xml'), format='STATIONXML')
    r = cli('gbf-live', '--run', archive['model'], '--data', archive['sds'], '--inventory', tmp_path / 'other.xml',
            '--bulletin', archive['bulletin'], '--start', T0, '--duration', 600, '--out', tmp_path / 'c', check=False)
    assert r.returncode == 2 and "the data hold none of the inventory's 25 stations (NO.AR00" in r.stderr and 'they hold XA.AR00' in r.stderr, r.stderr[-2000:]
    assert r.stderr.count('no data') == 0, r.stderr[-3000:]   # not a line per station
    assert not any((tmp_path / x).exists() for x in 'abc')

def test_triggered_s_arrivals_are_not_new_events(archive, tmp_path):
    "Without a bulletin, every detected candidate left is P-like, or an S-like one with no P before it (noted); the catalog has its slowness."
    out = tmp_path / 'trig'
    cli(*live_args(archive, out, '--no_gif'))
    ev = pd.read_csv(out / 'events.csv')
    assert len(ev) >= 1 and 'apparent_velocity' in ev, ev
    notes = (out / 'notes.txt').read_text()
    slow = ev[ev['apparent_velocity'] < 5.5]
    assert all(f'{t}: S-like arrival' in notes and 'no P before it' in notes for t in slow['p_time']), (slow, notes)
    cat = obspy.read_events(str(out / 'catalog.xml'))
    for e, (_, row) in zip(cat, ev.iterrows()):
        assert abs(e.picks[0].horizontal_slowness - 111.19492664455873 / row['apparent_velocity']) < 1e-6

def test_shipped_stationxml_has_the_instrument_response(tmp_path):
    from geoinversion.seismic.array import arces_inventory
    inv = arces_inventory()
    for code in inv.get_contents()['channels']:
        r = inv.get_response(code, T0)
        assert (r.instrument_sensitivity.input_units, r.instrument_sensitivity.output_units) == ('M/S', 'COUNTS') and r.instrument_sensitivity.value == 1e9

"""A synthetic SDS archive on disk, read with ObsPy's SDS client through `read_array`: gaps, missing
elements, mixed sampling rates, a corrupt miniSEED file and an interval without data each give a
note or a clear error; one 3-component station is not an array (issue 6: array processing)."""
import logging
import shutil
from pathlib import Path

import numpy as np
import obspy
import pytest
from obspy import UTCDateTime, read_inventory
from obspy.clients.filesystem.sds import Client as SDSClient

from geoinversion.core import GeoinversionError
from geoinversion.seismic.array import (ArrayError, NoDataError, fk_estimate, gbf_beams, preprocess, read_array)
from geoinversion.seismic.synthetic import write_archive

START = UTCDateTime('2024-06-01T00:00:00')

@pytest.fixture(scope='module')
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp('sds_base')
    return write_archive(root, n_events=2, seed=11, start=START, duration_s=900, gaps=1, dead=1,
                         explosion_fraction=0.0, snr_range=(30.0, 60.0), min_separation_s=300)

@pytest.fixture
def archive(base, tmp_path):
    "A private copy of the base archive that a test may damage."
    root = Path(base['sds']).parent
    dst = tmp_path / 'arc'
    shutil.copytree(root, dst)
    return {k: (str(dst / Path(v).relative_to(root)) if isinstance(v, str) else v) for k, v in base.items()}

def _file(arc, sta, cha):
    return Path(arc['sds']) / '2024' / 'XA' / sta / f'{cha}.D' / f'XA.{sta}..{cha}.D.2024.153'

def _read(arc, t0=START, t1=START + 899.975, **kw):
    return read_array(SDSClient(arc['sds']), read_inventory(arc['inventory']), t0, t1, **kw)

def test_archive_layout_and_clean_read(base, caplog):
    assert _file(base, 'AR00', 'BHZ').exists()
    with caplog.at_level(logging.WARNING, logger='geoinversion.seismic'):
        st, notes = _read(base)
    gap_sta = base['defects'][0].split()[1].split('.')[1]
    dead_sta = base['defects'][1].split()[1].split('.')[1]
    assert any(gap_sta in n and 'gap' in n for n in notes)          # gap filled with 0, noted
    assert any(dead_sta in n and 'dead' in n for n in notes)        # dead channel: element left out
    assert all(n in caplog.text for n in notes)                     # every note is logged
    stations = {tr.stats.station for tr in st}
    assert len(stations) == 24 and dead_sta not in stations and gap_sta in stations
    assert {tr.stats.npts for tr in st} == {36000} and all(tr.stats.starttime == START for tr in st)

def test_missing_element(archive):
    shutil.rmtree(Path(archive['sds']) / '2024' / 'XA' / 'AR05')
    st, notes = _read(archive)
    assert 'AR05' not in {tr.stats.station for tr in st}
    assert any('AR05' in n and 'no data' in n for n in notes)

def test_mixed_sampling_rates(archive):
    f = _file(archive, 'AR07', 'BHE')
    tr = obspy.read(str(f))[0]
    tr.data = tr.data.astype(np.float64); tr.resample(100.0); tr.data = np.round(tr.data).astype(np.int32)
    tr.write(str(f), format='MSEED', encoding='STEIM2')
    st, notes = _read(archive)
    assert any('AR07' in n and 'resampled' in n for n in notes)
    assert {t.stats.sampling_rate for t in st} == {40.0} and {t.stats.npts for t in st} == {36000}

@pytest.mark.filterwarnings('ignore:Failed to decode')
def test_corrupt_file_is_skipped(archive):
    f = _file(archive, 'AR08', 'BHN')
    f.write_bytes(np.random.default_rng(0).bytes(8192))
    st, notes = _read(archive)                     # no crash
    assert any('AR08' in n and 'unreadable' in n for n in notes)
    assert 'AR08' not in {tr.stats.station for tr in st}
    assert len({tr.stats.station for tr in st}) == 23

def test_interval_without_data(base):
    with pytest.raises(NoDataError, match='no data'):
        _read(base, START + 86400, START + 86400 + 600)
    assert issubclass(NoDataError, GeoinversionError)

def test_too_few_elements(archive):
    for d in (Path(archive['sds']) / '2024' / 'XA').iterdir():
        if d.name not in ('AR00', 'AR01'): shutil.rmtree(d)
    with pytest.raises(ArrayError, match='an array is needed'):
        _read(archive)

def test_single_three_component_station_is_not_an_array(tmp_path):
    st = obspy.read()                              # ObsPy's bundled example: BW.RJOB, EHZ/EHN/EHE
    for tr in st:
        s = tr.stats
        p = tmp_path / str(s.starttime.year) / s.network / s.station / f'{s.channel}.D' / \
            f'{s.network}.{s.station}.{s.location}.{s.channel}.D.{s.starttime.year}.{s.starttime.julday:03d}'
        p.parent.mkdir(parents=True, exist_ok=True)
        tr.write(str(p), format='MSEED')
    with pytest.raises(ArrayError, match='an array is needed'):
        read_array(SDSClient(str(tmp_path)), obspy.read_inventory(), st[0].stats.starttime, st[0].stats.endtime)

def test_bad_interval(base):
    with pytest.raises(GeoinversionError, match='not after'):
        _read(base, START + 10, START)

def test_beams_and_fk_on_the_archive(base):
    st, _ = _read(base)
    inv = read_inventory(base['inventory'])
    pst = preprocess(st)
    for _, ev in base['bulletin'].iterrows():
        tp = UTCDateTime(ev.p_time)
        b = gbf_beams(pst, inv, ev.back_azimuth)
        i_p = int(round((tp - START) * 40))
        pre = np.abs(b[i_p - 2000:i_p - 200, 0]).max()
        assert np.abs(b[i_p:i_p + 400, 0]).max() > 5 * pre          # the P beam shows the event where the bulletin says
        fk = fk_estimate(pst, inv, tp - 1, tp + 9)
        err = (fk['back_azimuth'] - ev.back_azimuth + 180) % 360 - 180
        # 10 ms element timing jitter (and noise) bias a single event's estimate by a few degrees;
        # the clean plane-wave tolerance (2 deg, 0.01 s/km) is checked in nbs/40_seismic.array.ipynb
        assert abs(err) <= 5.0 and abs(fk['slowness'] - ev.p_slowness) <= 0.01, (fk, ev.back_azimuth, ev.p_slowness)

def test_training_windows_match_the_live_path(tmp_path):
    "Noise-free: an event's window from the archive (read_array -> preprocess -> gbf_beams, as live does) equals the training path."
    from geoinversion.seismic.array import array_offsets, beams_from_array, preprocess_array
    from geoinversion.seismic.synthetic import element_array
    arc = write_archive(tmp_path / 'quiet', n_events=1, seed=5, start=START, duration_s=600, noise=0.0,
                        glitch_rate_per_hour=0.0, snr_range=(20.0, 30.0))
    ev = arc['bulletin'].iloc[0]
    inv = read_inventory(arc['inventory'])
    w0 = UTCDateTime(ev.p_time) - 60
    st, _ = read_array(SDSClient(arc['sds']), inv, w0 - 20, w0 + 260)
    ts = st[0].stats.starttime                  # on the archive's sample grid (P is not)
    live = gbf_beams(preprocess(st, taper_fraction=0.02), inv, ev.back_azimuth)[800:800 + 9600]
    off = array_offsets(inv)
    data = element_array(ev.to_dict(), off, ts + 12, 10240, seed=0, noise=0.0)   # the same grid, 8 s margins
    train = beams_from_array(preprocess_array(data, 40.0, taper_fraction=160 / 10240), off, 40.0, ev.back_azimuth)[320:320 + 9600]
    peak = np.abs(train).max(axis=0)
    assert peak[0] > 1000                                   # the event is there (counts)
    np.testing.assert_allclose(live, train, atol=0.002 * peak.max())   # int32 counts in the archive: ~2e-4

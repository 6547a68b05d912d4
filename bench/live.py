"""bench/live: one hour of ARCES-like array data (25 elements x 3 components at 40 Hz) through the live GBF path —
reading the SDS archive, preprocessing, trigger + FK, beams, 240 s windows every 5 s, the network, the vote — on 2 cores.
Prints a table (stage, seconds, share) and the ratio to the 60 s goal; with --model, also the live-style accuracy of
that run's network over the hour against the archive's bulletin (bulletin candidates, and trigger + FK candidates).

    python bench/live.py [--model RUN] [--cores 2] [--events 10] [--keep DIR]

Not part of the test suite."""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('MPLBACKEND', 'Agg')

GOAL_S = 60.0

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', default=None, help='a finished gbf-train run (default: an untrained network of gbf_small\'s size; same cost)')
    ap.add_argument('--cores', type=int, default=2)
    ap.add_argument('--events', type=int, default=10, help='events in the hour')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--keep', default=None, help='folder for the archive and the live run (default: a temporary one)')
    a = ap.parse_args(argv)
    if hasattr(os, 'sched_setaffinity'):
        cpus = sorted(os.sched_getaffinity(0))[:a.cores]
        os.sched_setaffinity(0, cpus)
    os.environ['OMP_NUM_THREADS'] = str(a.cores)
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(a.cores)
    tf.config.threading.set_inter_op_parallelism_threads(a.cores)
    import numpy as np
    import pandas as pd
    from geoinversion.seismic.synthetic import write_archive
    from geoinversion.seismic.live import LiveClassifier, open_client, run_live
    from geoinversion.seismic.data import make_scaler
    from geoinversion.seismic.models import architectures, load_gbf_description, load_gbf_run
    from geoinversion.seismic.analysis import live_scores
    import obspy

    root = Path(a.keep or tempfile.mkdtemp(prefix='bench_live_'))
    t = time.perf_counter()
    arc = write_archive(root / 'archive', a.events, a.seed, '2024-01-01T00:00:00', 3600.0)
    print(f'archive: one hour, {len(arc["bulletin"])} events, written in {time.perf_counter() - t:.1f} s (not timed) -> {root}')
    inv = obspy.read_inventory(arc['inventory'])
    if a.model:
        net, scaler, _ = load_gbf_run(a.model)
        what = f'network of {a.model}'
    else:
        d = load_gbf_description('gbf_small')
        net = architectures[d.architecture](width=d.width, dense=d.dense, dropout=d.dropout)
        scaler = make_scaler(d.scaler, d.per_window)
        what = f'untrained {d.architecture} (width {d.width}, gbf_small size)'
    live = LiveClassifier(net, scaler, inv)
    live.predict(np.zeros((2, 9600, 3), np.float32))                 # build the predict function once (not data work)
    t0, t1 = obspy.UTCDateTime('2024-01-01T00:00:00'), obspy.UTCDateTime('2024-01-01T01:00:00')
    wall = time.perf_counter()
    res = live.classify(open_client(arc['sds']), t0, t1)           # trigger + FK: no bulletin help
    wall = time.perf_counter() - wall
    rows = [(k, v) for k, v in res.timings.items()]
    rows.append(('other', max(0.0, wall - sum(v for _, v in rows))))
    print(f'\nbench/live: 1 h of 25 elements x 3 components at 40 Hz, {len(res.windows)} windows every {live.step:.0f} s, '
          f'{what}, {a.cores} cores ({os.cpu_count()} on the machine)\n')
    print(f'{"stage":<12}{"seconds":>10}{"share":>9}')
    for k, v in rows: print(f'{k:<12}{v:>10.2f}{100 * v / wall:>8.1f}%')
    print(f'{"total":<12}{wall:>10.2f}{100.0:>8.1f}%')
    print(f'\nratio to the {GOAL_S:.0f} s goal: {wall / GOAL_S:.3f} ({"met" if wall <= GOAL_S else "NOT met"}); '
          f'{3600 / wall:.0f}x faster than real time')
    if a.model:
        b = arc['bulletin']
        for mode, events in (('bulletin candidates', b), ('trigger + FK candidates', None)):
            r = res if events is None else live.classify(open_client(arc['sds']), t0, t1, events=events)
            s = live_scores(r.events, b)
            print(f'\nlive-style accuracy, {mode}: {s["correct_kind"]}/{s["bulletin_events"]} bulletin events with the right kind '
                  f'(accuracy {s["accuracy"]:.3f}); detected {s["detected"]}/{s["bulletin_events"]}, '
                  f'kind right for {s["kind_accuracy_of_detected"]:.3f} of those; {s["false_alarms"]} false alarm(s)')
    return 0

if __name__ == '__main__':
    sys.exit(main())

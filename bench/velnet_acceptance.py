"""Issue 14's acceptance run: InversionNet against the seed-style ensemble (+ TTA) on generated FlatVel-A and CurveVel-A,
trained with the same budget, scored in OpenFWI's units beside OpenFWI's published InversionNet numbers; and the physics
loss on and off (the data misfit of the predictions).

What it does, per family (every step resumes: a killed run continues where it stopped when run again):

1. generates `--samples` training samples and `--test` held-out samples (another seed) with OpenFWI's acquisition
   (70 x 70 cells of 10 m, 5 shots, 70 receivers, 1000 steps of 1 ms, 15 Hz Ricker) on Dask (`--scheduler`);
2. trains `inversionnet` (OpenFWI's layers, L1 + L2 loss) and an `ensemble` of seed-style networks (MAPE + L1 +
   gradient loss, acquisition-flip augmentation) for the same number of epochs over the same samples (the budget;
   the wall time of each is reported too);
3. trains a seed-style network alone for `--physics_epochs` without the physics term, then fine-tunes it twice from
   there for `--finetune_epochs` at `--finetune_lr`, with and without the physics term (`--physics_weight`, one shot):
   the same start and the same budget, so the data misfit of the two says what the physics term does (trained from
   scratch for one epoch the physics term only slowed the velocity loss down: it needs a network that is already
   close, as the propagator's misfit is far from convex);
4. prints one table: MAE, RMSE, SSIM ([-1, 1] units over 1500-4500 m/s, as OpenFWI) and MAPE of the held-out
   predictions (network alone, with TTA, with TTA and post-processing), the data misfit of the predicted models, the
   ratio ensemble+TTA MAE / InversionNet MAE (asked: <= 0.8), and OpenFWI's published InversionNet MAE (FlatVel-A
   0.0131, CurveVel-A 0.0685, trained on 24,000 and 24,000 samples).

    .venv/bin/python bench/velnet_acceptance.py --out runs/acceptance                 # 3000 + 300 samples per family
    .venv/bin/python bench/velnet_acceptance.py --out /tmp/acc --quick                # the same steps, tiny: proves the pipeline

On 2 CPU cores InversionNet trains at about 9 samples/s and the ensemble at about 2.5 (bench/velnet.py): the full run
is for a GPU machine (mixed precision is switched on there by the descriptions' `mixed_precision: auto`).
"""
import argparse
import json
import os
import time
from pathlib import Path

OPENFWI_INVERSIONNET_MAE = {'FlatVel-A': 0.0131, 'CurveVel-A': 0.0685}   # OpenFWI (Deng et al. 2022), Table of InversionNet results
OPENFWI_TRAIN_SAMPLES = {'FlatVel-A': 24000, 'CurveVel-A': 24000}


def generate_family(family, out, n, seed, scheduler, nt=None):
    from geoinversion.runs import run_status
    from geoinversion.wave.datasets import generate
    if run_status(out) == 'finished': return out   # a rerun resumes: a finished dataset is kept
    d = {'family': family, 'n_samples': n, 'seed': seed, 'layout': 'openfwi', 'chunk': 25}
    if nt: d['acquisition'] = {'nt': nt}
    return generate(d, out, scheduler=scheduler, progress=False)


def velnet(name, folder, test, network, params, loss, epochs, batch, augment=(), physics=None, tta=True, lr=1e-3):
    d = {'name': name, 'data': {'folder': str(folder), 'validation': 0.1, 'velocity_range': [1500, 4500],
                                'augment': list(augment)},
         'test': str(test), 'network': network, 'network_params': params, 'loss': loss, 'epochs': epochs, 'batch_size': batch,
         'learning_rate': lr, 'callbacks': ['cosine_schedule'], 'tta': tta, 'figure_samples': 4}
    if physics is not None: d['physics'] = physics
    return d


TRAINED_AS = ('network', 'network_params', 'loss', 'epochs', 'batch_size', 'learning_rate', 'physics')   # a finished run is reused only if these agree


def run(description, seed, out, pretrain=None):
    from geoinversion.core import read_json
    from geoinversion.runs import description_differences, run_status
    from geoinversion.velnet.train import load_velnet_training, train_velnet
    t0 = time.perf_counter()
    if run_status(out) == 'finished':   # trained by an earlier invocation: only if it was trained as asked now
        done, asked = read_json(Path(out) / 'description.json'), load_velnet_training(description).model_dump(mode='json')
        differ = description_differences(out, {**done, **{k: asked[k] for k in TRAINED_AS}})
        if differ: raise SystemExit(f"{out} was trained otherwise ({', '.join(differ)}): use another --out (or remove that run)")
        return read_json(Path(out) / 'test_metrics.json'), None
    train_velnet(description, seed, out, verbose=0, pretrain=pretrain)
    return read_json(Path(out) / 'test_metrics.json'), time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', required=True, help='folder of the datasets and runs (resumable)')
    ap.add_argument('--families', nargs='+', default=['FlatVel-A', 'CurveVel-A'])
    ap.add_argument('--samples', type=int, default=3000, help='training samples per family (10%% kept for validation)')
    ap.add_argument('--test', type=int, default=300, help='held-out samples per family')
    ap.add_argument('--epochs', type=int, default=40, help='epochs of both InversionNet and the ensemble (the same budget)')
    ap.add_argument('--physics_epochs', type=int, default=10, help='epochs of the seed-style network the physics comparison starts from')
    ap.add_argument('--finetune_epochs', type=int, default=2, help='epochs of each fine-tuning, with and without the physics term')
    ap.add_argument('--finetune_lr', type=float, default=1e-4)
    ap.add_argument('--physics_weight', type=float, default=0.1)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--members', type=int, default=3, help='members of the ensemble')
    ap.add_argument('--scheduler', default='local')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--quick', action='store_true', help='64 + 16 samples, 2 epochs, 2 members: the pipeline, not the numbers')
    a = ap.parse_args()
    if a.quick: a.samples, a.test, a.epochs, a.physics_epochs, a.finetune_epochs, a.members, a.batch = 64, 16, 2, 1, 1, 2, 8
    out = Path(a.out)
    import tensorflow as tf
    print(f"{os.cpu_count()} CPU cores, GPUs: {len(tf.config.list_physical_devices('GPU'))}; {a.samples} training + {a.test} held-out "
          f"samples per family, {a.epochs} epochs, batch {a.batch}\n")
    rows = []
    for fam in a.families:
        t0 = time.perf_counter()
        train, test = out / 'data' / fam / 'train', out / 'data' / fam / 'test'
        generate_family(fam, train, a.samples, a.seed, a.scheduler)
        generate_family(fam, test, a.test, a.seed + 1, a.scheduler)
        gen_s = time.perf_counter() - t0
        flip = [{'name': 'flip', 'p': 0.5}]
        members = [{'network': 'seednet', 'params': {'decoder': 'transformer' if i % 2 == 0 else 'conv'}} for i in range(a.members)]
        runs = {
            'inversionnet': velnet('inversionnet', train, test, 'inversionnet', {'width': 1.0}, {'l1': 1.0, 'l2': 1.0}, a.epochs, a.batch, lr=1e-4),
            'ensemble': velnet('ensemble', train, test, 'ensemble', {'members': members}, {'mape': 1.0, 'l1': 1.0, 'gradient': 0.1},
                               a.epochs, a.batch, augment=flip),
            'seednet (the fine-tunings start here)': velnet('seednet_nophys', train, test, 'seednet', {}, {'l1': 1.0}, a.physics_epochs,
                                                             a.batch, tta=False),
        }
        ft = f"lr{a.finetune_lr:g}_e{a.finetune_epochs}"
        for label, name, physics in (('fine-tuned, no physics', f'ft_nophys_{ft}', None),
                                     (f'fine-tuned, physics {a.physics_weight:g}', f'ft_phys{a.physics_weight:g}_{ft}',
                                      {'weight': a.physics_weight, 'shots': [2]})):
            runs[label] = velnet(name, train, test, 'seednet', {}, {'l1': 1.0}, a.finetune_epochs, a.batch, tta=False,
                                 lr=a.finetune_lr, physics=physics)
        scores = {}
        for label, d in runs.items():
            pre = out / 'runs' / fam / 'seednet_nophys' if label.startswith('fine-tuned') else None
            s, secs = run(d, a.seed, out / 'runs' / fam / d['name'], pretrain=pre)
            scores[label] = s
            rows.append((fam, label, s, secs))
        inv, ens = scores['inversionnet'], scores['ensemble']
        ratio = ens['tta']['mae'] / inv['network']['mae']
        nophys, phys = (scores[k]['data_misfit']['network'] for k in list(runs)[-2:])
        print(f"{fam}: data generated in {gen_s:.0f} s; ensemble+TTA MAE / InversionNet MAE = {ratio:.3f} (asked: <= 0.8); "
              f"data misfit fine-tuned without / with the physics term {nophys:.3f} / {phys:.3f}")
    print('\n| family | network | training samples | held-out | MAE | RMSE | SSIM | MAPE % | MAE, TTA | MAE, TTA + post | data misfit '
          '(true models: 0) | training (s, this invocation) | OpenFWI InversionNet MAE (samples) |')
    print('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|')
    for fam, label, s, secs in rows:
        n, t, tp = s['network'], s.get('tta', {}), s.get('tta_post_process', {})
        dm = s.get('data_misfit', {}).get('network', float('nan'))
        ref = f"{OPENFWI_INVERSIONNET_MAE[fam]} ({OPENFWI_TRAIN_SAMPLES[fam]})" if label == 'inversionnet' and fam in OPENFWI_INVERSIONNET_MAE else ''
        print(f"| {fam} | {label} | {round(a.samples * 0.9)} | {s['samples']} | {n['mae']:.4f} | {n['rmse']:.4f} | {n['ssim']:.4f} | "
              f"{n['mape']:.2f} | {t.get('mae', float('nan')):.4f} | {tp.get('mae', float('nan')):.4f} | {dm:.4f} | {'earlier run' if secs is None else f'{secs:.0f}'} | {ref} |")
    (out / 'acceptance.json').write_text(json.dumps([{'family': f, 'network': l, 'scores': s, 'seconds': t} for f, l, s, t in rows], indent=1))


if __name__ == '__main__':
    main()

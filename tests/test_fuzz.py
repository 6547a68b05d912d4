"""Fuzz: malformed descriptions of every stage, made by mutating the shipped examples (wrong types, NaN, Infinity, huge
and negative numbers, unknown and path-like names, empty strings and lists, missing and unknown fields). Each must be
either accepted and kept as written, or rejected by a `DescriptionError` whose message names the file, the JSON path
and the value: no traceback, no bad value accepted silently. In this process through the loaders, a few through the
command; `python tests/test_fuzz.py` prints the counts per stage."""
import copy
import json
import math
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import cli

from geoinversion.core import DescriptionError
from geoinversion.descriptions import read_description

DELETE = object()
# strings in every mutation: an unknown name, a path, an empty string
UNKNOWN, PATHLIKE, EMPTY = 'nonexistent_xyz', '../escaped', ''


def inline(example, **nested):
    "A shipped example with its nested descriptions (by name) written inline, so that their fields are mutated too."
    d, _ = read_description(example)
    for field, example_name in nested.items(): d[field] = read_description(example_name)[0]
    return d


def loaders():
    "{stage: (loader, [base descriptions], rules)}: the rules are JSON-path patterns (fnmatch) of what a field is."
    from geoinversion.volcano.datasets import load_dataset_description
    from geoinversion.volcano.training import load_training_description
    from geoinversion.glacier.data import load_glacier_dataset
    from geoinversion.glacier.train import load_glacier_training
    from geoinversion.glacier.draw import load_drawing
    from geoinversion.seismic.models import load_gbf_description
    from geoinversion.fwi.problem import load_fwi_description
    from geoinversion.wave.datasets import load_wave_dataset_description
    from geoinversion.velnet.data import load_velnet_data
    from geoinversion.velnet.train import load_velnet_training
    mogi = read_description('volcano_mogi')[0]
    mctigue = {**mogi, 'name': 'sphere', 'generation_type': 'mctigue', 'fixed': {'x0': 100.0, 'mu': 3e10},
               'distributions': {'depth': {'type': 'truncated_normal', 'mean': 3000, 'std': 500, 'low': 2000, 'high': 5000},
                                 'radius': {'type': 'uniform', 'low': 100, 'high': 500},
                                 'pressure': {'type': 'log_normal', 'mean_log': 16, 'std_log': 0.5}},
               'varyings': {'radius': [[0.2, 0.3], [0.6, 0.7]]}, 'units': {'pressure': 'Pa'},
               'mask': {'fraction': 0.2, 'exponent': 3.0, 'fill': 0.0}, 'wrap': {'wavelength': 0.0555},
               'noise': {'amplitude': 0.002, 'exponent': 2.5, 'white': 0.001}, 'grid': {'size': [32, 48], 'pixel_size': 150.0},
               'n_bins': 5, 'dtype': 'float64'}
    gbf = read_description('gbf_small')[0]
    from geoinversion.seismic.models import load_gbf_description as _g
    gbf_full = _g('gbf_small').model_dump(mode='json')
    # what each field is: signed numbers (a negative one is fine), names of registered things (an unknown one is an
    # error), names that become file or layer names (a path is an error), free text, lists that may be empty
    common_ref = ['*.type', '*.generation_type', '*.module', '*.optimizer', '*.optimizer_name', '*.architecture', '*.scaler',
                  '*.activation', '*.last_activation', '*.criterion', '*.class_weights', '*.padding', '*.dtype', '*.look', '*.merge',
                  '*.interpolation', '*.additional_callbacks[*]', '*.losses.*', '*.losses_name.*', '*.metrics.*[*]', '*.metrics_name.*[*]',
                  '*.units.*', '*.augment[*]', '*.augment[*].name', '$.dataset', '$.model', '*.branches[*][*]', '*.outputs[*]',
                  '*.inputs[*].name', '*.outputs[*].name', '*.features', '$.scheduler']
    common_name = ['$.name', '*.image_name', '$.dataset.name', '$.model.name', '*.geometries[*].name', '$.dataset_name', '*.dataset.dataset_name',
                   '*.rasters[*].name', '*.profiles[*].name']
    volcano_signed = ['*.fixed.x0', '*.fixed.y0', '*.distributions.*.low', '*.distributions.*.high', '*.distributions.*.mean',
                      '*.distributions.*.mean_log', '*.distributions.*.loc', '*.distributions.*.value', '*.heading', '*.fill',
                      '*.distributions.delta_volume.*', '*.distributions.pressure.*']
    # velocity networks: the shipped run's data section, and data sections with every optional field written out (each
    # augmentation with all its parameters; both data scalers with their fitted numbers given); the folder need not exist
    velnet = read_description('velnet_flatvel_a')[0]
    velnet_data_full = {'folder': 'data/flatvel', 'layout': 'openfwi', 'validation': 0.2, 'seed': 7,
                        'scaler': {'name': 'robust', 'params': {'low': 10.0, 'high': 90.0, 'center': -0.5, 'scale': 2.0}},
                        'scaler_samples': 16, 'velocity_range': [1500.0, 4500.0],
                        'augment': [{'name': 'time_shift', 'params': {'max_shift': 5}, 'p': 0.5},
                                    {'name': 'noise', 'params': {'snr_db': 20.0}, 'p': 0.3},
                                    {'name': 'amplitude', 'params': {'low': 0.5, 'high': 2.0, 'per_source': True}, 'p': 0.5},
                                    {'name': 'bandpass', 'params': {'low_hz': 2.0, 'high_hz': 30.0, 'dt': 0.001, 'order': 4}, 'p': 0.2},
                                    {'name': 'trace_dropout', 'params': {'fraction': 0.1}, 'p': 0.2},
                                    {'name': 'flip', 'params': {}, 'p': 0.5}]}
    velnet_data_log = {'folder': 'data/flatvel', 'layout': 'folders', 'validation': 0.1, 'seed': 0,
                       'scaler': {'name': 'log', 'params': {'scale': 0.01, 'percentile': 95.0}}, 'scaler_samples': 32,
                       'velocity_range': [1500.0, 4500.0], 'augment': []}
    # the training stage: the shipped run, every optional field written out (the data section too: its errors must come
    # out at their place under $.data), and the other networks with all their parameters beside only the required fields
    velnet_full = {'name': 'velnet_full', 'data': velnet_data_full, 'test': 'data/flatvel_test', 'network': 'inversionnet',
                   'network_params': {'width': 0.5, 'name': 'inversionnet_half'},
                   'loss': {'l1': 1.0, 'l2': 0.5, 'mape': 0.1, 'gradient': 0.1, 'ssim': 0.1},
                   'physics': {'weight': 0.1, 'shots': [2], 'normalise': 'global', 'engine': 'numba',
                               'acquisition': {'dx': 10.0, 'dt': 0.001, 'freq': 15.0, 'sources': [[1, 0], [1, 34], [1, 69]],
                                               'receivers': [[1, 0], [1, 35], [1, 69]], 'order': 8, 'pml_width': 20, 'free_surface': True}},
                   'metrics': ['mae', 'rmse', 'ssim', 'mape'], 'epochs': 50, 'batch_size': 16, 'steps_per_epoch': 100,
                   'optimizer': 'adamw', 'learning_rate': 1e-4, 'min_learning_rate': 1e-6, 'patience': 5, 'callbacks': ['cosine_schedule'],
                   'criterion': 'val_velocity_loss', 'mixed_precision': 'off', 'tta': True, 'post_process': 1.0, 'figure_samples': 4}
    velnet_seednet = {'data': {'folder': 'data/flatvel'}, 'epochs': 1, 'network': 'seednet',
                      'network_params': {'filters': 16, 'blocks': 3, 'grid': [8, 8], 'embed_dim': 64, 'heads': 4, 'decoder': 'transformer',
                                         'layers': 2, 'head': 'softplus', 'dropout': 0.1, 'name': 'seednet_small'}}
    velnet_ensemble = {'data': {'folder': 'data/flatvel'}, 'epochs': 1, 'network': 'ensemble',
                       'network_params': {'members': [{'network': 'inversionnet', 'params': {'width': 0.25}},
                                                      {'network': 'seednet', 'params': {'filters': 8}}], 'name': 'pair'}}
    velnet_ref = common_ref + ['$.layout', '*.scaler.name', '$.network', '*.network_params.members[*].network', '$.metrics[*]',
                               '$.callbacks[*]', '$.criterion', '$.mixed_precision', '*.physics.normalise', '*.physics.engine',
                               '*.network_params.decoder', '*.network_params.head']
    velnet_name = common_name + ['*.network_params.name']
    velnet_signed = ['*.scaler.params.center']
    return {
        'volcano dataset': (load_dataset_description, [mogi, mctigue],
                            dict(signed=volcano_signed, ref=common_ref, name=common_name, free=[], empty_ok=[], nan_ok=['*.mask.fill'])),
        'volcano training': (load_training_description, [inline('train_mogi', dataset='volcano_mogi', model='model_mogi_flat'),
                                                          inline('train_mogi', dataset='volcano_mogi', model='model_mogi_cnn')],
                             dict(signed=volcano_signed + ['*.axis'], ref=common_ref, name=common_name, free=[],
                                  empty_ok=['$.additional_callbacks', '$.metrics.*'])),
        'glacier dataset': (load_glacier_dataset, [read_description('glacier_dataset')[0]],
                            dict(signed=[], ref=common_ref, name=common_name,
                                 free=['*.shapefile_file', '*.shapefile_fieldname', '*.split_fieldname', '*.rasters[*].file', '*.folder'], empty_ok=[])),
        'glacier training': (load_glacier_training, [inline('glacier_train', dataset='glacier_dataset', model='glacier_model_resnet'),
                                                      inline('glacier_train', dataset='glacier_dataset', model='glacier_model_vgg')],
                             dict(signed=[], ref=common_ref + ['$.dataset.rasters[*].name'], name=common_name,
                                  free=['*.shapefile_file', '*.shapefile_fieldname', '*.split_fieldname', '*.rasters[*].file', '*.folder'],
                                  empty_ok=['$.additional_callbacks', '$.metrics_name.*', '$.model.main.dense'])),
        'glacier drawing': (load_drawing, [read_description('glacier_draw')[0],
                                           {**read_description('glacier_draw')[0], 'features': ['G01', 'G02'], 'scheduler': 'serial',
                                            'profiles': [{'name': 'line', 'coordinates': [[0.0, 0.0], [100.0, 50.0]], 'spacing': 10.0},
                                                         {'name': 'centre', 'file': 'centerlines.shp', 'field': 'name'}]}],
                            dict(signed=['*.coordinates[*][*]'], ref=['*.features', '$.scheduler'], name=['*.profiles[*].name'],
                                 free=['*.features[*]', '*.models[*]', '*.profiles[*].file', '*.profiles[*].field'], empty_ok=['$.profiles'])),
        'GBF training': (load_gbf_description, [gbf, gbf_full],
                         dict(signed=[], ref=common_ref, name=common_name, free=['$.windows_file'], empty_ok=['$.augment'])),
        'FWI': (load_fwi_description, [read_description('fwi_small')[0], read_description('fwi_marmousi')[0]],
                dict(signed=[], ref=common_ref + ['*.generator', '$.optimizer.name', '$.misfit.name'],
                     name=['$.name'], free=[], empty_ok=[])),
        'wave dataset': (load_wave_dataset_description, [read_description('wave_flatvel_a')[0],
                                                        {'family': {'type': 'curved_faults', 'variant': 'B', 'nz': 40, 'nx': 60, 'dx': 15.0, 'layers': [3, 6], 'min_thickness': 40.0, 'min_contrast': 100.0, 'reversal_prob': 0.1, 'amplitude': [5.0, 20.0], 'wavelength': [200.0, 600.0], 'n_sines': [1, 3], 'faults': [1, 2], 'throw': [10.0, 50.0], 'dip': [30.0, 70.0]},
                                                         'n_samples': 8, 'seed': 3, 'layout': 'folders', 'chunk': 4,
                                                         'acquisition': {'dt': 0.002, 'nt': 500, 'freq': 8.0, 'n_sources': 3, 'n_receivers': 30,
                                                                         'source_depth': 1, 'receiver_depth': 2, 'order': 4, 'pml_width': 12,
                                                                         'free_surface': True}}],
                         dict(signed=[], ref=common_ref + ['$.family'], name=[], free=[], empty_ok=[])),
        'velnet data': (load_velnet_data, [velnet['data'], velnet_data_full, velnet_data_log],
                        dict(signed=velnet_signed, ref=velnet_ref, name=velnet_name, free=['$.folder'], empty_ok=['$.augment'])),
        'velnet training': (load_velnet_training, [velnet, velnet_full, velnet_seednet, velnet_ensemble],
                            dict(signed=velnet_signed, ref=velnet_ref, name=velnet_name, free=['$.data.folder', '$.test'],
                                 empty_ok=['$.data.augment', '$.metrics', '$.callbacks'])),
    }


def jpath(path) -> str:
    out = '$'
    for p in path: out += f'[{p}]' if isinstance(p, int) else f'.{p}'
    return out


def nodes(d, path=()):
    yield path, d
    if isinstance(d, dict):
        for k, v in d.items(): yield from nodes(v, path + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d): yield from nodes(v, path + (i,))


def at(d, path):
    for p in path: d = d[p]
    return d


def mutated(d, path, value):
    d = copy.deepcopy(d)
    parent = at(d, path[:-1])
    if value is DELETE: del parent[path[-1]]
    else: parent[path[-1]] = value
    return d


def matches(path, patterns):
    "Does the JSON path of `path` match one of `patterns` (`*`: anything, brackets as written)?"
    return any(re.fullmatch(re.escape(p).replace(r'\*', '.*'), jpath(path)) for p in patterns)


def mutations(base, rules, loaded):
    "(path, new value or DELETE, expected: 'bad' | 'ok' | 'either', what) for every node of `base` (`loaded`: what it reads as)."
    for path, v in nodes(base):
        if not path: continue
        key = next((p for p in reversed(path) if isinstance(p, str)), '')
        if isinstance(v, bool):
            yield path, 'yes', 'bad', 'a string for true/false'
            yield path, 1, 'bad', 'a number for true/false'
        elif isinstance(v, (int, float)):
            yield path, math.nan, 'ok' if matches(path, rules.get('nan_ok', [])) else 'bad', 'NaN'
            for bad, what in ((math.inf, 'Infinity'), (-math.inf, '-Infinity'), (1e300, 'huge'), (-1e300, 'huge negative'),
                              (10**30, 'huge integer'), (True, 'true for a number'), (str(v), 'a number as a string'), ([v], 'a list')):
                yield path, bad, 'bad', what
            neg = -abs(v) - 1 if isinstance(v, int) else -abs(v) - 1.5
            yield path, neg, 'ok' if matches(path, rules['signed']) else 'bad', 'negative'
            if isinstance(loaded(path), int) and not isinstance(loaded(path), bool): yield path, 2.5, 'bad', 'a fraction for an integer'
        elif isinstance(v, str):
            ref, name, free = (matches(path, rules[k]) for k in ('ref', 'name', 'free'))
            yield path, UNKNOWN, 'bad' if ref else 'ok' if (name or free) else 'either', 'an unknown name'
            yield path, PATHLIKE, 'bad' if (ref or name) else 'ok' if free else 'either', 'a path for a name'
            yield path, EMPTY, 'bad', 'an empty string'
            yield path, 123, 'bad', 'a number for a string'
        elif isinstance(v, list):
            yield path, [], 'ok' if matches(path, rules['empty_ok']) else 'either', 'an empty list'
            yield path, {'a': 1}, 'bad', 'an object for a list'
            yield path, 'x', 'bad', 'a string for a list'
        elif isinstance(v, dict):
            yield path, [], 'bad', 'a list for an object'
            yield path, {**v, 'bogus_field': 1}, 'bad', 'an unknown field'
            yield path, {}, 'either', 'an empty object'
        if isinstance(path[-1], str): yield path, DELETE, 'either', 'a field left out'
        if v is not None and not isinstance(v, (dict, list)): yield path, None, 'either', 'null'


def dumped(obj, loader, raw, path):
    "The value at `path` of the loaded description (nested descriptions loaded by their own loader)."
    d = obj.model_dump(mode='json')
    from geoinversion.velnet.train import VelnetTrainingDescription
    if isinstance(obj, VelnetTrainingDescription) and len(path) > 1 and path[0] == 'data' and isinstance(raw.get('data'), dict):
        from geoinversion.velnet.data import load_velnet_data   # the data section as its own loader reads it
        return at(load_velnet_data(obj.data).model_dump(mode='json'), path[1:])
    if len(path) > 1 and path[0] in ('dataset', 'model') and isinstance(raw.get(path[0]), dict):
        sub = getattr(obj, path[0])
        from geoinversion.volcano.training import TrainingDescription
        if isinstance(obj, TrainingDescription):
            from geoinversion.volcano.datasets import load_dataset_description
            from geoinversion.graph import load_model_description
            nested = (load_dataset_description if path[0] == 'dataset' else load_model_description)(sub)
        else:
            from geoinversion.glacier.data import load_glacier_dataset
            from geoinversion.glacier.train import load_glacier_model
            nested = (load_glacier_dataset if path[0] == 'dataset' else load_glacier_model)(sub)
        return at(nested.model_dump(mode='json'), path[1:])
    return at(d, path)


def same(a, b):
    if isinstance(a, float) and isinstance(b, (int, float)): return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)): return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b and type(a) is type(b) or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool)
                                               and not isinstance(b, bool) and a == b)


def related(reported: str, mutated_path: str) -> bool:
    "Does the error point at the mutated value (or a field that contains it, or one inside it)?"
    r, m = reported.rstrip('.'), mutated_path
    return r == m or m.startswith(r + '.') or m.startswith(r + '[') or r.startswith(m + '.') or r.startswith(m + '[')


def run_stage(stage, tmp_path):
    "Every mutation of the stage's bases through its loader; returns the counts and the failures."
    # the registries read the installed packages' entry points again at every lookup of a name (~20 ms each here); nothing
    # is installed while a stage runs, so they are read once per stage: the same validation, a stage in seconds
    import functools
    from unittest import mock
    import geoinversion.core as core
    with mock.patch.object(core, 'plugins', functools.lru_cache(core.plugins)):
        return _run_stage(stage, tmp_path)


def _run_stage(stage, tmp_path):
    loader, bases, rules = loaders()[stage]
    counts = dict(cases=0, rejected=0, accepted=0)
    failures = []
    for b, base in enumerate(bases):
        obj = loader(copy.deepcopy(base))   # the base itself is fine
        def loaded(path):
            try: return dumped(obj, loader, base, path)
            except (KeyError, IndexError, TypeError): return None
        for k, (path, value, expected, what) in enumerate(mutations(base, rules, loaded)):
            d = mutated(base, path, value)
            f = tmp_path / f'{stage.replace(" ", "_")}_{b}_{k}.json'
            f.write_text(json.dumps(d))   # NaN and Infinity written as Python's JSON writer does (and its reader takes)
            counts['cases'] += 1
            where = jpath(path)
            case = f'{stage}: {where} = {value if value is not DELETE else "(left out)"!r} ({what})'
            try: obj = loader(str(f))
            except DescriptionError as e:
                text = str(e)
                problems = []
                if not text.startswith(f'{f}: at $'): problems.append('does not start with the file and a JSON path')
                if value is not DELETE and '; got' not in text and 'missing required field' not in text: problems.append('names no value')
                named = [str(path[-1])] + ([value] if isinstance(value, str) and value else [])   # a reference elsewhere to what changed
                if not related(e.path, where) and not any(repr(n) in text or f' {n}' in text or (len(n) > 2 and n in text) for n in named):
                    problems.append(f'blames another field ({e.path})')
                if problems: failures.append(f'{case}: unclear rejection ({"; ".join(problems)}): {text}')
                else: counts['rejected'] += 1
                continue
            except Exception as e:
                failures.append(f'{case}: traceback {type(e).__name__}: {e}')
                continue
            if expected == 'bad':
                failures.append(f'{case}: accepted silently')
                continue
            if value is not DELETE and value is not None:
                try: kept = dumped(obj, loader, d, path)
                except (KeyError, IndexError, TypeError): kept = '<not found>'
                if not same(value, kept) and not (isinstance(value, (list, dict)) and not value):
                    failures.append(f'{case}: accepted but changed to {kept!r}')
                    continue
            counts['accepted'] += 1
    return counts, failures


STAGES = ['volcano dataset', 'volcano training', 'glacier dataset', 'glacier training', 'glacier drawing', 'GBF training', 'FWI',
          'wave dataset', 'velnet data', 'velnet training']


@pytest.mark.parametrize('stage', STAGES)
def test_fuzz_loaders(stage, tmp_path):
    counts, failures = run_stage(stage, tmp_path)
    print(stage, counts)
    assert counts['cases'] >= 100, counts
    assert not failures, f'{len(failures)} of {counts["cases"]} cases fail:\n' + '\n'.join(failures[:60])


def test_fuzz_through_the_command(tmp_path):
    "A handful through `geoinversion` itself: exit status 2, one line naming file, path and value, no traceback, nothing written."
    cases = []
    mogi = read_description('volcano_mogi')[0]
    f = tmp_path / 'nan.json'; f.write_text(json.dumps({**mogi, 'fixed': {'x0': math.nan, 'y0': 0.0}}))
    cases.append((['synth', '--config', f, '--out', tmp_path / 'o1', '--n', 2], f'{f}: at $.fixed.x0: not a finite number; got nan'))
    f = tmp_path / 'latin1.json'; f.write_bytes(json.dumps({**mogi, 'name': 'Mérapi'}, ensure_ascii=False).encode('latin-1'))
    cases.append((['synth', '--config', f, '--out', tmp_path / 'o2'], f'{f}: at $: not UTF-8 text'))
    cases.append((['train', '--config', tmp_path, '--out', tmp_path / 'o3'], f'{tmp_path}: at $: this is a folder, not a description file'))
    f = tmp_path / 'glacier.json'; f.write_text(json.dumps({**read_description('glacier_dataset')[0], 'buffer_distance': -math.inf}))
    cases.append((['glacier-dataset', '--config', f, '--data', tmp_path / 'o4'], f'{f}: at $.buffer_distance: not a finite number; got -inf'))
    f = tmp_path / 'draw.json'; f.write_text(json.dumps({**read_description('glacier_draw')[0], 'tile_size': True}))
    cases.append((['describe', '--config', f], f'{f}: at $.tile_size: wrong type (bool); got True'))
    for args, expected in cases:
        r = cli(*args, check=False)
        assert r.returncode == 2, (args, r.stderr[-2000:])
        assert expected in r.stderr, (args, r.stderr[-2000:])
        assert 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]
    assert not any((tmp_path / f'o{i}').exists() for i in range(1, 5))


if __name__ == '__main__':   # the counts per stage
    import tempfile
    for stage in STAGES:
        counts, failures = run_stage(stage, Path(tempfile.mkdtemp()))
        print(f'{stage}: {counts["cases"]} cases, {counts["rejected"]} rejected clearly, {counts["accepted"]} accepted as written, '
              f'{len(failures)} failures')
        for line in failures[:int(sys.argv[1]) if len(sys.argv) > 1 else 10]: print('   ', line)

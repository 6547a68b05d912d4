"""Bad dataset folders for the velocity networks' readers (`geoinversion.velnet.data`): real files in tmp_path, one test
per case, each checking that the one `DataError` names the folder or file at fault; and the data section's description
through the house fuzz (tests/test_fuzz.py's mutations)."""
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from geoinversion.velnet.data import (DataError, VelocityDataset, augmentation, load_velnet_data, npy_header,
                                      prepare_data, split_indices)


def write_sample(folder: Path, sources=(1, 75, 150), nt=12, R=5, model=True, seed=0):
    "A per-sample folder of random shot gathers (nt, R) per source and a (4, 6) velocity model."
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    data = rng.standard_normal((len(sources), nt, R)).astype(np.float32)
    for i, d in zip(sources, data): np.save(folder / f'receiver_data_src_{i}.npy', d)
    if model: np.save(folder / 'vp_model.npy', rng.uniform(1500, 4500, (4, 6)).astype(np.float32))
    return data


def folders(root: Path, n=3, **kw) -> Path:
    for k in range(n): write_sample(root / f'sample_{k:03d}', seed=k, **kw)
    return root


def openfwi(root: Path, counts=(3, 2), S=2, nt=10, R=4, models=True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for k, n in enumerate(counts):
        np.save(root / f'data_{k:04d}.npy', rng.standard_normal((n, S, nt, R)).astype(np.float32))
        if models: np.save(root / f'model_{k:04d}.npy', rng.uniform(1500, 4500, (n, 1, 5, 7)).astype(np.float32))
    return root


def fails(where, *contains, **kw):
    "The `DataError` of opening a dataset (`VelocityDataset(**kw)`), checked to name `where` and hold each of `contains`."
    with pytest.raises(DataError) as e: VelocityDataset(**kw)
    text = str(e.value)
    assert str(where) in text, text
    for c in contains: assert c in text, text
    return text


# the good cases, as a baseline

def test_a_good_folder_dataset_reads_what_was_written(tmp_path):
    written = write_sample(tmp_path / 'ds/sample_2', seed=5)
    folders(tmp_path / 'ds', n=1)
    ds = VelocityDataset(tmp_path / 'ds')
    assert ds.ids == ['sample_000', 'sample_2'] and ds.data_shape == (3, 12, 5) and ds.model_shape == (4, 6)
    np.testing.assert_array_equal(ds.read(1)[0], written)


def test_a_good_openfwi_dataset_is_memory_mapped_and_pickles(tmp_path):
    ds = VelocityDataset(openfwi(tmp_path / 'ds'))
    assert len(ds) == 5 and ds.ids[3] == 'data_0001[0]' and ds.data_shape == (2, 10, 4) and ds.model_shape == (5, 7)
    full = np.load(tmp_path / 'ds/data_0001.npy')
    np.testing.assert_array_equal(ds.read(4)[0], full[1])
    assert isinstance(ds._maps[tmp_path / 'ds/data_0001.npy'], np.memmap)   # streamed, not loaded
    again = pickle.loads(pickle.dumps(ds))                                  # as Dask would send it
    np.testing.assert_array_equal(again.read(4)[0], full[1])


def test_a_test_set_without_models_is_for_inference(tmp_path):
    ds = VelocityDataset(folders(tmp_path / 'test', model=False))
    assert not ds.has_models and ds.read(0)[1] is None
    batch = next(ds.batches(batch_size=2, shuffle=False))
    assert batch.shape == (2, 3, 12, 5)


# bad folders: one DataError naming what is wrong

def test_no_such_folder(tmp_path):
    fails(tmp_path / 'missing', 'no such folder', folder=tmp_path / 'missing')


def test_empty_folder(tmp_path):
    (tmp_path / 'empty').mkdir()
    fails(tmp_path / 'empty', 'no samples', folder=tmp_path / 'empty')


def test_folder_of_unrelated_files(tmp_path):
    (tmp_path / 'x/sub').mkdir(parents=True); (tmp_path / 'x/notes.txt').write_text('hello')
    np.save(tmp_path / 'x/sub/other.npy', np.zeros(3))
    fails(tmp_path / 'x', 'no samples', folder=tmp_path / 'x')


def test_openfwi_layout_asked_of_a_folder_layout(tmp_path):
    fails(tmp_path / 'ds', 'no data*.npy / seis*.npy files', folder=folders(tmp_path / 'ds'), layout='openfwi')


def test_unknown_layout(tmp_path):
    fails(tmp_path, "unknown layout 'hdf5'", 'allowed: auto, openfwi, folders', folder=tmp_path, layout='hdf5')


def test_a_source_file_missing_in_the_middle(tmp_path):
    root = folders(tmp_path / 'ds')
    (root / 'sample_001/receiver_data_src_75.npy').unlink()
    fails(root / 'sample_001', 'receiver_data_src_75.npy is missing', 'the other samples have sources [1, 75, 150]', folder=root)


def test_a_sample_with_fewer_sources(tmp_path):
    root = folders(tmp_path / 'ds', n=2)
    write_sample(root / 'sample_009', sources=(1, 75))
    fails(root / 'sample_009', 'receiver_data_src_150.npy is missing', folder=root)


def test_a_sample_with_an_extra_source(tmp_path):
    root = folders(tmp_path / 'ds')
    np.save(root / 'sample_002/receiver_data_src_300.npy', np.zeros((12, 5), np.float32))
    fails(root / 'sample_002/receiver_data_src_300.npy', 'a source the other samples do not have', folder=root)


def test_two_files_for_one_source(tmp_path):
    root = folders(tmp_path / 'ds')
    np.save(root / 'sample_001/receiver_data_src_075.npy', np.zeros((12, 5), np.float32))
    fails(root / 'sample_001', 'two files for source 75', folder=root)


def test_a_model_without_shot_gathers(tmp_path):
    root = folders(tmp_path / 'ds')
    (root / 'lonely').mkdir(); np.save(root / 'lonely/vp_model.npy', np.zeros((4, 6)))
    fails(root / 'lonely', 'vp_model.npy but no receiver_data_src', folder=root)


def test_mismatched_data_shapes_between_samples(tmp_path):
    root = folders(tmp_path / 'ds')
    write_sample(root / 'sample_001', R=6)
    fails(root / 'sample_001/receiver_data_src_1.npy', 'of shape (12, 6); the other files hold (12, 5)', folder=root)


def test_mismatched_data_shapes_within_a_sample(tmp_path):
    root = folders(tmp_path / 'ds')
    np.save(root / 'sample_000/receiver_data_src_150.npy', np.zeros((11, 5), np.float32))
    fails(root / 'sample_000/receiver_data_src_150.npy', 'of shape (11, 5)', folder=root)


def test_mismatched_model_shapes(tmp_path):
    root = folders(tmp_path / 'ds')
    np.save(root / 'sample_002/vp_model.npy', np.zeros((4, 7), np.float32))
    fails(root / 'sample_002/vp_model.npy', 'a velocity model (nz, nx) of shape (4, 7); the other files hold (4, 6)', folder=root)


def test_a_data_file_with_the_wrong_dimensions(tmp_path):
    root = folders(tmp_path / 'ds')
    np.save(root / 'sample_000/receiver_data_src_1.npy', np.zeros((1, 12, 5), np.float32))
    fails(root / 'sample_000/receiver_data_src_1.npy', 'allowed: 2 dimensions (time steps, receivers)', folder=root)


def test_a_training_set_without_a_model(tmp_path):
    root = folders(tmp_path / 'ds')
    (root / 'sample_001/vp_model.npy').unlink()
    fails(root / 'sample_001', 'vp_model.npy is missing', '2 of 3 samples have their velocity model', folder=root)
    fails(root / 'sample_001', 'a training set needs the velocity model of every sample', folder=root, labels=True)
    assert not VelocityDataset(root, labels=False).has_models                # for inference, the models are ignored


def test_a_test_set_refused_for_training(tmp_path):
    root = folders(tmp_path / 'ds', model=False)
    fails(root / 'sample_000', 'a training set needs the velocity model', folder=root, labels=True)
    with pytest.raises(DataError, match='a training set needs'): prepare_data({'folder': str(root)})


def test_openfwi_data_and_model_counts_differ(tmp_path):
    root = openfwi(tmp_path / 'ds')
    np.save(root / 'model_0001.npy', np.zeros((3, 1, 5, 7), np.float32))
    fails(root / 'model_0001.npy', '3 models for the 2 samples of data_0001.npy', folder=root)


def test_openfwi_mismatched_data_files(tmp_path):
    root = openfwi(tmp_path / 'ds', counts=(3, 2, 2))
    np.save(root / 'data_0002.npy', np.zeros((2, 2, 10, 5), np.float32))
    fails(root / 'data_0002.npy', 'shot gathers (sources, time steps, receivers) of shape (2, 10, 5); the other files hold (2, 10, 4)', folder=root)


def test_openfwi_model_without_data(tmp_path):
    root = openfwi(tmp_path / 'ds')
    (root / 'data_0001.npy').unlink()
    fails(root / 'model_0001.npy', 'no data file numbered 0001 (data_0001.npy', folder=root)


def test_openfwi_data_without_its_model(tmp_path):
    root = openfwi(tmp_path / 'ds')
    (root / 'model_0000.npy').unlink()
    fails(root / 'data_0000.npy', 'no model file numbered 0000 (model_0000.npy', folder=root)


def test_openfwi_data_of_three_dimensions(tmp_path):
    root = openfwi(tmp_path / 'ds', models=False)
    np.save(root / 'data_0001.npy', np.zeros((2, 10, 4), np.float32))
    fails(root / 'data_0001.npy', 'allowed: 4 dimensions', folder=root)


def test_non_numeric_dtype(tmp_path):
    root = folders(tmp_path / 'ds')
    np.save(root / 'sample_001/receiver_data_src_1.npy', np.full((12, 5), 'x'))
    fails(root / 'sample_001/receiver_data_src_1.npy', 'dtype <U1 are not real numbers', folder=root)


def test_object_dtype(tmp_path):
    root = folders(tmp_path / 'ds')
    np.save(root / 'sample_001/vp_model.npy', np.array([{'v': 1500}], dtype=object), allow_pickle=True)
    fails(root / 'sample_001/vp_model.npy', 'dtype object are not real numbers', folder=root)


def test_a_file_that_is_not_npy(tmp_path):
    root = folders(tmp_path / 'ds')
    (root / 'sample_002/receiver_data_src_150.npy').write_bytes(b'\x89HDF\r\n\x1a\n' + bytes(100))
    fails(root / 'sample_002/receiver_data_src_150.npy', 'not a .npy file', folder=root)


def test_an_empty_file(tmp_path):
    root = openfwi(tmp_path / 'ds')
    (root / 'model_0000.npy').write_bytes(b'')
    fails(root / 'model_0000.npy', 'not a .npy file', folder=root)


def test_a_truncated_file(tmp_path):
    root = openfwi(tmp_path / 'ds')
    p = root / 'data_0001.npy'
    p.write_bytes(p.read_bytes()[:-100])
    fails(p, 'truncated', folder=root)


def test_nan_in_data_is_found_when_read(tmp_path):
    root = folders(tmp_path / 'ds')
    d = np.zeros((12, 5), np.float32); d[3, 2] = np.nan
    np.save(root / 'sample_001/receiver_data_src_75.npy', d)
    ds = VelocityDataset(root)
    ds.read(0)
    with pytest.raises(DataError) as e: ds.read(1)
    assert str(root / 'sample_001/receiver_data_src_75.npy') in str(e.value)
    assert 'sample sample_001: 1 NaN or infinite values in its data (the first at source 1, time step 3, receiver 2)' in str(e.value)
    with pytest.raises(DataError, match='sample_001'): ds.check()


def test_inf_in_an_openfwi_model_is_found_when_read(tmp_path):
    root = openfwi(tmp_path / 'ds')
    m = np.load(root / 'model_0001.npy'); m[1, 0, 2, 3] = np.inf; np.save(root / 'model_0001.npy', m)
    ds = VelocityDataset(root)
    with pytest.raises(DataError) as e: ds.check()
    assert str(root / 'model_0001.npy') in str(e.value) and 'sample data_0001[1]' in str(e.value) and 'z 2, x 3' in str(e.value)


def test_npy_header_of_a_folder(tmp_path):
    with pytest.raises(DataError, match='cannot be read'): npy_header(tmp_path)


# the split and the augmentations

def test_the_split_is_reproducible_and_a_partition():
    for n, v in [(1000, 0.1), (7, 0.5), (2, 1), (50, 0.0)]:
        t, s = split_indices(n, v, seed=9)
        assert np.array_equal(np.sort(np.concatenate([t, s])), np.arange(n))
        assert all(np.array_equal(a, b) for a, b in zip((t, s), split_indices(n, v, seed=9)))
    with pytest.raises(DataError): split_indices(10, True)


def test_augmented_batches_are_reproducible(tmp_path):
    ds = VelocityDataset(folders(tmp_path / 'ds', n=4))
    aug = [{'name': 'flip', 'p': 0.5}, {'name': 'noise', 'params': {'snr_db': 10}}, {'name': 'trace_dropout', 'params': {'fraction': 0.4}}]
    one = [x for x, _ in ds.batches(batch_size=3, seed=5, augment=aug)]
    two = [x for x, _ in ds.batches(batch_size=3, seed=5, augment=augmentation(aug))]
    assert all(np.array_equal(a, b) for a, b in zip(one, two))
    other = [x for x, _ in ds.batches(batch_size=3, seed=5, augment=aug, epoch=1)]
    assert not np.array_equal(np.concatenate(one), np.concatenate(other))


# the description, through the house fuzz

BASES = [
    {'folder': 'data/train', 'layout': 'folders', 'validation': 0.2, 'seed': 3,
     'scaler': {'name': 'robust', 'params': {'low': 10.0, 'high': 90.0, 'center': 0.5, 'scale': 2.0}}, 'scaler_samples': 16,
     'velocity_range': [1500.0, 4500.0],
     'augment': [{'name': 'time_shift', 'params': {'max_shift': 5}, 'p': 0.5},
                 {'name': 'noise', 'params': {'snr_db': 20.0}, 'p': 0.5},
                 {'name': 'amplitude', 'params': {'low': 0.5, 'high': 2.0, 'per_source': True}, 'p': 0.3},
                 {'name': 'bandpass', 'params': {'low_hz': 2.0, 'high_hz': 30.0, 'dt': 0.001, 'order': 4}, 'p': 0.2},
                 {'name': 'trace_dropout', 'params': {'fraction': 0.1}, 'p': 0.1},
                 {'name': 'flip', 'params': {}, 'p': 0.5}]},
    {'folder': '/data/openfwi/flatvel_a', 'layout': 'openfwi', 'scaler': {'name': 'log', 'params': {'scale': 1.0, 'percentile': 90.0}}},
]
RULES = dict(signed=['$.scaler.params.center'], ref=['*.name'], name=[], free=['$.folder'], empty_ok=['$.augment', '*.params'])


def test_the_description_round_trips():
    for base in BASES:
        d = load_velnet_data(base)
        assert load_velnet_data(d.model_dump(mode='json')) == d


def test_fuzz_the_data_description(tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).parent))
    import test_fuzz
    monkeypatch.setattr(test_fuzz, 'loaders', lambda: {'velnet data': (load_velnet_data, BASES, RULES)})
    counts, failures = test_fuzz.run_stage('velnet data', tmp_path)
    assert counts['cases'] >= 100, counts
    assert not failures, f'{len(failures)} of {counts["cases"]} cases fail:\n' + '\n'.join(failures[:60])

def test_models_of_one_velocity_ask_for_a_range(tmp_path):
    from geoinversion.velnet.data import VelocityScaler
    root = tmp_path / 'const'
    for i in range(2):
        d = root / f's{i}'; d.mkdir(parents=True)
        np.save(d / 'receiver_data_src_0.npy', np.ones((10, 4), np.float32))
        np.save(d / 'vp_model.npy', np.full((6, 6), 2000, np.float32))
    with pytest.raises(DataError, match=r'same velocity \(2000 m/s\).*velocity_range'):
        VelocityScaler.fit(VelocityDataset(root))

def test_openfwi_as_it_is_distributed(tmp_path):
    "OpenFWI's own files: data/dataN.npy beside model/modelN.npy (FlatVel, CurveVel), and seisX.npy beside velX.npy (the Fault families)."
    a = tmp_path / 'flat'; (a / 'data').mkdir(parents=True); (a / 'model').mkdir()
    for k in (1, 2, 10):
        np.save(a / 'data' / f'data{k}.npy', np.full((3, 5, 20, 7), k, np.float32))
        np.save(a / 'model' / f'model{k}.npy', np.full((3, 1, 6, 6), 1500. + k, np.float32))
    ds = VelocityDataset(a)
    assert (len(ds), ds.data_shape, ds.model_shape) == (9, (5, 20, 7), (6, 6))
    assert ds.ids[:4] == ['data1[0]', 'data1[1]', 'data1[2]', 'data2[0]'] and ds.read_model(8)[0, 0] == 1510 and ds.read_data(8)[0, 0, 0] == 10
    b = tmp_path / 'fault'; b.mkdir()
    np.save(b / 'seis2_1_0.npy', np.zeros((2, 5, 20, 7), np.float32)); np.save(b / 'vel2_1_0.npy', np.full((2, 1, 6, 6), 2000, np.float32))
    assert len(VelocityDataset(b)) == 2
    (a / 'model' / 'model10.npy').unlink()
    with pytest.raises(DataError, match=r'data10\.npy: no model file numbered 10'): VelocityDataset(a, labels=True)

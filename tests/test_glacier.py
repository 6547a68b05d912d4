"""The glacier stage as users run it: the commands in real processes (world -> patches -> ensemble -> drawing),
the GeoTIFFs read back, papermill against the CLI, and every bad input of the issue: a clear error, or a logged skip
of one entity while the others finish.

The commands are run through the `geoinversion` entry point, where the glacier plugin adds them."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, cli

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "A world, its patches and a two-member ensemble (2 epochs, a sample every 3 pixels), made by the commands."
    tmp = tmp_path_factory.mktemp('glacier')
    cli('glacier-world', '--out', tmp / 'world', '--seed', 5)
    r = cli('glacier-dataset', '--data', tmp / 'world')
    assert '12 entities cut and cached, 0 skipped' in r.stdout
    r = cli('glacier-train', '--data', tmp / 'world', '--out', tmp / 'runs', '--seeds', 0, 1, '--epochs', 2, '--sample_stride', 3, '--quiet')
    assert 'glacier_seed0' in r.stdout and 'glacier_seed1' in r.stdout
    return tmp

def test_cli_draw_geotiffs(trained):
    "glacier-draw on two workers: mean/std GeoTIFFs with CRS, bounds and nodata; profiles; evaluation."
    import geopandas as gpd, rioxarray
    from geoinversion.glacier.data import aligned_grid
    r = cli('glacier-draw', '--run', trained / 'runs', '--out', trained / 'draw', '--scheduler', 'local', '--evaluate')
    assert '0 skipped' in r.stdout and '"within_1std"' in r.stdout
    outlines = gpd.read_file(trained / 'world' / 'outlines.shp').set_index('glac_id')
    test_ids = sorted(outlines.index[outlines.split == 'test'])
    for e in test_ids:
        for stat in ('mean', 'std'):
            da = rioxarray.open_rasterio(trained / 'draw' / e / f'thickness_{stat}.tif')
            assert da.rio.crs.to_epsg() == 2056 and da.rio.nodata == -9999.0
            b = outlines.geometry[e].bounds
            tr, shape = aligned_grid((b[0] - 300, b[1] - 300, b[2] + 300, b[3] + 300), 20.0)
            np.testing.assert_allclose(da.rio.bounds(), (tr.c, tr.f - 20 * shape[0], tr.c + 20 * shape[1], tr.f))
            v = da.values[0]
            assert (v != -9999).sum() > 50 and (v == -9999).sum() > 50
        m = rioxarray.open_rasterio(trained / 'draw' / e / 'thickness_mean.tif', masked=True)
        assert np.nanmin(m.values) > -50 and np.nanmax(m.values) < 1000
        assert (m.attrs['long_name'], m.attrs['units']) == ('thickness: ensemble mean', 'm')   # the band says what it is, and its unit
    csv = (trained / 'draw' / 'profiles' / 'centerlines.csv').read_text().splitlines()
    assert csv[0] == 'line,distance,x,y,mean,std,reference' and len(csv) > 20
    lines = {row.split(',')[0] for row in csv[1:]}   # each line named by its glacier, not numbered 0..n
    assert lines == set(gpd.read_file(trained / 'world' / 'centerlines.shp')['name']), lines
    assert 'calibration skipped: no validation entity was drawn' in r.stderr   # said, not silent
    assert (trained / 'draw' / 'profiles' / 'centerlines.png').stat().st_size > 1000
    ev = json.loads((trained / 'draw' / 'evaluation.json').read_text())
    assert ev['entities'] == len(test_ids) and 0 <= ev['within_1std'] <= 1 and ev['baseline_rmse'] > 0

def test_papermill_equals_cli(trained):
    "papermill_runs/draw.ipynb gives the maps the CLI gives (both call `draw`; in-process inference, same members)."
    import papermill as pm, rioxarray
    r = cli('glacier-draw', '--storage_path', trained / 'runs', '--out', trained / 'draw_cli', '--dask', 'none')   # the old spellings
    assert '--storage_path is deprecated' in r.stderr and '--dask is deprecated' in r.stderr
    pm.execute_notebook(str(ROOT / 'papermill_runs' / 'draw.ipynb'), str(trained / 'executed.ipynb'),
                        parameters={'run': str(trained / 'runs'), 'out': str(trained / 'draw_pm'), 'scheduler': 'serial'},
                        kernel_name='python3', cwd=str(ROOT), progress_bar=False)
    for f in sorted((trained / 'draw_cli').glob('G*/thickness_*.tif')):
        a = rioxarray.open_rasterio(f).values
        b = rioxarray.open_rasterio(trained / 'draw_pm' / f.parent.name / f.name).values
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)

def test_bad_entities_are_skipped(trained, tmp_path):
    "An entity outside the rasters, an unknown id, and a window larger than the glacier: logged skips; the rest is drawn."
    import geopandas as gpd, pandas as pd
    from shapely.geometry import box
    from geoinversion.core import read_json, write_json
    from geoinversion.glacier.draw import draw
    world = tmp_path / 'world'; shutil.copytree(trained / 'world', world, ignore=shutil.ignore_patterns('patches'))
    g = gpd.read_file(world / 'outlines.shp')
    test_ids = sorted(g.glac_id[g.split == 'test'])
    g.loc[g.glac_id == test_ids[0], 'geometry'] = box(2_700_000, 1_100_000, 2_700_300, 1_100_300)
    g.to_file(world / 'moved.shp')
    runs = tmp_path / 'runs'
    for r in ('glacier_seed0', 'glacier_seed1'):
        shutil.copytree(trained / 'runs' / r, runs / r)
        d = read_json(runs / r / 'description.json')
        d['dataset']['shapefile_file'] = 'moved.shp'; d['root'] = str(world); d['cache'] = str(world / 'patches' / 'moved')
        write_json(runs / r / 'description.json', d)
    from geoinversion.core import DescriptionError, GeoinversionError
    with pytest.raises(DescriptionError, match=r"at \$\.features\[%d\]: no such entity in moved\.shp; got 'G999'" % len(test_ids)):
        draw({'features': [*test_ids, 'G999'], 'models': ['glacier'], 'scheduler': 'serial'}, runs, tmp_path / 'unknown')   # at the door
    assert not (tmp_path / 'unknown').exists()
    out = draw({'features': test_ids, 'models': ['glacier'], 'scheduler': 'serial'}, runs, tmp_path / 'draw')
    t = pd.read_csv(out / 'entities.csv', dtype={'id': str}).set_index('id')
    assert 'outside the raster' in t.loc[test_ids[0], 'error']
    assert t.loc[test_ids[1:], 'error'].isna().all()
    assert read_json(out / 'run.json')['summary']['skipped'] == 1
    # a window larger than every glacier and its buffer: every entity skipped with that message, and the drawing fails (not "finished" empty)
    for r in ('glacier_seed0', 'glacier_seed1'):
        d = read_json(runs / r / 'description.json'); d['training']['area_size'] = 4000.0; write_json(runs / r / 'description.json', d)
    with pytest.raises(GeoinversionError, match='no entity could be drawn'):
        draw({'features': test_ids[1:], 'models': ['glacier'], 'scheduler': 'serial'}, runs, tmp_path / 'draw_big')
    t = pd.read_csv(tmp_path / 'draw_big' / 'entities.csv', dtype={'id': str}).set_index('id')
    assert t['error'].str.contains('larger than the glacier').all()
    assert read_json(tmp_path / 'draw_big' / 'run.json')['status'] == 'failed'

def test_bad_dataset_inputs(trained, tmp_path):
    "Missing raster file, raster without CRS, unknown EPSG, missing shapefile field: one clear error; all-NaN patch: a skip."
    import rasterio
    from geoinversion.core import DescriptionError
    from geoinversion.glacier.data import GlacierDataset, build_patches, load_glacier_dataset
    world = trained / 'world'
    base = load_glacier_dataset('glacier_dataset').model_dump()
    def dataset(**over): return GlacierDataset({**base, **over}, root=world, cache=tmp_path / 'cache')
    with pytest.raises(DescriptionError, match=r'\$\.rasters\[2\]\.file.*raster file not found'):
        build_patches(dataset(rasters=[*base['rasters'][:2], {**base['rasters'][2], 'file': 'gone.tif'}]))
    with rasterio.open(world / 'dem.tif') as src:
        profile = {**src.profile}; profile.pop('crs', None); data = src.read(1)
    with rasterio.open(tmp_path / 'nocrs.tif', 'w', **profile) as dst: dst.write(data, 1)
    with pytest.raises(DescriptionError, match='has no CRS'):
        build_patches(dataset(rasters=[{'name': 'dem', 'resolution': 20, 'file': str(tmp_path / 'nocrs.tif')}]))
    with pytest.raises(DescriptionError, match=r'\$\.epsg.*unknown EPSG code'):
        load_glacier_dataset({**base, 'epsg': 99999})
    r = cli('glacier-dataset', '--config', json.dumps({**base, 'shapefile_fieldname': 'NAME'}), '--data', world, check=False)
    assert r.returncode == 2 and '$.shapefile_fieldname' in r.stderr and 'glac_id' in r.stderr
    # all-NaN patch: the velocity blanked around one glacier
    import geopandas as gpd
    from rasterio.features import geometry_mask
    g = gpd.read_file(world / 'outlines.shp').to_crs('EPSG:32632')
    with rasterio.open(world / 'velocity.tif') as src:
        prof, v = src.profile, src.read(1)
        blank = ~geometry_mask([g.geometry[0].buffer(1500)], v.shape, src.transform)
    v[blank] = prof['nodata']
    with rasterio.open(tmp_path / 'holey.tif', 'w', **prof) as dst: dst.write(v, 1)
    rasters = [{**r, 'file': str(tmp_path / 'holey.tif')} if r['name'] == 'velocity' else r for r in base['rasters']]
    table = build_patches(dataset(rasters=rasters, dataset_name='holey'))
    assert 'all NaN' in table.loc[g.glac_id[0], 'error']
    assert table['error'].notna().sum() >= 1 and table['error'].isna().sum() >= 6


def test_draw_resumes_after_a_kill_and_refuses_another_description(trained, tmp_path):
    "glacier-draw killed after its first entities: the same command draws only the others; another description is refused."
    from conftest import kill_and_resume
    out = tmp_path / 'draw'
    args = ['glacier-draw', '--run', trained / 'runs', '--out', out, '--scheduler', 'serial', '--config', json.dumps({'features': 'all', 'models': ['glacier']})]
    def between():
        record = json.loads((out / 'run.json').read_text())
        assert record['status'] == 'running', record
        other = [*args[:-1], json.dumps({'features': 'all', 'models': ['glacier'], 'tile_size': 8})]
        r = cli(*other, check=False)
        assert r.returncode == 2 and 'started with another description (differs at $.drawing.tile_size)' in r.stderr, r.stderr[-2000:]
    kill_and_resume(args, lambda: len(list(out.glob('*/state.json'))) >= 2, between)
    s = json.loads((out / 'run.json').read_text())
    assert s['status'] == 'finished' and s['summary']['drawn'] == 12 and 2 <= s['summary']['reused'] < 12, s['summary']

def test_draw_refuses_a_run_of_another_stage(trained, tmp_path):
    "A GBF run given to glacier-draw is named as such (it was KeyError: 'training')."
    from geoinversion.runs import finish_run, start_run
    run = start_run(tmp_path / 'gbf_seed0', 'gbf-train', {'name': 'gbf', 'architecture': 'alexnet1d', 'seed': 0})
    (run / 'model.keras').write_bytes(b'x'); (run / 'scaler.json').write_text('{}'); finish_run(run)
    r = cli('glacier-draw', '--run', run, '--out', tmp_path / 'draw', check=False)
    assert r.returncode == 2 and 'a GBF run, not a glacier training run' in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / 'draw').exists()

def test_dataset_step_fails_clearly(trained, tmp_path):
    "A truncated GeoTIFF and a non-TIFF named .tif: exit 2 naming the file; no entity cut at all: exit 2, not 0."
    import geopandas as gpd
    from shapely.geometry import box
    world = tmp_path / 'world'; shutil.copytree(trained / 'world', world, ignore=shutil.ignore_patterns('patches'))
    dem = (world / 'dem.tif').read_bytes(); (world / 'dem.tif').write_bytes(dem[:len(dem) // 2])
    r = cli('glacier-dataset', '--data', world, check=False)
    assert r.returncode == 2 and f"at $.rasters[0].file: not a readable GeoTIFF" in r.stderr and 'Read failed' not in r.stderr, r.stderr[-2000:]
    (world / 'dem.tif').write_text('this is not a raster')
    r = cli('glacier-dataset', '--data', world, check=False)
    assert r.returncode == 2 and 'not a readable GeoTIFF' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]
    (world / 'dem.tif').write_bytes(dem)
    g = gpd.read_file(world / 'outlines.shp'); g['geometry'] = [box(2_700_000 + 500 * i, 1_100_000, 2_700_300 + 500 * i, 1_100_300) for i in range(len(g))]
    g.to_file(world / 'outlines.shp')   # every glacier far from the rasters
    r = cli('glacier-dataset', '--data', world, check=False)
    assert r.returncode == 2 and 'no entity could be cut (12 tried)' in r.stderr, r.stdout[-1000:] + r.stderr[-2000:]

def test_every_glacier_option_has_help():
    "glacier-pipeline --help says what each flag is (the notebook 90_cli checks every option of every command)."
    r = cli('glacier-pipeline', '--help')
    for text in ("the world's seed", 'massifs along x and y', 'glacier training description', 'epochs of each member',
                 'members of the ensemble', 'where Dask tasks run', 'workers of a LocalCluster', 'the folder of the world, runs and drawing'):
        assert text in ' '.join(r.stdout.split()), (text, r.stdout)

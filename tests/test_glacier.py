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
        m = rioxarray.open_rasterio(trained / 'draw' / e / 'thickness_mean.tif', masked=True).values
        assert np.nanmin(m) > -50 and np.nanmax(m) < 1000
    csv = (trained / 'draw' / 'profiles' / 'centerlines.csv').read_text().splitlines()
    assert csv[0] == 'line,distance,x,y,mean,std,reference' and len(csv) > 20
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
    out = draw({'features': [*test_ids, 'G999'], 'models': ['glacier'], 'scheduler': 'serial'}, runs, tmp_path / 'draw')
    t = pd.read_csv(out / 'entities.csv', dtype={'id': str}).set_index('id')
    assert 'outside the raster' in t.loc[test_ids[0], 'error'] and 'no entity' in t.loc['G999', 'error']
    assert t.loc[test_ids[1:], 'error'].isna().all()
    assert read_json(out / 'run.json')['summary']['skipped'] == 2
    # a window larger than every glacier and its buffer: every entity skipped with that message, the run still finishes
    for r in ('glacier_seed0', 'glacier_seed1'):
        d = read_json(runs / r / 'description.json'); d['training']['area_size'] = 4000.0; write_json(runs / r / 'description.json', d)
    out = draw({'features': test_ids[1:], 'models': ['glacier'], 'scheduler': 'serial'}, runs, tmp_path / 'draw_big')
    t = pd.read_csv(out / 'entities.csv', dtype={'id': str}).set_index('id')
    assert t['error'].str.contains('larger than the glacier').all()

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

"""papermill runs of papermill_runs/*.ipynb call the same functions as the CLI and give the same results."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import papermill as pm
import xarray as xr

from conftest import cli

ROOT = Path(__file__).parent.parent

def test_synth_notebook_equals_cli(tmp_path):
    os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
    pm.execute_notebook(str(ROOT / 'papermill_runs' / 'synth.ipynb'), str(tmp_path / 'executed.ipynb'),
                        parameters={'seed': 3, 'n': 8, 'out': str(tmp_path / 'pm')}, kernel_name='python3',
                        cwd=str(ROOT), progress_bar=False)
    cli('synth', '--out', tmp_path / 'cli', '--n', 8, '--seed', 3)
    with xr.open_dataset(tmp_path / 'pm' / 'samples.nc') as a, xr.open_dataset(tmp_path / 'cli' / 'samples.nc') as b:
        np.testing.assert_array_equal(a['los'].values, b['los'].values)
        np.testing.assert_array_equal(a['depth'].values, b['depth'].values)
    assert (tmp_path / 'pm' / 'samples.png').exists()

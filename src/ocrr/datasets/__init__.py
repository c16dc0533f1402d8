"""Labelled text datasets: the two built-in ones, shipped inside the package, and user folders.

Everything downstream sees a :class:`Dataset`: named splits of (texts, labels). Users and CI
have no network, so the built-in datasets are vendored (gzip) with their licences.
"""

from ocrr.datasets.base import Dataset, DatasetError, Split
from ocrr.datasets.builtin import BUILTIN, DatasetInfo, builtin_info
from ocrr.datasets.loading import available_datasets, load_dataset, read_folder

__all__ = [
    "BUILTIN",
    "Dataset",
    "DatasetError",
    "DatasetInfo",
    "Split",
    "available_datasets",
    "builtin_info",
    "load_dataset",
    "read_folder",
]

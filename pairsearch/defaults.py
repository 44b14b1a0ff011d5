"""Defaults a user sees in ``--help``, defined once here so the CLI shows them without importing torch."""

from pathlib import Path

DATA_DIR = Path("storage/data")
DATA_DIR_ENV = "PAIRSEARCH_DATA_DIR"
STORAGE_URL = "sqlite:///storage/pairsearch.db"
STORAGE_ENV = "PAIRSEARCH_STORAGE"
REPORTS_DIR = Path("storage/reports")
NAME_MAX_BYTES = 255  # a file or folder name, on Linux's and macOS's file systems
PATH_MAX_BYTES = 4095  # a whole path as the kernel takes it (PATH_MAX, less its NUL)
MAX_EPOCHS = 1000  # for a study file, --epochs and train
# torch seeds take 64 bits but NumPy's (Optuna's samplers) 32, and the sampler seed is offset by
# the trial number: 2**31 - 1 leaves room for any budget. The sampler's and pruner's counts
# are bounded by it too.
MAX_SEED = 2**31 - 1
DEFAULT_RECIPE = "course"  # recipes/course.toml: the course's training (10 epochs, no augmentation)

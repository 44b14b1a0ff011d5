"""Defaults a user sees in ``--help``, defined once here so the CLI shows them without importing torch."""

from pathlib import Path

DATA_DIR = Path("storage/data")
DATA_DIR_ENV = "PAIRSEARCH_DATA_DIR"
STORAGE_URL = "sqlite:///storage/pairsearch.db"
STORAGE_ENV = "PAIRSEARCH_STORAGE"
REPORTS_DIR = Path("storage/reports")
FINAL_SEEDS = 15
DEFAULT_RECIPE = "course"  # recipes/course.toml: the course's training (10 epochs, no augmentation)

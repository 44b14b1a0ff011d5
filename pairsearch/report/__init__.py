"""The final report: results read once from the storage, statistics, then files for people."""

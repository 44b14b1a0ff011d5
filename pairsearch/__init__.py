"""pairsearch: tune network families on MNIST digit pairs, then compare them fairly."""

__version__ = "0.1.0"

"""pairsearch: tune and fairly compare seven network families on MNIST digit pairs."""

__version__ = "0.1.0"

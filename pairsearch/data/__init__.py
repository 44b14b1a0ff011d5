"""The pairs a network sees: real MNIST sources, IDX files, pair drawing and the splits."""

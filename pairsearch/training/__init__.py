"""One training run: the arch registry, hyperparameters, recipes, augmentation and the loop."""

"""Experiment drivers (the synthetic-scene study); not imported by ``mmdtme`` itself."""

# Baseline ST on the synthetic scenes: the demo model trained on semseg alone (the reference for Δm).
_base_ = './vitt_synth.py'
model = dict(tasks=['semseg'])

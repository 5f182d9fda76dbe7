# Baseline ST on the synthetic scenes: the demo model trained on depth alone (the reference for Δm).
_base_ = './vitt_synth.py'
model = dict(tasks=['depth'])

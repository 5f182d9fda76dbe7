# Baseline ST: the same model trained on semseg alone (the reference for Δm).
_base_ = './vitb_nyud.py'
model = dict(tasks=['semseg'])

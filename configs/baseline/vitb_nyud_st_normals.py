# Baseline ST: the same model trained on normals alone (the reference for Δm).
_base_ = './vitb_nyud.py'
model = dict(tasks=['normals'])

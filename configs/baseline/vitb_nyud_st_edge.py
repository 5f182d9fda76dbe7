# Baseline ST: the same model trained on edge alone (the reference for Δm).
_base_ = './vitb_nyud.py'
model = dict(tasks=['edge'])

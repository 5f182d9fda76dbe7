# Baseline MT (paper Tab. 1): ViT-B/16, NYUD-v2, 4 tasks, 60k iterations, batch 4.
_base_ = [
    '../_base_/models/baseline_vit.py', '../_base_/datasets/nyud.py', '../_base_/schedules/poly_60k.py',
    '../_base_/default_runtime.py'
]
model = dict(
    data_preprocessor=dict(size=(448, 576)),
    backbone=dict(model_name='vit_base_patch16_384', img_size=(448, 576)))

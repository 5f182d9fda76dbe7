# Baseline MT (shared ViT, one Conv-BN-ReLU head per task), ViT-B/16, NYUD-v2: semseg, depth, normals, edge.
# 1 GPU x batch 6, crop 448x576; 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm').
# Paper row: none at ViT-B (DTME-MTL reports NYUD-v2 Baseline MT with ViT-T, Tab. 1); reference for dtme/vitb_nyud.py.
_base_ = [
    '../_base_/models/baseline_vit.py', '../_base_/datasets/nyud.py', '../_base_/schedules/poly_60k.py',
    '../_base_/default_runtime.py'
]
model = dict(
    data_preprocessor=dict(size=(448, 576)),
    backbone=dict(model_name='vit_base_patch16_384', pretrained='timm', img_size=(448, 576)))

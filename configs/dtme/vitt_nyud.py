# DTME-MTL, ViT-T/16, NYUD-v2 (4 tasks): dtme/vitb_nyud.py with the backbone swapped (TM / TE at iteration 0).
# 1 GPU x batch 6, crop 448x576; 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm').
# Paper row: DTME-MTL Tab. 1 'TM+TE', NYUD-v2 (paper: batch 6, ImageNet-22K weights).
_base_ = './vitb_nyud.py'
model = dict(backbone=dict(model_name='vit_tiny_patch16_384'))

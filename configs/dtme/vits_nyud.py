# DTME-MTL, ViT-S/16, NYUD-v2 (4 tasks): dtme/vitb_nyud.py with the backbone swapped (TM / TE at iteration 0).
# 1 GPU x batch 6, crop 448x576; 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm').
# Paper row: none (DTME-MTL's NYUD-v2 'TM+TE' row, Tab. 1, is ViT-T).
_base_ = './vitb_nyud.py'
model = dict(backbone=dict(model_name='vit_small_patch16_384'))

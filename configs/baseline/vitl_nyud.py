# Baseline MT, ViT-L/16 (24 blocks), NYUD-v2: semseg, depth, normals, edge (vitb_nyud.py with the backbone swapped).
# 1 GPU x batch 6, crop 448x576; 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm').
# Paper row: none (DTME-MTL reports NYUD-v2 Baseline MT with ViT-T only, Tab. 1).
_base_ = './vitb_nyud.py'
model = dict(backbone=dict(model_name='vit_large_patch16_384'))

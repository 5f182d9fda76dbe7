# Baseline MT, ViT-L/16 (24 blocks), PASCAL-Context, 5 tasks (vitb_pascal.py with the backbone swapped).
# 1 GPU x batch 6, crop 512x512; 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm').
# Paper row: none (DTME-MTL's PASCAL-Context Baseline MT row, Tab. 1, is ViT-T).
_base_ = './vitb_pascal.py'
model = dict(backbone=dict(model_name='vit_large_patch16_384'))

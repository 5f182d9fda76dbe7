# DTME-MTL: Baseline MT ViT-B/16, PASCAL-Context (5 tasks) + Token Modulation / Expansion chosen at iteration 0.
# 1 GPU x batch 6, crop 512x512; 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm').
# Paper row: none at ViT-B (DTME-MTL's PASCAL-Context 'TM+TE' row, Tab. 1, is ViT-T).
_base_ = '../baseline/vitb_pascal.py'
model = dict(backbone=dict(type='DTMEViT'))
custom_hooks = [dict(type='DTMEHook', expand_iter=0, ratio=0.5, range_null_ratio=100, variant='tm+te', num_tokens=6)]

# Baseline ST: Baseline MT ViT-B/16 on PASCAL-Context trained on human_parts alone (a single-task reference for Δm).
# 1 GPU x batch 6, crop 512x512; 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm').
# Paper row: none at ViT-B (DTME-MTL's 'Baseline (ST)' row of Tab. 1 is ViT-T).
_base_ = './vitb_pascal.py'
model = dict(tasks=['human_parts'])

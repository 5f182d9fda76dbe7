# Baseline MT, ViT-T/16, NYUD-v2: semseg, depth, normals, edge (vitb_nyud.py with the backbone swapped). Batch 4/GPU
# (N GPUs x 4), crop 448x576; 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ViT from scratch (pretrained=None). Paper row:
# DTME-MTL Tab. 1 'Baseline (MT)', NYUD-v2 (paper: batch 6, ImageNet-22K weights).
_base_ = './vitb_nyud.py'
model = dict(backbone=dict(model_name='vit_tiny_patch16_384'))

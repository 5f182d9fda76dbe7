# Baseline MT, ViT-L/16 (24 blocks), NYUD-v2: semseg, depth, normals, edge (vitb_nyud.py with the backbone swapped).
# Batch 4/GPU (N GPUs x 4), crop 448x576; 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ViT from scratch (pretrained=None).
# Paper row: none (DTME-MTL reports NYUD-v2 Baseline MT with ViT-T only, Tab. 1).
_base_ = './vitb_nyud.py'
model = dict(backbone=dict(model_name='vit_large_patch16_384'))

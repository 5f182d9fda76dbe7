# Baseline MT, ViT-S/16, Taskonomy tiny, 11 tasks (vitb_taskonomy.py with the backbone swapped). 1 GPU x batch 8,
# 256x256 images, no crop; 40k it (the authors' earlier Taskonomy setting), Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K
# ViT weights (pretrained='timm'). Paper row: DTME-MTL Tab. 9 (Taskonomy, ViT-S/16), the GD row (plain sum of the
# losses).
_base_ = './vitb_taskonomy.py'
model = dict(backbone=dict(model_name='vit_small_patch16_384'))

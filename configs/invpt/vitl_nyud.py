# InvPT (Ye & Xu, ECCV 2022), ViT-L/16 (levels from blocks 6, 12, 18, 24), NYUD-v2 (4 tasks). 1 GPU x batch 2 (the
# reference's), crop 448x576; 40k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm').
# Paper row: InvPT's NYUD-v2 result ('InvPT (our paper)' in its official README).
_base_ = './vitb_nyud.py'
model = dict(backbone=dict(model_name='vit_large_patch16_384'))

# InvPT (Ye & Xu, ECCV 2022), ViT-L/16, PASCAL-Context (5 tasks). 1 GPU x batch 2 (the reference's), crop 512x512; 40k
# it, Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm'). Paper row: InvPT's PASCAL-Context
# result ('InvPT (our paper)' in its official README).
_base_ = './vitb_pascal.py'
model = dict(backbone=dict(model_name='vit_large_patch16_384'))

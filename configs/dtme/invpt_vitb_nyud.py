# DTME-MTL on InvPT: InvPT ViT-B/16, NYUD-v2 (4 tasks) + TM / TE chosen at iteration 0 (ratio 0.5, r = 100, 6 tokens).
# 1 GPU x batch 2 (the reference's), crop 448x576; 40k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights
# (pretrained='timm'). Paper row: DTME-MTL Tab. 4, InvPT + DTME-MTL (its backbone is not stated in the paper text).
_base_ = '../invpt/vitb_nyud.py'
model = dict(backbone=dict(type='DTMEViT'))
custom_hooks = [dict(type='DTMEHook', expand_iter=0, ratio=0.5, range_null_ratio=100, variant='tm+te', num_tokens=6)]

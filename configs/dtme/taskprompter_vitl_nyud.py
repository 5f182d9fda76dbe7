# DTME-MTL on TaskPrompter: TaskPrompter ViT-L/16 (24 blocks), NYUD-v2 (4 tasks) + TM / TE chosen at iteration 0 (ratio
# 0.5, r = 100, 6 tokens). 1 GPU x batch 2 (the reference's), crop 448x576; 40k it, Adam lr 1e-5 wd 1e-6, poly 0.9, grad
# clip 10; ImageNet-22K ViT weights (pretrained='timm'). Paper row: DTME-MTL Tab. 4, TaskPrompter + DTME-MTL (ViT-L, the
# backbone of TaskPrompter's published NYUD models).
_base_ = '../taskprompter/vitl_nyud.py'
custom_hooks = [dict(type='DTMEHook', expand_iter=0, ratio=0.5, range_null_ratio=100, variant='tm+te', num_tokens=6)]

# DTME-MTL on TaskPrompter: TaskPrompter ViT-L/16 (24 blocks), PASCAL-Context (5 tasks) + TM / TE chosen at iteration 0
# (ratio 0.5, r = 100, 6 tokens). 1 GPU x batch 2 (the reference's), crop 512x512; 40k it, Adam lr 2e-5 wd 1e-6, poly
# 0.9, grad clip 10; ImageNet-22K ViT weights (pretrained='timm'). Paper row: DTME-MTL Tab. 5, TaskPrompter + DTME-MTL
# (ViT-L, the backbone of TaskPrompter's published PASCAL models).
_base_ = '../taskprompter/vitl_pascal.py'
custom_hooks = [dict(type='DTMEHook', expand_iter=0, ratio=0.5, range_null_ratio=100, variant='tm+te', num_tokens=6)]

# DTME-MTL ablation, ViT-B/16, NYUD-v2 (4 tasks): 12 expansion token(s) per task in each TE block (default 6); other
# DTMEHook settings at their defaults. 1 GPU x batch 6, crop 448x576; 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9;
# ImageNet-22K ViT weights (pretrained='timm'). Paper row: none (the paper fixes six tokens, Supp. B.3).
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', num_tokens=12)]

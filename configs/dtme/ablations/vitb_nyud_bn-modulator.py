# DTME-MTL ablation, ViT-B/16, NYUD-v2 (4 tasks): BN-style per-task modulator instead of the affine W*x+b; other
# DTMEHook settings at their defaults. 1 GPU x batch 6, crop 448x576; 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9;
# ImageNet-22K ViT weights (pretrained='timm'). Paper row: DTME-MTL Tab. 11, batch-normalisation modulator (its affine
# row repeats the Tab. 1 ViT-T 'TM+TE' numbers).
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', modulator='bn')]

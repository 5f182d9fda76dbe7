# DTME-MTL ablation, ViT-B/16, NYUD-v2 (4 tasks): TM / TE on the least conflicting blocks; other DTMEHook settings at
# their defaults. 1 GPU x batch 6, crop 448x576; 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights
# (pretrained='timm'). Paper row: DTME-MTL Tab. 2 'Reversed' and Tab. 13 (selection strategies).
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', mode='reverse')]

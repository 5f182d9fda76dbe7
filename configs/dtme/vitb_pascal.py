# DTME-MTL, PASCAL-Context: Baseline MT ViT-B/16 + Token Modulation / Expansion chosen at iteration 0.
_base_ = '../baseline/vitb_pascal.py'
model = dict(backbone=dict(type='DTMEViT'))
custom_hooks = [dict(type='DTMEHook', expand_iter=0, ratio=0.5, range_variance=0.99, variant='tm+te', num_tokens=6)]

# DTME-MTL on InvPT: InvPT ViT-B/16 on NYUD-v2 + Token Modulation / Expansion chosen at iteration 0.
_base_ = '../invpt/vitb_nyud.py'
model = dict(backbone=dict(type='DTMEViT'))
custom_hooks = [dict(type='DTMEHook', expand_iter=0, ratio=0.5, range_variance=0.99, variant='tm+te', num_tokens=6)]

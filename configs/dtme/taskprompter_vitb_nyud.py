# DTME-MTL on TaskPrompter (paper Tab. 2): TaskPrompter ViT-B/16 on NYUD-v2 + TM / TE chosen at iteration 0.
_base_ = '../taskprompter/vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', expand_iter=0, ratio=0.5, range_variance=0.99, variant='tm+te', num_tokens=6)]

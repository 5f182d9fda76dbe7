# DTME-MTL on TaskPrompter: TaskPrompter ViT-B/16 on PASCAL-Context + TM / TE chosen at iteration 0.
_base_ = '../taskprompter/vitb_pascal.py'
custom_hooks = [dict(type='DTMEHook', expand_iter=0, ratio=0.5, range_variance=0.99, variant='tm+te', num_tokens=6)]

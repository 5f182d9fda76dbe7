# Layer selection ablation (paper Tab. 2 / 13): TE on range-conflict layers, TM on null-conflict layers.
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', mode='swap')]

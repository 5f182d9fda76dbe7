# Layer selection ablation (paper Tab. 2 / 13): the least conflicting layers.
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', mode='reverse')]

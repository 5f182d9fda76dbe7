# Layer selection ablation (paper Tab. 2 / 13): random layers, same counts.
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', mode='random', seed=0)]

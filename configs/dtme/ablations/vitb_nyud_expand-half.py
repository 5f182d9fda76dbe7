# Expansion time (paper Fig. 3): after 1/2 of the 60k iterations.
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', expand_iter=30000)]

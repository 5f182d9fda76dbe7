# Ratio of expanded layers (paper Fig. 6): every layer.
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', ratio=1.0)]

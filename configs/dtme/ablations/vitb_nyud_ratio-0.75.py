# Ratio of expanded layers (paper Fig. 6): 75 %.
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', ratio=0.75)]

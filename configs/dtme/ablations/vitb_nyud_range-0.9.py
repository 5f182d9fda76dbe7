# Range-space threshold: 90 % of the variance (default 99 %).
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', range_variance=0.9)]

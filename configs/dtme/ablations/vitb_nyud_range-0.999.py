# Range-space threshold: 99.9 % of the variance (default 99 %).
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', range_variance=0.999)]

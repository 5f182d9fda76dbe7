# Number of expansion tokens per task: 1 (default 6).
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', num_tokens=1)]

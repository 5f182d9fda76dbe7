# Modulator ablation: BN-style per-task normalisation instead of the affine W*x+b.
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', modulator='bn')]

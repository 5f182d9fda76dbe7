# Variant ablation (paper Tab. 3): Token Expansion only.
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', variant='te')]

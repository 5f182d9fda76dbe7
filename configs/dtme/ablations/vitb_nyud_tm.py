# Variant ablation (paper Tab. 3): Token Modulation only.
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', variant='tm')]

# CPU demo of DTME-MTL on InvPT: the synthetic InvPT + TM / TE chosen at iteration 0 on 25 analysis batches.
_base_ = '../invpt/vitt_synth.py'
model = dict(backbone=dict(type='DTMEViT'))
custom_hooks = [dict(type='DTMEHook', expand_iter=0, max_batches=25, ratio=0.5, range_variance=0.99)]

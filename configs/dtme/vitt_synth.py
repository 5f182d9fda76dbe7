# CPU demo of DTME-MTL: the synthetic Baseline MT + TM / TE chosen at iteration 0 on 25 analysis batches.
_base_ = '../baseline/vitt_synth.py'
model = dict(backbone=dict(type='DTMEViT'))
custom_hooks = [dict(type='DTMEHook', expand_iter=0, max_batches=25, ratio=0.5, range_variance=0.99)]

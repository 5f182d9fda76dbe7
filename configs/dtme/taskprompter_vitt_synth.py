# CPU demo of DTME-MTL on TaskPrompter: the synthetic TaskPrompter + TM / TE chosen at iteration 0 on 25 analysis
# batches (as dtme/vitt_synth.py).
_base_ = '../taskprompter/vitt_synth.py'
custom_hooks = [dict(type='DTMEHook', expand_iter=0, max_batches=25, ratio=0.5, range_variance=0.99)]

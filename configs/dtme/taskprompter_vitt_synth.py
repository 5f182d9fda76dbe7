# CPU demo, not a paper row: DTME-MTL on the synthetic TaskPrompter (taskprompter/vitt_synth.py), TM / TE chosen at
# iteration 0 on 25 analysis batches. 1 process x batch 8, crop 96x128; 600 it, Adam lr 1e-3 wd 1e-6, 50-it linear
# warm-up then poly 0.9. ViT-Tiny/8 trained from scratch.
_base_ = '../taskprompter/vitt_synth.py'
custom_hooks = [dict(type='DTMEHook', expand_iter=0, max_batches=25, ratio=0.5, range_variance=0.99)]

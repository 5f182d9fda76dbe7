# CPU demo, not a paper row: DTME-MTL + FAMO (Liu et al., NeurIPS 2023) on dtme/vitt_synth.py (ViT-Tiny/8, synthetic
# scenes). 1 process x batch 8, crop 96x128; 600 it, Adam lr 1e-3 wd 1e-6, 50-it linear warm-up then poly 0.9. ViT
# trained from scratch; TM / TE chosen at iteration 0 on 25 analysis batches.
_base_ = './vitt_synth.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    loss_weighting=dict(type='FAMO', lr=0.025, weight_decay=1e-3))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # the DTME hook re-wraps with it after expansion

# CPU demo, not a paper row: Nash-MTL (Navon et al., ICML 2022): Nash bargaining weights, update norm capped at 1;
# synthetic Baseline MT (ViT-Tiny/8). 1 process x batch 8, crop 96x128; 600 it, Adam lr 1e-3 wd 1e-6, 50-it linear
# warm-up then poly 0.9. ViT trained from scratch.
_base_ = '../baseline/vitt_synth.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    aggregator=dict(type='NashMTL', max_norm=1.0, update_weights_every=1, optim_niter=20))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

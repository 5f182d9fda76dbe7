# Nash-MTL (Navon et al., ICML 2022): Nash bargaining weights, update norm capped at 1,
# on Baseline MT ViT-B/16, NYUD-v2.
_base_ = '../baseline/vitb_nyud.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    aggregator=dict(type='NashMTL', max_norm=1.0, update_weights_every=1, optim_niter=20))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

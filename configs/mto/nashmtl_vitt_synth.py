# Nash-MTL (Navon et al., ICML 2022): Nash bargaining weights, update norm capped at 1,
# on the synthetic CPU demo (ViT-Tiny/8).
_base_ = '../baseline/vitt_synth.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    aggregator=dict(type='NashMTL', max_norm=1.0, update_weights_every=1, optim_niter=20))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

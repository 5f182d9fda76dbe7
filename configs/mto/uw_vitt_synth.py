# Uncertainty weighting (Kendall et al., CVPR 2018): learned per-task log-variances,
# on the synthetic CPU demo (ViT-Tiny/8).
_base_ = '../baseline/vitt_synth.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    loss_weighting=dict(type='UW'))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

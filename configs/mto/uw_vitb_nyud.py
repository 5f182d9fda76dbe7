# Uncertainty weighting (Kendall et al., CVPR 2018): learned per-task log-variances,
# on Baseline MT ViT-B/16, NYUD-v2.
_base_ = '../baseline/vitb_nyud.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    loss_weighting=dict(type='UW'))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

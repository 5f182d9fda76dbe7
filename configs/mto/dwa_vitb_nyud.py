# DWA (Liu et al., CVPR 2019): weights from the loss-ratio of the last two "epochs" (temperature 2),
# on Baseline MT ViT-B/16, NYUD-v2.
# An "epoch" of DWA's loss history = interval optimizer steps (795 train images / batch 4 ≈ 200 iterations, one pass).
_base_ = '../baseline/vitb_nyud.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    loss_weighting=dict(type='DWA', temperature=2.0, interval=200))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

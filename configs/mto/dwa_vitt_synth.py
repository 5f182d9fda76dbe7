# DWA (Liu et al., CVPR 2019): weights from the loss-ratio of the last two "epochs" (temperature 2),
# on the synthetic CPU demo (ViT-Tiny/8).
# An "epoch" of DWA's loss history = interval optimizer steps (400 train scenes / batch 4 = 100 iterations, one pass).
_base_ = '../baseline/vitt_synth.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    loss_weighting=dict(type='DWA', temperature=2.0, interval=100))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

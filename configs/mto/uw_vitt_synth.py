# CPU demo, not a paper row: UW (Kendall et al., CVPR 2018): uncertainty weighting, learned per-task log-variances;
# synthetic Baseline MT (ViT-Tiny/8). 1 process x batch 8, crop 96x128; 600 it, Adam lr 1e-3 wd 1e-6, 50-it linear
# warm-up then poly 0.9. ViT trained from scratch.
_base_ = '../baseline/vitt_synth.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper', constructor='MultiTaskOptimWrapperConstructor', loss_weighting=dict(type='UW'))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

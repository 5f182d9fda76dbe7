# CPU demo, not a paper row: DWA (Liu et al., CVPR 2019): weights from the loss ratio of the last two "epochs",
# temperature 2; synthetic Baseline MT (ViT-Tiny/8). A DWA "epoch" = interval = 100 steps (two passes over the 400
# scenes at batch 8 on 1 GPU). 1 process x batch 8, crop 96x128; 600 it, Adam lr 1e-3 wd 1e-6, 50-it linear warm-up then
# poly 0.9. ViT trained from scratch.
_base_ = '../baseline/vitt_synth.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    loss_weighting=dict(type='DWA', temperature=2.0, interval=100))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

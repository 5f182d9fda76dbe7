# DWA (Liu et al., CVPR 2019): weights from the loss ratio of the last two "epochs", temperature 2; a DWA "epoch" =
# interval = 1000 steps (a pass over Taskonomy tiny is longer than the run); Baseline MT ViT-B/16, Taskonomy tiny (11
# tasks). 1 GPU x batch 8, 256x256 images, no crop; 40k it (the authors' earlier Taskonomy setting), Adam lr 2e-5 wd
# 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm'). Paper row: DTME-MTL Tab. 3 (Taskonomy, ViT-B), the DWA
# row.
_base_ = '../baseline/vitb_taskonomy.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    loss_weighting=dict(type='DWA', temperature=2.0, interval=1000))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

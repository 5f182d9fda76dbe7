# IMTL (Liu et al., ICLR 2021): IMTL-G on the shared gradients + IMTL-L learned loss scales (the hybrid),
# on Baseline MT ViT-B/16, NYUD-v2.
_base_ = '../baseline/vitb_nyud.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    aggregator=dict(type='IMTLG'), loss_weighting=dict(type='IMTLL'))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

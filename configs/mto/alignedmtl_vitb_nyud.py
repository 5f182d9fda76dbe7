# Aligned-MTL (Senushkin et al., CVPR 2023): align the shared Jacobian's singular values to the smallest,
# on Baseline MT ViT-B/16, NYUD-v2.
_base_ = '../baseline/vitb_nyud.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    aggregator=dict(type='AlignedMTL'))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

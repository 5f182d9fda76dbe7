# CAGrad (Liu et al., NeurIPS 2021): conflict-averse update, c = 0.4,
# on Baseline MT ViT-B/16, NYUD-v2.
_base_ = '../baseline/vitb_nyud.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    aggregator=dict(type='CAGrad', c=0.4))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

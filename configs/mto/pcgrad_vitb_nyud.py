# PCGrad (Yu et al., NeurIPS 2020): project conflicting task gradients of the shared ViT,
# on Baseline MT ViT-B/16, NYUD-v2.
_base_ = '../baseline/vitb_nyud.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    aggregator=dict(type='PCGrad'))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

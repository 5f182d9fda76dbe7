# CAGrad (Liu et al., NeurIPS 2021): conflict-averse update, c = 0.4,
# on the synthetic CPU demo (ViT-Tiny/8).
_base_ = '../baseline/vitt_synth.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    aggregator=dict(type='CAGrad', c=0.4))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

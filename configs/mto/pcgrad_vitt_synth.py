# PCGrad (Yu et al., NeurIPS 2020): project conflicting task gradients of the shared ViT,
# on the synthetic CPU demo (ViT-Tiny/8).
_base_ = '../baseline/vitt_synth.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    aggregator=dict(type='PCGrad'))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

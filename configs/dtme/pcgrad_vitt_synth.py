# DTME-MTL + PCGrad (Yu et al., NeurIPS 2020): project conflicting task gradients of the shared ViT,
# on the synthetic CPU demo (ViT-Tiny/8): the DTME config with the multi-task optim wrapper.
_base_ = './vitt_synth.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    aggregator=dict(type='PCGrad'))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # the DTME hook re-wraps with it after expansion

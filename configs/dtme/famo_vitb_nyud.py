# DTME-MTL + FAMO (Liu et al., NeurIPS 2023): balanced loss decrease, logits learned by their own Adam,
# on Baseline MT ViT-B/16, NYUD-v2: the DTME config with the multi-task optim wrapper.
_base_ = './vitb_nyud.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    loss_weighting=dict(type='FAMO', lr=0.025, weight_decay=1e-3))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # the DTME hook re-wraps with it after expansion

# FAMO (Liu et al., NeurIPS 2023): balanced loss decrease, logits learned by their own Adam,
# on the synthetic CPU demo (ViT-Tiny/8).
_base_ = '../baseline/vitt_synth.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    loss_weighting=dict(type='FAMO', lr=0.025, weight_decay=1e-3))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

# GD: the plain sum of the task losses (one backward), through the multi-task optim wrapper;
# the reference of the MTO table, on the synthetic CPU demo (ViT-Tiny/8).
_base_ = '../baseline/vitt_synth.py'
optim_wrapper = dict(type='MultiTaskOptimWrapper', constructor='MultiTaskOptimWrapperConstructor')
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

# GD: the plain sum of the task losses (one backward), through the multi-task optim wrapper;
# the reference of the MTO table, on Baseline MT ViT-B/16, NYUD-v2.
_base_ = '../baseline/vitb_nyud.py'
optim_wrapper = dict(type='MultiTaskOptimWrapper', constructor='MultiTaskOptimWrapperConstructor')
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

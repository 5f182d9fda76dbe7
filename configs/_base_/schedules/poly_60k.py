# The paper's schedule: Adam, polynomial decay over 60k iterations.
# The LR is set for a total batch of 6; tools/train.py --auto-scale-lr rescales it to another total batch.
auto_scale_lr = dict(enable=False, base_batch_size=6)
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-5, weight_decay=1e-6))
param_scheduler = [dict(type='PolyLR', eta_min=0, power=0.9, begin=0, end=60000, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=60000, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'))

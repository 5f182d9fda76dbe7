# A short CPU schedule for the synthetic scenes: a tiny ViT from scratch, so a larger LR with warm-up.
auto_scale_lr = dict(enable=False, base_batch_size=8)  # tools/train.py --auto-scale-lr
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3, weight_decay=1e-6))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=50, by_epoch=False),
    dict(type='PolyLR', eta_min=0, power=0.9, begin=50, end=600, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=600, val_interval=600)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=300, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'))

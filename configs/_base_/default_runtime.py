default_scope = 'mmdtme'
# a short console, strict checkpoint loading (strict_load=False loads what fits)
runner_type = 'MultiTaskRunner'
custom_imports = dict(imports=['mmdtme'], allow_failed_imports=False)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to gloo when no GPU is present
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
# no fixed name: each Runner gets its own visualizer (several runs in one process log to their own dirs)
visualizer = dict(type='MultiTaskLocalVisualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)

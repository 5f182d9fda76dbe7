# The embedded synthetic scenes in the NYUD-MT layout; rendered into data_root on first use (no download).
dataset_type = 'SyntheticNYUDDataset'
data_root = 'data/synthetic'
dataset_tasks = ['semseg', 'depth', 'normals', 'edge']
generator = dict(num_train=400, num_val=100, height=96, width=128, seed=0)
crop_size = (96, 128)
train_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(type='LoadMultiTaskAnnotations'),
    dict(type='RandomResize', scale=(128, 96), ratio_range=(1.0, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='MultiTaskRandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackMultiTaskInputs'),
]
test_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(type='LoadMultiTaskAnnotations'),
    dict(type='PackMultiTaskInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, generator=generator, split='train', tasks=dataset_tasks,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, generator=generator, split='val', tasks=dataset_tasks,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='MultiTaskMetric')
test_evaluator = val_evaluator

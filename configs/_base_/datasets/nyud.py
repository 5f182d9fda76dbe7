# NYUD-v2 multi-task (NYUD-MT layout, see README): 795 train / 654 val images of 425x560, padded to 448x576.
dataset_type = 'NYUDMultiTaskDataset'
data_root = 'data/NYUDv2'
dataset_tasks = ['semseg', 'depth', 'normals', 'edge']
crop_size = (448, 576)
train_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(type='LoadNYUDAnnotations', frame='auto'),  # also reads 480x640 copies, cropped to the NYUD-MT frame
    dict(type='RandomResize', scale=(560, 425), ratio_range=(1.0, 1.2), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='MultiTaskRandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackMultiTaskInputs'),
]
test_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(type='LoadNYUDAnnotations', frame='auto'),  # also reads 480x640 copies, cropped to the NYUD-MT frame
    dict(type='PackMultiTaskInputs'),
]
train_dataloader = dict(
    batch_size=6,  # the paper's batch (Suppl. B.2)
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', tasks=dataset_tasks, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', tasks=dataset_tasks, pipeline=test_pipeline))
test_dataloader = val_dataloader
# Edges: the approximate BSDS odsF while training (seconds), the exact protocol for final numbers (about 1.2 s per
# image on one CPU core); matching radius 0.011 of the image diagonal, as the MTL benchmarks.
val_evaluator = dict(type='MultiTaskMetric', edge_metrics=('fast', ), edge_max_dist=0.011)
test_evaluator = dict(type='MultiTaskMetric', edge_metrics=('exact', ), edge_max_dist=0.011)

# PASCAL-Context multi-task (PASCAL_MT layout, see README): 4998 train / 5105 val images (at most 500x500),
# 5 tasks, trained on 512x512 crops and evaluated padded to 512x512, as InvPT / TaskPrompter.
dataset_type = 'PascalContextMultiTaskDataset'
data_root = 'data/PASCALContext'
dataset_tasks = ['semseg', 'human_parts', 'saliency', 'normals', 'edge']
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageWithCheck'),
    # PASCAL semantic labels are stored as is (0 = background, 255 = ignore)
    dict(type='LoadMultiTaskAnnotations', reduce_zero_label=False),
    # InvPT: random scale in [0.5, 2.0], 512x512 crop with at most 75 % of one semantic class, flip, photometric
    dict(type='RandomResize', scale=(512, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    # after the crop, as InvPT's AddIgnoreRegions: a crop without any human part is ignored for human_parts
    dict(type='IgnoreEmptyHumanParts'),
    dict(type='MultiTaskRandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackMultiTaskInputs'),
]
test_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(type='LoadMultiTaskAnnotations', reduce_zero_label=False),
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
# image on one CPU core); matching radius 0.0075 of the image diagonal, as the MTL benchmarks.
val_evaluator = dict(type='MultiTaskMetric', edge_metrics=('fast', ), edge_max_dist=0.0075)
test_evaluator = dict(type='MultiTaskMetric', edge_metrics=('exact', ), edge_max_dist=0.0075)

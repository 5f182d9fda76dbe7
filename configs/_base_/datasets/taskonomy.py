# Taskonomy, the 11 tasks of DTME-MTL, tiny partition, 256x256 (file formats, target scaling and sources: see
# mmdtme/datasets/taskonomy.py). As in the authors' earlier code: train on the train + val buildings, evaluate on the
# test buildings (a seeded random 10 % of their views; the source evaluates the first 10 %).
dataset_type = 'TaskonomyMultiTaskDataset'
data_root = 'data/taskonomy'  # omnidata layout: <task>/taskonomy/<building>/, splits_taskonomy/*.csv
dataset_tasks = [
    'depth_euclidean', 'depth_zbuffer', 'edge_occlusion', 'edge_texture', 'keypoints2d', 'keypoints3d', 'normal',
    'principal_curvature', 'reshading', 'segment_unsup2d', 'segment_unsup25d'
]
image_size = (256, 256)
# No flip: MultiTaskRandomFlip does not negate the x component of Taskonomy's 'normal' map, so the dataset refuses
# a flip while 'normal' is loaded (the source flips without negating it).
train_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(type='LoadTaskonomyAnnotations', size=image_size),
    dict(type='PackMultiTaskInputs'),
]
test_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(type='LoadTaskonomyAnnotations', size=image_size),
    dict(type='PackMultiTaskInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type, data_root=data_root, partition='tiny', split='train+val', tasks=dataset_tasks,
        mask_invalid=True, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, partition='tiny', split='test', tasks=dataset_tasks,
        mask_invalid=True, subset=0.1, seed=0, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='MultiTaskMetric')
test_evaluator = val_evaluator

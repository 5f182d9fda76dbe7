# The embedded synthetic scenes, written in the NYUD-MT layout; rendered into data_root on first use (no download).
_base_ = './nyud.py'
dataset_type = 'SyntheticNYUDDataset'
data_root = 'data/synthetic'
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
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(type=dataset_type, data_root=data_root, generator=generator, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(type=dataset_type, data_root=data_root, generator=generator))
test_dataloader = val_dataloader
# The cheap pixel-level edge F (the synthetic references and the study use it); add 'exact' for the BSDS odsF.
val_evaluator = dict(type='MultiTaskMetric', edge_metrics=('pixel', ))
test_evaluator = val_evaluator

# CPU demo: Baseline MT with a ViT-Tiny (patch 8) trained from scratch on the embedded synthetic scenes.
_base_ = [
    '../_base_/models/baseline_vit.py', '../_base_/datasets/synthetic.py', '../_base_/schedules/synthetic_demo.py',
    '../_base_/default_runtime.py'
]
num_classes = 9  # len(mmdtme.datasets.synthetic.CLASSES); tests check they agree
model = dict(
    data_preprocessor=dict(size=(96, 128), size_divisor=8),
    backbone=dict(
        model_name='vit_tiny_patch16_224', img_size=(96, 128), drop_path_rate=0.0, model_kwargs=dict(patch_size=8)),
    heads=dict(
        semseg=dict(out_channels=num_classes, channels=64),
        depth=dict(channels=64),
        normals=dict(channels=64),
        edge=dict(channels=64)))
# Single-task references for Δm: the vitt_synth_st_*.py configs, same schedule, seed 0, CPU (see README).
val_evaluator = dict(
    type='MultiTaskMetric',
    st_reference={'semseg/mIoU': 24.93, 'depth/rmse': 1.272, 'normals/mean': 34.27, 'edge/pixel_odsF': 61.93})
test_evaluator = val_evaluator

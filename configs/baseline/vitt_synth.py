# CPU demo, not a paper row: Baseline MT, ViT-Tiny with 8-pixel patches, on the embedded synthetic scenes (4 tasks).
# 1 process x batch 8, crop 96x128; 600 it, Adam lr 1e-3 wd 1e-6, 50-it linear warm-up then poly 0.9. ViT trained from
# scratch; 400 train / 100 val scenes, rendered into data/synthetic on first use.
_base_ = [
    '../_base_/models/baseline_vit.py', '../_base_/datasets/synthetic.py', '../_base_/schedules/synthetic_demo.py',
    '../_base_/default_runtime.py'
]
num_classes = 9  # len(mmdtme.datasets.synthetic.CLASSES); tests check they agree
model = dict(
    data_preprocessor=dict(size=(96, 128), size_divisor=8),
    backbone=dict(
        model_name='vit_tiny_patch16_224',
        img_size=(96, 128),
        pretrained=None,  # from scratch by design: the demo's point is a CPU run without downloads
        drop_path_rate=0.0,
        model_kwargs=dict(patch_size=8)),
    heads=dict(
        semseg=dict(out_channels=num_classes, channels=64),
        depth=dict(channels=64),
        normals=dict(channels=64),
        edge=dict(channels=64)))
# Single-task references for Δm: the vitt_synth_st_*.py runs (same schedule, seed 0), written to the file by
# tools/analysis_tools/st_reference.py (docs/metrics.md says how to remake it).
val_evaluator = dict(
    type='MultiTaskMetric', st_reference='{{fileDirname}}/../../docs/results/synthetic_demo_st_reference.json')
test_evaluator = val_evaluator

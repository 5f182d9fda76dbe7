# Baseline MT, ViT-B/16, Taskonomy tiny, 11 tasks: one Conv-BN-ReLU head per task, L1 losses (normal: of the normalised
# prediction), all weighted 1. 1 GPU x batch 8, 256x256 images, no crop; 40k it (the authors' earlier Taskonomy
# setting), Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm'). Paper row: DTME-MTL Tab. 3
# (Taskonomy, ViT-B), the GD row (plain sum of the losses).
_base_ = [
    '../_base_/models/baseline_vit.py', '../_base_/datasets/taskonomy.py', '../_base_/schedules/poly_60k.py',
    '../_base_/default_runtime.py'
]
tasks = [
    'depth_euclidean', 'depth_zbuffer', 'edge_occlusion', 'edge_texture', 'keypoints2d', 'keypoints3d', 'normal',
    'principal_curvature', 'reshading', 'segment_unsup2d', 'segment_unsup25d'
]
model = dict(
    tasks=tasks,
    data_preprocessor=dict(size=(256, 256)),
    backbone=dict(model_name='vit_base_patch16_384', pretrained='timm', img_size=(256, 256)),
    heads=dict(
        _delete_=True,
        depth_euclidean=dict(type='TaskConvHead', out_channels=1),
        depth_zbuffer=dict(type='TaskConvHead', out_channels=1),
        edge_occlusion=dict(type='TaskConvHead', out_channels=1),
        edge_texture=dict(type='TaskConvHead', out_channels=1),
        keypoints2d=dict(type='TaskConvHead', out_channels=1),
        keypoints3d=dict(type='TaskConvHead', out_channels=1),
        normal=dict(type='TaskConvHead', out_channels=3),
        principal_curvature=dict(type='TaskConvHead', out_channels=2),
        reshading=dict(type='TaskConvHead', out_channels=1),
        segment_unsup2d=dict(type='TaskConvHead', out_channels=1),
        segment_unsup25d=dict(type='TaskConvHead', out_channels=1)))
auto_scale_lr = dict(enable=False, base_batch_size=8)
param_scheduler = [dict(type='PolyLR', eta_min=0, power=0.9, begin=0, end=40000, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000, val_interval=5000)

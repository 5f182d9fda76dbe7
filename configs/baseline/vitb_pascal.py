# Baseline MT, ViT-B/16, PASCAL-Context: semseg, human_parts, saliency, normals, edge. 1 GPU x batch 6, crop 512x512;
# 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm'). Paper row: none at ViT-B
# (DTME-MTL's PASCAL-Context Baseline MT row, Tab. 1, is ViT-T).
_base_ = [
    '../_base_/models/baseline_vit.py', '../_base_/datasets/pascal_context.py', '../_base_/schedules/poly_60k.py',
    '../_base_/default_runtime.py'
]
# Loss weights of InvPT / TaskPrompter on PASCAL-Context: semseg 1, human parts 2, saliency 5, normals 10, edge 50.
model = dict(
    tasks=['semseg', 'human_parts', 'saliency', 'normals', 'edge'],
    data_preprocessor=dict(size=(512, 512)),
    backbone=dict(model_name='vit_base_patch16_384', pretrained='timm', img_size=(512, 512)),
    heads=dict(
        _delete_=True,
        semseg=dict(type='TaskConvHead', out_channels=21, loss=dict(type='PixelCrossEntropyLoss', loss_weight=1.0)),
        human_parts=dict(type='TaskConvHead', out_channels=7, loss=dict(type='PixelCrossEntropyLoss', loss_weight=2.0)),
        # InvPT's class-balanced 2-way cross entropy = BCE weighted by the batch's label frequencies
        saliency=dict(
            type='TaskConvHead', out_channels=1, loss=dict(type='BalancedBCELoss', pos_weight=None, loss_weight=5.0)),
        normals=dict(type='TaskConvHead', out_channels=3, loss=dict(type='NormalL1Loss', loss_weight=10.0)),
        edge=dict(
            type='TaskConvHead', out_channels=1, loss=dict(type='BalancedBCELoss', pos_weight=0.95, loss_weight=50.0))))

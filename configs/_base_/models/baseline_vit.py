# Baseline MT of DTME-MTL: a shared ViT, features from 4 evenly spaced blocks, one Conv-BN-ReLU head per task.
# Loss weights follow InvPT / DTME-MTL on NYUD-v2.
tasks = ['semseg', 'depth', 'normals', 'edge']
data_preprocessor = dict(
    type='MultiTaskDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=16)
model = dict(
    type='MultiTaskSegmentor',
    tasks=tasks,
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='TimmViT',
        model_name='vit_base_patch16_384',
        img_size=(448, 576),
        # a local ImageNet-22K checkpoint (.pth/.npz/.safetensors), or 'timm' to download it
        pretrained=None,
        drop_path_rate=0.1),
    heads=dict(
        semseg=dict(type='TaskConvHead', out_channels=40, loss=dict(type='PixelCrossEntropyLoss', loss_weight=1.0)),
        depth=dict(
            type='TaskConvHead', out_channels=1, loss=dict(type='MaskedL1Loss', ignore_value=0.0, loss_weight=1.0)),
        normals=dict(type='TaskConvHead', out_channels=3, loss=dict(type='NormalL1Loss', loss_weight=10.0)),
        edge=dict(
            type='TaskConvHead', out_channels=1,
            loss=dict(type='BalancedBCELoss', pos_weight=0.95, loss_weight=50.0))))

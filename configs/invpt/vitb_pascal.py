# InvPT (Ye & Xu, ECCV 2022), ViT-B/16, PASCAL-Context, 5 tasks, with InvPT's loss weights. 1 GPU x batch 2 (the
# reference's), crop 512x512; 40k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm').
# Paper row: none (InvPT's published PASCAL-Context model is ViT-L); the InvPT of DTME-MTL Tab. 5.
_base_ = [
    '../_base_/models/invpt_vit.py', '../_base_/datasets/pascal_context.py', '../_base_/schedules/poly_60k.py',
    '../_base_/default_runtime.py'
]
tasks = ['semseg', 'human_parts', 'saliency', 'normals', 'edge']
model = dict(
    tasks=tasks,
    data_preprocessor=dict(size=(512, 512)),
    backbone=dict(model_name='vit_base_patch16_384', pretrained='timm', img_size=(512, 512)),
    neck=dict(pred_channels=dict(semseg=21, human_parts=7)),
    heads=dict(
        _delete_=True,
        semseg=dict(
            type='TaskConvHead',
            out_channels=21,
            channels=576,
            loss=dict(type='PixelCrossEntropyLoss', loss_weight=1.0)),
        human_parts=dict(
            type='TaskConvHead', out_channels=7, channels=576, loss=dict(type='PixelCrossEntropyLoss',
                                                                         loss_weight=2.0)),
        # InvPT's class-balanced 2-way cross entropy = BCE weighted by the batch's label frequencies
        saliency=dict(
            type='TaskConvHead',
            out_channels=1,
            channels=576,
            loss=dict(type='BalancedBCELoss', pos_weight=None, loss_weight=5.0)),
        normals=dict(
            type='TaskConvHead', out_channels=3, channels=576, loss=dict(type='NormalL1Loss', loss_weight=10.0)),
        edge=dict(
            type='TaskConvHead',
            out_channels=1,
            channels=576,
            loss=dict(type='BalancedBCELoss', pos_weight=0.95, loss_weight=50.0))))
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=2)
param_scheduler = [dict(type='PolyLR', eta_min=0, power=0.9, begin=0, end=40000, by_epoch=False)]
train_cfg = dict(max_iters=40000, val_interval=5000)

# InvPT (Ye & Xu, ECCV 2022), ViT-B/16 (levels from blocks 3, 6, 9, 12), NYUD-v2: semseg, depth, normals, edge.
# 1 GPU x batch 2 (the reference's), crop 448x576; 40k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights
# (pretrained='timm'). Paper row: none (InvPT's published NYUD-v2 model is ViT-L); the InvPT of DTME-MTL Tab. 4
# (backbone not stated).
_base_ = [
    '../_base_/models/invpt_vit.py', '../_base_/datasets/nyud.py', '../_base_/schedules/poly_60k.py',
    '../_base_/default_runtime.py'
]
model = dict(
    data_preprocessor=dict(size=(448, 576)),
    backbone=dict(model_name='vit_base_patch16_384', pretrained='timm', img_size=(448, 576)))
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=2)
param_scheduler = [dict(type='PolyLR', eta_min=0, power=0.9, begin=0, end=40000, by_epoch=False)]
train_cfg = dict(max_iters=40000, val_interval=5000)

# InvPT, ViT-B/16 (blocks 3, 6, 9, 12), NYUD-v2, 4 tasks; InvPT's schedule: Adam 2e-5, poly, 40k iterations, batch 2.
_base_ = [
    '../_base_/models/invpt_vit.py', '../_base_/datasets/nyud.py', '../_base_/schedules/poly_60k.py',
    '../_base_/default_runtime.py'
]
model = dict(
    data_preprocessor=dict(size=(448, 576)),
    backbone=dict(model_name='vit_base_patch16_384', img_size=(448, 576)))
train_dataloader = dict(batch_size=2)
param_scheduler = [dict(type='PolyLR', eta_min=0, power=0.9, begin=0, end=40000, by_epoch=False)]
train_cfg = dict(max_iters=40000, val_interval=5000)

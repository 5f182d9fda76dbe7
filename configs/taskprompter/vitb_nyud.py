# TaskPrompter (Ye & Xu, ICLR 2023), ViT-B/16 (prompts read at blocks 3, 6, 9, 12), NYUD-v2 (4 tasks); the reference has
# no NYUD-v2 ViT-B setting, so its NYUD-v2 ViT-L decoder widths (768 / 768) are kept. 1 GPU x batch 2 (the reference's),
# crop 448x576; 40k it, Adam lr 2e-5 wd 1e-6, poly 0.9, grad clip 10; ImageNet-22K ViT weights (pretrained='timm').
# Paper row: none (the reference's only NYUD-v2 setting is ViT-L); the TaskPrompter of DTME-MTL Tab. 4.
_base_ = [
    '../_base_/models/taskprompter_vit.py', '../_base_/datasets/nyud.py', '../_base_/schedules/poly_60k.py',
    '../_base_/default_runtime.py'
]
model = dict(
    data_preprocessor=dict(size=(448, 576)),
    backbone=dict(model_name='vit_base_patch16_384', pretrained='timm', img_size=(448, 576)))
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=2)
optim_wrapper = dict(clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [dict(type='PolyLR', eta_min=0, power=0.9, begin=0, end=40000, by_epoch=False)]
train_cfg = dict(max_iters=40000, val_interval=5000)

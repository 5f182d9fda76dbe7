# TaskPrompter (Ye & Xu, ICLR 2023), ViT-L/16 (blocks 6, 12, 18, 24), NYUD-v2 (4 tasks), LR 1e-5 as one version of the
# reference's NYUD-v2 config. 1 GPU x batch 2 (the reference's), crop 448x576; 40k it, Adam lr 1e-5 wd 1e-6, poly 0.9,
# grad clip 10; ImageNet-22K ViT weights (pretrained='timm'). Paper row: TaskPrompter's NYUD-v2 result.
_base_ = './vitb_nyud.py'
model = dict(backbone=dict(model_name='vit_large_patch16_384'))
optim_wrapper = dict(optimizer=dict(lr=1e-5))

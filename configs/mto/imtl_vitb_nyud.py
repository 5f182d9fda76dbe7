# IMTL (Liu et al., ICLR 2021): IMTL-G on the shared gradients + IMTL-L loss scales; Baseline MT ViT-B/16, NYUD-v2 (4
# tasks). 1 GPU x batch 6, crop 448x576; 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights
# (pretrained='timm'). Paper row: none on NYUD-v2 (DTME-MTL compares IMTL on Taskonomy: Tab. 3 ViT-B, Tabs. 8-10
# ViT-L/S/T).
_base_ = '../baseline/vitb_nyud.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    constructor='MultiTaskOptimWrapperConstructor',
    aggregator=dict(type='IMTLG'),
    loss_weighting=dict(type='IMTLL'))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

# DTME-MTL ablation, ViT-B/16, NYUD-v2 (4 tasks): analysis and expansion at iteration 30000 (1/2 of the base run), then
# the base run's 60k iterations after it, as the paper's Fig. 3 ("the same number of iterations after the expansion"):
# 30k iterations at the base LR, then the 60k poly schedule from the expansion on; other DTMEHook settings at their
# defaults. 1 GPU x batch 6, crop 448x576; 90k it, Adam lr 2e-5 wd 1e-6; ImageNet-22K ViT weights (pretrained='timm').
# Paper row: DTME-MTL Fig. 3, expansion at the end of the second quarter.
_base_ = '../vitb_nyud.py'
expand_iter = 30000
custom_hooks = [dict(type='DTMEHook', expand_iter=expand_iter)]
param_scheduler = [
    dict(type='PolyLR', eta_min=0, power=0.9, begin=expand_iter, end=expand_iter + 60000, by_epoch=False)
]
train_cfg = dict(max_iters=expand_iter + 60000)

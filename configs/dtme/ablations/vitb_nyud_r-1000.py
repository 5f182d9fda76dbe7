# DTME-MTL ablation, ViT-B/16, NYUD-v2 (4 tasks): the paper's split knob r = 1000 (default 100), i.e. the range space
# keeps r / (1 + r) = 0.999 of the token-covariance trace (mmdtme.dtme.range_variance_from_r); other DTMEHook settings
# at their defaults. 1 GPU x batch 6, crop 448x576; 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights
# (pretrained='timm'). Paper row: DTME-MTL Fig. 5, r = 1000.
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', range_null_ratio=1000)]

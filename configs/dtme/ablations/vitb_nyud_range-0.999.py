# DTME-MTL ablation, ViT-B/16, NYUD-v2 (4 tasks): the range space keeps 99.9 % of the token-covariance trace (default
# 99 %); other DTMEHook settings at their defaults. Batch 4/GPU (N GPUs x 4), crop 448x576; 60k it, Adam lr 2e-5
# wd 1e-6, poly 0.9; ViT from scratch (pretrained=None). Paper row: DTME-MTL Fig. 5 (proportion of total variance r);
# the paper's r values (1 to 1000) are not this share.
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', range_variance=0.999)]

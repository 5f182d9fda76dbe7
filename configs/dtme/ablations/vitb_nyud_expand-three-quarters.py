# DTME-MTL ablation, ViT-B/16, NYUD-v2 (4 tasks): analysis and expansion at iteration 45000 (3/4 of 60k); training still
# ends at 60k, while the paper trains as many iterations after each expansion; other DTMEHook settings at their
# defaults. Batch 4/GPU (N GPUs x 4), crop 448x576; 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9; ViT from scratch
# (pretrained=None). Paper row: DTME-MTL Fig. 3, expansion at the end of the third quarter.
_base_ = '../vitb_nyud.py'
custom_hooks = [dict(type='DTMEHook', expand_iter=45000)]

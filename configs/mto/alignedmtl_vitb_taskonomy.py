# Aligned-MTL (Senushkin et al., CVPR 2023): the shared Jacobian's singular values aligned to the smallest; Baseline MT
# ViT-B/16, Taskonomy tiny (11 tasks). 1 GPU x batch 8, 256x256 images, no crop; 40k it (the authors' earlier Taskonomy
# setting), Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm'). Paper row: DTME-MTL Tab. 3
# (Taskonomy, ViT-B), the Aligned-MTL row.
_base_ = '../baseline/vitb_taskonomy.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper', constructor='MultiTaskOptimWrapperConstructor', aggregator=dict(type='AlignedMTL'))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP

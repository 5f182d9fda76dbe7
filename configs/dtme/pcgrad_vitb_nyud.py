# DTME-MTL + PCGrad (Yu et al., NeurIPS 2020): conflicting task gradients of the shared ViT projected, on
# dtme/vitb_nyud.py (ViT-B/16, NYUD-v2, 4 tasks). 1 GPU x batch 6, crop 448x576; 60k it, Adam lr 2e-5 wd 1e-6, poly 0.9;
# ImageNet-22K ViT weights (pretrained='timm'). Paper row: none (DTME-MTL says it combines with MTO methods; arXiv v2
# reports no such row).
_base_ = './vitb_nyud.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper', constructor='MultiTaskOptimWrapperConstructor', aggregator=dict(type='PCGrad'))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # the DTME hook re-wraps with it after expansion

# TaskPrompter, ViT-L/16 (blocks 6, 12, 18, 24), NYUD-v2: the paper's NYUD-v2 model (reference LR 1e-5).
_base_ = './vitb_nyud.py'
model = dict(backbone=dict(model_name='vit_large_patch16_384'))
optim_wrapper = dict(optimizer=dict(lr=1e-5))

# InvPT, ViT-L/16 (blocks 6, 12, 18, 24), NYUD-v2: the paper's main NYUD-v2 model.
_base_ = './vitb_nyud.py'
model = dict(backbone=dict(model_name='vit_large_patch16_384'))

# InvPT, ViT-L/16, PASCAL-Context: the paper's main PASCAL-Context model.
_base_ = './vitb_pascal.py'
model = dict(backbone=dict(model_name='vit_large_patch16_384'))

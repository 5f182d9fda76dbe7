_base_ = './vitb_pascal.py'
model = dict(backbone=dict(model_name='vit_large_patch16_384'))

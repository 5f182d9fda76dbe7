_base_ = './vitb_nyud.py'
model = dict(backbone=dict(model_name='vit_large_patch16_384'))

_base_ = './vitb_nyud.py'
model = dict(backbone=dict(model_name='vit_tiny_patch16_384'))

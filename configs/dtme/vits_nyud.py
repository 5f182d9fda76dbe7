_base_ = './vitb_nyud.py'
model = dict(backbone=dict(model_name='vit_small_patch16_384'))

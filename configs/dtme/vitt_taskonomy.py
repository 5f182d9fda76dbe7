# DTME-MTL on Taskonomy (tiny, 11 tasks): Baseline MT ViT-T/16 + TM / TE chosen at iteration 0 from 100 random training
# batches (dtme/vitb_taskonomy.py with the backbone swapped). 1 GPU x batch 8, 256x256 images, no crop; 40k it (the
# authors' earlier Taskonomy setting), Adam lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm').
# Paper row: DTME-MTL Tab. 10 (Taskonomy, ViT-T/16), the DTME-MTL row.
_base_ = './vitb_taskonomy.py'
model = dict(backbone=dict(model_name='vit_tiny_patch16_384'))

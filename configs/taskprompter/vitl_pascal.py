# TaskPrompter (Ye & Xu, ICLR 2023), ViT-L/16, PASCAL-Context (5 tasks); the reference's narrower PASCAL ViT-L decoder
# (branches of 300, fused features of 350, one channel window). 1 GPU x batch 2 (the reference's), crop 512x512; 40k it,
# Adam lr 2e-5 wd 1e-6, poly 0.9, grad clip 10; ImageNet-22K ViT weights (pretrained='timm'). Paper row: TaskPrompter's
# PASCAL-Context result.
_base_ = './vitb_pascal.py'
decoder_channels = 350
model = dict(
    backbone=dict(model_name='vit_large_patch16_384'),
    neck=dict(channels=300, out_channels=decoder_channels, channel_windows=(1, 1)),
    heads=dict(
        semseg=dict(channels=decoder_channels),
        human_parts=dict(channels=decoder_channels),
        saliency=dict(channels=decoder_channels),
        normals=dict(channels=decoder_channels),
        edge=dict(channels=decoder_channels)))

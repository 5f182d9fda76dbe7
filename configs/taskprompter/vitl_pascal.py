# TaskPrompter, ViT-L/16, PASCAL-Context: the paper's PASCAL-Context model; the reference's narrower decoder for it
# (branches of 300, fused features of 350, one channel window).
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

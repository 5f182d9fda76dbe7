# InvPT (Ye & Xu, ECCV 2022) on a shared ViT: the Baseline MT model with the InvPT decoder as its neck. The
# decoder's preliminary predictions are supervised with each head's loss (logged as '{task}.aux_*').
# Decoder settings are the reference code's: task features 512 + 64, stages of 576 / 288 / 144 channels, 2 heads,
# key / value pooling 2 / 4 / 8, queries at stride 2, attention message passing, stochastic depth 0.15.
_base_ = './baseline_vit.py'
decoder_channels = 576  # task_channels + pred_embed_channels: the fused H/4 features the heads read
model = dict(
    backbone=dict(drop_path_rate=0.15),
    neck=dict(
        type='InvPTDecoder',
        pred_channels=dict(semseg=40),  # as heads.semseg.out_channels; other tasks default from the task table
        task_channels=512,
        pred_embed_channels=64,
        num_heads=(2, 2, 2),
        kv_pool=(2, 4, 8),
        q_stride=2,
        drop_path_rate=0.15,
        attention_message=True,
        input_level=-1,
        skip_levels=(None, 1, 0)),
    # InvPT's heads: a 3x3 Conv-BN-ReLU per task on the fused features, then a 1x1 predictor
    heads=dict(
        semseg=dict(channels=decoder_channels),
        depth=dict(channels=decoder_channels),
        normals=dict(channels=decoder_channels),
        edge=dict(channels=decoder_channels)))

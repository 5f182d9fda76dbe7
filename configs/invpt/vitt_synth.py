# CPU demo, not a paper row: InvPT's decoder, scaled down (task features 64 + 16, stages of 80 / 40 / 20 channels), on
# the synthetic Baseline MT (ViT-Tiny/8 from scratch, 96x128); the heads read the fused features at H/2 (patch 8).
# 1 process x batch 8, crop 96x128; 600 it, Adam lr 1e-3 wd 1e-6, 50-it linear warm-up then poly 0.9.
_base_ = '../baseline/vitt_synth.py'
num_classes = 9  # as baseline/vitt_synth.py
model = dict(
    neck=dict(
        type='InvPTDecoder',
        pred_channels=dict(semseg=num_classes),
        task_channels=64,
        pred_embed_channels=16,
        num_heads=(2, 2, 2),
        kv_pool=(2, 4, 8),
        drop_path_rate=0.0),
    # fewer head channels than the decoder's 80: the heads run at H/2 here, the bulk of a CPU step
    heads=dict(semseg=dict(channels=32), depth=dict(channels=32), normals=dict(channels=32), edge=dict(channels=32)))

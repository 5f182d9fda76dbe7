# CPU demo, not a paper row: the TaskPrompter-like model, scaled down (branches and fused features of 64, 2 x 2 channel
# windows), on the synthetic scenes (ViT-Tiny/8 from scratch, 96x128); the heads read the fused features at H/2.
# 1 process x batch 8, crop 96x128; 600 it, Adam lr 1e-3 wd 1e-6, 50-it linear warm-up then poly 0.9.
_base_ = '../baseline/vitt_synth.py'
model = dict(
    backbone=dict(type='TaskPrompterViT', prompt_length=1, prompt_init_std=0.02),
    neck=dict(type='TaskPrompterDecoder', channels=64, out_channels=64, channel_windows=(2, 2), scale_factor=4),
    # fewer head channels than the decoder's 64: the heads run at H/2 here, the bulk of a CPU step
    heads=dict(semseg=dict(channels=32), depth=dict(channels=32), normals=dict(channels=32), edge=dict(channels=32)))

# TaskPrompter-like model (Ye & Xu, ICLR 2023) on a timm ViT: one learnable prompt set per task in every block
# (TaskPrompterViT), dense task-prompt decoding from the prompts' spatial / channel attention at 4 levels, summed and
# upsampled x4 (TaskPrompterDecoder), one Conv-BN-ReLU head per task. The backbone is DTME-expandable.
# Settings are the reference code's NYUD-v2 ViT-L ones: prompt length 1, branches of 768, fused features of 768,
# 16 channel-attention windows (4 x 4), stochastic depth 0.15; the heads' 3x3 conv keeps the 768 channels.
_base_ = './baseline_vit.py'
decoder_channels = 768  # neck.out_channels: the fused H/4 features the heads read
model = dict(
    backbone=dict(type='TaskPrompterViT', prompt_length=1, prompt_init_std=0.02, drop_path_rate=0.15),
    neck=dict(
        type='TaskPrompterDecoder',
        channels=768,
        out_channels=decoder_channels,
        channel_windows=(4, 4),
        scale_factor=4),
    heads=dict(
        semseg=dict(channels=decoder_channels),
        depth=dict(channels=decoder_channels),
        normals=dict(channels=decoder_channels),
        edge=dict(channels=decoder_channels)))

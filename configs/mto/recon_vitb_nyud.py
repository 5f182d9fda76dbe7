# Recon (Shi et al., ICLR 2023), Baseline MT ViT-B/16, NYUD-v2 (4 tasks): at iteration 2k, conflicts measured on 100
# batches; each task gets its own copy of the 2 most conflicting blocks. 1 GPU x batch 6, crop 448x576; 60k it, Adam lr
# 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm'). Paper row: DTME-MTL Tab. 7, Recon (its other
# rows repeat Tab. 1 ViT-T numbers).
_base_ = '../baseline/vitb_nyud.py'
model = dict(backbone=dict(type='DTMEViT'))  # the task-stream ViT: copied blocks run on stacked (T*B, N, C) streams
# S=-0.02 is the official code's NYUv2 value; k=2 blocks adds 2 x 3 x 7.09M = 42.5M parameters for 4 tasks.
custom_hooks = [dict(type='ReconHook', start_iter=2000, num_batches=100, threshold=-0.02, k=2, granularity='block')]

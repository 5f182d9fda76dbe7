# Recon (Shi et al., ICLR 2023) on Baseline MT ViT-B/16, NYUD-v2: after 2k of the 60k iterations, measure parameter-
# gradient conflicts per block on 100 batches, give each task its own copy of the 2 most conflicting blocks, continue.
_base_ = '../baseline/vitb_nyud.py'
model = dict(backbone=dict(type='DTMEViT'))  # the task-stream ViT: copied blocks run on stacked (T*B, N, C) streams
# S=-0.02 is the official code's NYUv2 value; k=2 blocks adds 2 x 3 x 7.09M = 42.5M parameters for 4 tasks.
custom_hooks = [dict(type='ReconHook', start_iter=2000, num_batches=100, threshold=-0.02, k=2, granularity='block')]

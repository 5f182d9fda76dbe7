# DTME-MTL on TaskPrompter: TaskPrompter ViT-B/16, PASCAL-Context (5 tasks) + TM / TE chosen at iteration 0. Batch 2/GPU
# (N GPUs x 2), crop 512x512; 40k it, Adam lr 2e-5 wd 1e-6, poly 0.9, grad clip 10; ViT from scratch. Paper row:
# DTME-MTL Tab. 5, TaskPrompter + DTME-MTL (its backbone is not stated in the paper text).
_base_ = '../taskprompter/vitb_pascal.py'
custom_hooks = [dict(type='DTMEHook', expand_iter=0, ratio=0.5, range_variance=0.99, variant='tm+te', num_tokens=6)]

# CPU demo, not a paper row: Baseline ST on the synthetic scenes, the demo model trained on normals alone (Δm
# reference). 1 process x batch 8, crop 96x128; 600 it, Adam lr 1e-3 wd 1e-6, 50-it linear warm-up then poly 0.9.
# ViT-Tiny/8 trained from scratch.
_base_ = './vitt_synth.py'
model = dict(tasks=['normals'])
# An ST run is a reference of Δm, not compared with one.
val_evaluator = dict(st_reference=None)
test_evaluator = dict(st_reference=None)

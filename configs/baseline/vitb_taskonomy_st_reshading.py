# Baseline ST: Baseline MT ViT-B/16 on Taskonomy tiny trained on reshading (R) alone, the single-task reference of the
# Taskonomy Δm (Tab. 3). 1 GPU x batch 8, 256x256 images, no crop; 40k it (the authors' earlier Taskonomy setting), Adam
# lr 2e-5 wd 1e-6, poly 0.9; ImageNet-22K ViT weights (pretrained='timm'). Paper row: the single-task reference of
# DTME-MTL Tab. 3 (not printed).
_base_ = './vitb_taskonomy.py'
model = dict(tasks=['reshading'])
train_dataloader = dict(dataset=dict(tasks=['reshading']))  # read only this task's targets
val_dataloader = dict(dataset=dict(tasks=['reshading']))
test_dataloader = val_dataloader

"""Task variants for session 13's calls (`--task variants:NAME` with this folder on PYTHONPATH; rollout.get_task):
- digits-elastic: MNIST train digits distorted by the affine augmentation and then an elastic one
  (DigitsTask(augment="elastic")); the default `digits` is the affine one alone. Val and test digits are as written.
- pixel-mixed: pixel scenes whose SFT demos answer at once, without a tool, for 3 in 4 examples
  (PixelTask(direct_share=0.75)): a start that seldom calls tools, for the curiosity-bonus comparison. GRPO and
  eval use the plain `pixel` task: the episodes and rewards are the same.
- pixel-mixed70: the same with 7 demos in 10 answering at once (call D); pixel-text-mixed70: its text variant
  (call E), where an answer without a tool is a blind guess."""
from vision_tasks import DigitsTask, PixelTask

TASKS = {"digits-elastic": DigitsTask(augment="elastic"), "pixel-mixed": PixelTask(direct_share=0.75),
         "pixel-mixed70": PixelTask(direct_share=0.7), "pixel-text-mixed70": PixelTask(text_only=True, direct_share=0.7)}

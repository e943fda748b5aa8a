"""Interactive terminal chat with any checkpoint, through the same episode runner as training.

--task exec: think / code / output cycles stream to the terminal; code runs in the sandbox, and its
variables persist across questions until /reset. /think toggles showing <think> blocks.
--task vi: type an instruction; the agent edits the buffer one command at a time and the rendered notepad
is shown after each command. The buffer carries over to the next instruction (/reset empties it).
--task digits | cryptogram | pixel (a vision-language checkpoint): questions are asked about an image, --image
FILE or else the task's shown test example (its images are saved as PNGs to look at); /play plays the shown
example's own episode (its prompt; pixel's tools run on its scene), /next shows the next example and plays it.
A question about an image gets one answer turn: tools are run only on the task's own scenes.
Commands: /think, /reset, quit or exit (or Ctrl-D).

Chat:    python chat.py --task exec --model runs/grpo-exec
Script:  python chat.py --task exec --model runs/sft-exec --query "What is 17 * 23?"
Vi:      python chat.py --task vi --model runs/grpo-vi --file notes.txt
Images:  python chat.py --task digits --model runs/sft-digits --image my_digits.png --query "What is the sum?"
"""
import argparse
import dataclasses
import os
import re
import sys
from dataclasses import dataclass

import numpy as np
import torch

import vlm
from rollout import check_task_tokens, get_task, load_policy, run_episodes


@dataclass
class Args:
    task: str = "exec"
    """exec or vi"""
    model: str = ""
    """checkpoint dir; empty = runs/grpo-<task>, else runs/sft-<task>"""
    query: str = ""
    """answer this one question (or vi instruction) and exit"""
    file: str = ""
    """vi: start from this text file's contents (default: an empty buffer)"""
    image: str = ""
    """image tasks: ask about this image file (default: the task's test examples, saved under runs/chat-<task>/)"""
    show_think: bool = False
    """show <think> blocks (toggle with /think)"""
    temperature: float = 0.0
    """0 = greedy"""
    max_tokens: int = 256
    """tokens per cycle (exec) or per command (vi)"""
    max_cycles: int = 4
    """code cycles per answer (exec) or commands per instruction (vi)"""
    timeout: float = 5.0
    """exec: wall-clock seconds per code block"""
    device: str = "auto"
    """auto | cpu | cuda"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for f in dataclasses.fields(Args):
        flag = "--" + f.name.replace("_", "-")
        if f.type is bool or f.type == "bool":
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default)
    return Args(**vars(parser.parse_args()))


class StreamPrinter:
    """Prints a growing generation as it is sampled, hiding <think>...</think> unless asked to show it.
    Decodes the whole text each time (cheap at chat speed) so multi-token characters print whole."""

    def __init__(self, tokenizer, show_think):
        self.tokenizer, self.show_think, self.ids, self.printed = tokenizer, show_think, [], ""

    def __call__(self, row, token_id):
        self.ids.append(token_id)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=False)
        text = text.replace(self.tokenizer.eos_token, "")
        # an image the env showed (ZOOM_IN) prints as <image>, not as its image tokens
        text = re.sub(r"<\|vision_start\|>(<\|image_pad\|>)*(<\|vision_end\|>|$)", vlm.IMAGE, text)
        if not self.show_think:
            text = re.sub(r"<think>.*?(</think>|$)", "", text, flags=re.S)
        if text.startswith(self.printed):
            sys.stdout.write(text[len(self.printed):])
            sys.stdout.flush()
        self.printed = text


class ChatTask:
    """The task as the episode runner sees it, with chat's twists: vi episodes print each command and the
    notepad after it; exec episodes run in chat's own sandbox, whose variables persist across questions."""

    def __init__(self, task, sandbox=None):
        self.task, self.sandbox = task, sandbox
        self.name, self.style, self.special_tokens = task.name, task.style, task.special_tokens
        self.stop_tokens, self.max_new_tokens, self.max_turns = task.stop_tokens, task.max_new_tokens, task.max_turns

    def reset(self, example):
        if "images" in example:
            return ImageQuestion(example)
        if self.sandbox is not None:
            return self.task.reset(example, sandbox=self.sandbox)
        episode = self.task.reset(example)
        step = episode.step

        def shown_step(completion):
            observation, done = step(completion)
            keys = completion.split("</command>")[0]
            notepad = observation.split("<prompt>")[0].replace("<BOS>", "").strip()
            print(f"\n$ {keys or '(done)'}\n{notepad}")
            return observation, done

        episode.step = shown_step
        return episode


class ImageQuestion:
    """A question about images: the prompt is one `<image>` per image, then the question; one answer turn."""

    def __init__(self, example):
        self.example = example

    def observation(self):
        return " ".join([vlm.IMAGE] * len(self.example["images"])) + "\n" + self.example["query"] + "\n"

    def images(self):
        return list(self.example["images"])

    def step(self, completion):
        return "", True

    def reward(self):
        return 0.0, {"success": 0.0}

    def answer(self):
        return None

    def info(self):
        return {}


def show_example(task, example, out_dir):
    """Save the example's images as PNGs and print its prompt; returns the images."""
    from PIL import Image
    os.makedirs(out_dir, exist_ok=True)
    images = task.reset(example).images()
    paths = [os.path.join(out_dir, f"{example['id']}-{j}.png") for j in range(len(images))]
    for image, p in zip(images, paths):
        Image.fromarray(image).save(p)
    print(f"\n[{example['id']}] images: {' '.join(paths)}\n{example['prompt']}", end="")
    return images


if __name__ == "__main__":
    args = parse_args()
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu")
    task = get_task(args.task)
    path = args.model
    if not path:
        path = next((p for p in (f"runs/grpo-{args.task}", f"runs/sft-{args.task}") if os.path.exists(p)), "")
        if not path:
            raise SystemExit(f"no checkpoint: pass --model, or train one with `python sft.py --task {args.task}`")
    model, tokenizer = load_policy(path, device=device)
    image_processor = vlm.load_image_processor(path, model)
    check_task_tokens(tokenizer, task)
    show_think = args.show_think
    vision = vlm.task_has_images(task)

    if args.task == "vi":
        lines = open(args.file).read().split("\n") if args.file else [""]
        cursor = [0, 0]
    elif vision:
        if image_processor is None:
            raise SystemExit(f"{path} is a text model; task {args.task} needs a vision-language checkpoint "
                             f"(`python sft.py --task {args.task}` builds one)")
        examples, shown = task.examples("test", 50), 0
        if args.image:
            from PIL import Image
            images = [np.asarray(Image.open(args.image).convert("RGB"))]
        else:
            images = show_example(task, examples[0], f"runs/chat-{args.task}")
    else:
        from exec_env import Sandbox
        sandbox = Sandbox(timeout=args.timeout)  # one worker for the whole chat: variables persist
    print(f"chat: {args.task} | {path} | /think /reset {'/play /next ' * vision}quit", file=sys.stderr)
    while True:
        if args.query:
            text = args.query
        else:
            try:
                text = input("\n> ").strip()
            except EOFError:
                break
        if text in ("quit", "exit"):
            break
        if text == "/think":
            show_think = not show_think
            print(f"(think blocks {'shown' if show_think else 'hidden'})")
            continue
        if text == "/reset":
            if args.task == "vi":
                lines, cursor = [""], [0, 0]
            elif not vision:
                sandbox.reset()
            print("(reset)")
            continue
        if not text:
            continue
        if args.task == "vi":
            example = {"id": "chat", "family": "chat", "difficulty": "-", "prompt": text, "lines": lines,
                       "cursor": cursor, "target": lines, "expert": []}
            result = run_episodes(model, tokenizer, ChatTask(task), [example],
                                  temperature=args.temperature, max_new_tokens=args.max_tokens,
                                  max_turns=args.max_cycles)[0]
            lines = result.info["final"].split("\n")
            cursor = [0, 0]  # every instruction starts at the top, as in the task's training examples
        elif vision:
            play = text in ("/play", "/next")   # the task's own episode of the shown example, else a question
            if text == "/next":
                shown = (shown + 1) % len(examples)
                images = show_example(task, examples[shown], f"runs/chat-{args.task}")
            example = examples[shown] if play else {"id": "chat", "query": text, "images": images}
            printer = StreamPrinter(tokenizer, show_think)
            print()
            result = run_episodes(model, tokenizer, task if play else ChatTask(task), [example],
                                  temperature=args.temperature, max_new_tokens=args.max_tokens,
                                  max_turns=args.max_cycles, stream=printer, image_processor=image_processor)[0]
            print()
            if play:
                print(f"(reward {result.reward:.2f} {result.components} | {result.info})")
        else:
            example = {"id": "chat", "family": "chat", "difficulty": "-", "query": text, "answer": None}
            printer = StreamPrinter(tokenizer, show_think)
            print()
            run_episodes(model, tokenizer, ChatTask(task, sandbox), [example], temperature=args.temperature,
                         max_new_tokens=args.max_tokens, max_turns=args.max_cycles, stream=printer)
            print()
        if args.query:
            break

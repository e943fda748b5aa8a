"""Toy tasks for the stage tests (registered under "toy_tasks:NAME"): learnable in seconds by a tiny model."""
import random

LETTERS = "a"  # one target: the test checks that reward rises, not that the prompt is read


class SayEpisode:
    def __init__(self, example):
        self.example, self.text, self.turns = example, "", 0

    def observation(self):
        return f"Say {self.example['letter']}:"

    def step(self, completion):
        self.text, self.turns = completion, self.turns + 1
        return self.observation(), True

    def reward(self):
        said = self.text.replace("</say>", "")
        hits = sum(c == self.example["letter"] for c in said) / 6
        return min(hits, 1.0), {"hits": hits, "success": float(said == self.example["letter"] * 6)}

    def answer(self):
        return self.text

    def info(self):
        return {"said": self.text}


class SayTask:
    """Reward = how many of the (at most 8) sampled characters are the asked letter."""
    name, style = "say", "reprompt"
    special_tokens, stop_tokens = ["</say>"], ["</say>"]
    max_turns, max_new_tokens = 1, 8

    def examples(self, split, n, seed=0):
        rng = random.Random(f"{split}-{seed}")
        return [{"id": f"{split}-{seed}-{i}", "family": "say", "difficulty": "easy",
                 "letter": rng.choice(LETTERS)} for i in range(n)]

    def reset(self, example):
        return SayEpisode(example)

    def demo(self, example):
        return [[(f"Say {example['letter']}:", False), (example["letter"] * 6 + "</say>", True)]]


TASKS = {"say": SayTask()}

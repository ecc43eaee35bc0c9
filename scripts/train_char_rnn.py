"""Train the shipped character-level LSTM of ``nnwidgets.zoo.char_rnn()`` on CPU.

Usage: ``python scripts/train_char_rnn.py [--steps N] [--text-only]``

The corpus is the running interpreter's standard-library source (PSF License) with URLs
mixed in (see :mod:`nnwidgets.zoo.char_rnn`); four modules are held out for validation and
the demo text. Training is truncated backpropagation through time with the state carried
from one batch to the next, so the model learns state that lasts longer than a batch
(inside a string, the indentation of a block). Deterministic: fixed seeds, deterministic
algorithms and two threads, so rerunning with the same Python (its standard library is the
data) and torch writes the same weights. About 10 minutes on two otherwise idle CPU cores
(3000 steps; the held-out text ends near 1.8 bits per character).
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source tree

from nnwidgets.zoo import CHAR_RNN_TEXT, CHAR_RNN_WEIGHTS
from nnwidgets.zoo._demo import WEIGHTS_DIR
from nnwidgets.zoo.char_rnn import CharLSTM, corpus, encode, stdlib_files

TRAIN_SEED = 0
"""Seed of the URLs mixed into the training text, of the weights and of the batch order."""
HELD_OUT_SEED = 1
"""Seed of the URLs mixed into the held-out text."""
BATCH = 64
"""Parallel streams of text, each read in order."""
LENGTH = 128
"""Characters per stream and step (the backpropagation horizon)."""
DEMO_FILE = "webbrowser.py"
"""Held-out module the demo text is cut from."""
DEMO_LINES = (270, 329)
"""First and last line (1-based, inclusive) of the demo text, after URLs are mixed in."""


def streams(ids: torch.Tensor, batch: int) -> torch.Tensor:
    """Cut ``ids`` into ``batch`` contiguous rows of equal length."""
    length = len(ids) // batch
    return ids[: batch * length].view(batch, length)


@torch.no_grad()
def bits_per_char(model: CharLSTM, ids: torch.Tensor) -> float:
    """Mean next-character cross-entropy, in bits, of the model reading ``ids`` in 8 streams."""
    rows = streams(ids, 8)
    logits, _ = model(rows[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1))
    return loss.item() / math.log(2)


def train(steps: int, log_every: int = 250) -> CharLSTM:
    """Train a fresh :class:`CharLSTM` for ``steps`` batches and return it in eval mode."""
    files = stdlib_files()
    text = corpus(files, TRAIN_SEED)
    held_out = encode(corpus(stdlib_files(held_out=True), HELD_OUT_SEED))
    print(
        f"corpus: {len(files)} modules of Python {platform.python_version()}'s standard library, "
        f"{len(text):,} characters with URLs mixed in; held out {len(held_out):,}"
    )
    data = encode(text)
    gen = torch.Generator().manual_seed(TRAIN_SEED)
    torch.manual_seed(TRAIN_SEED)
    model = CharLSTM()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.05)
    rows, position, state = None, 0, None
    start, total, count = time.perf_counter(), 0.0, 0
    model.train()
    for step in range(1, steps + 1):
        if rows is None or position + LENGTH + 1 > rows.shape[1]:
            # a new pass over the corpus, from a random offset, with a fresh state
            shift = int(torch.randint(len(data), (1,), generator=gen))
            rows, position, state = streams(data.roll(-shift), BATCH), 0, None
        chunk = rows[:, position : position + LENGTH + 1]
        position += LENGTH
        logits, state = model(chunk[:, :-1], state)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunk[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        total, count = total + loss.item(), count + 1
        if step % log_every == 0 or step == steps:
            model.eval()
            held = bits_per_char(model, held_out)
            model.train()
            print(
                f"  step {step:5d}/{steps}  train {total / count / math.log(2):.3f} bits/char"
                f"  held out {held:.3f}  {time.perf_counter() - start:.0f} s",
                flush=True,
            )
            total, count = 0.0, 0
    return model.eval()


def save(model: CharLSTM) -> Path:
    """Write the model's state dict as float16 into the zoo's weights folder."""
    path = WEIGHTS_DIR / CHAR_RNN_WEIGHTS
    state = {k: v.detach().to(torch.float16).clone() for k, v in model.state_dict().items()}
    torch.save(state, path)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return path


def write_demo_text() -> Path:
    """Write the demo text: lines of a held-out module, URLs mixed in as in training."""
    lines = corpus([f for f in stdlib_files(held_out=True) if f.name == DEMO_FILE], 2)
    first, last = DEMO_LINES
    text = "".join(lines.splitlines(keepends=True)[first - 1 : last])
    path = WEIGHTS_DIR / CHAR_RNN_TEXT
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path} ({len(text):,} characters of {DEMO_FILE})")
    return path


def main() -> None:
    """Parse arguments, train and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="batches to train on")
    parser.add_argument("--text-only", action="store_true", help="only write the demo text")
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    if not args.text_only:
        save(train(args.steps))
    write_demo_text()


if __name__ == "__main__":
    main()

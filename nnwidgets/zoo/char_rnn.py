"""The character-level LSTM demo: its architecture, vocabulary and training corpus.

The corpus is Python's own standard library, read from the running interpreter's ``Lib``
folder (nothing is downloaded), with made-up but plausible URLs mixed into comments and
strings, because the standard library holds few. The standard library is © Python Software
Foundation, distributed under the PSF License Agreement (``LICENSE.txt`` in that folder); the
shipped demo text is an excerpt of it, kept under that licence.
"""

from __future__ import annotations

import io
import random
import sysconfig
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

UNKNOWN = "\ufffd"
"""Vocabulary entry that every character outside the vocabulary is read as."""

VOCAB: tuple[str, ...] = (UNKNOWN, "\t", "\n", *(chr(c) for c in range(32, 127)))
"""The demo's characters: the unknown entry, tab, newline and printable ASCII, in index order."""

HELD_OUT = ("netrc.py", "shlex.py", "textwrap.py", "webbrowser.py")
"""Standard-library modules kept out of training: the validation text and the demo text."""

URL_RATE = 0.06
"""Chance that a URL line is inserted after a logical line of code."""

_WORDS = (
    "api", "archive", "blog", "build", "cache", "config", "data", "dev", "docs", "download",
    "en", "faq", "files", "guide", "help", "howto", "index", "issues", "library", "lists",
    "latest", "main", "manual", "media", "news", "notes", "packages", "project", "python",
    "reference", "release", "repo", "rfc", "search", "source", "spec", "static", "stable",
    "support", "tools", "tracker", "tutorial", "unicode", "user", "v2", "wiki", "www",
)  # fmt: skip
_HOSTS = (
    "docs.python.org", "github.com", "en.wikipedia.org", "bugs.python.org", "peps.python.org",
    "www.example.com", "example.org", "stackoverflow.com", "datatracker.ietf.org",
    "www.rfc-editor.org", "pypi.org", "www.unicode.org", "mail.python.org", "www.w3.org",
)  # fmt: skip
_NAMES = ("url", "URL", "BASE_URL", "_DOCS_URL", "homepage", "link", "source_url", "endpoint")
_CALLS = ("urlopen", "webbrowser.open", "fetch", "self.get", "request.Request", "parse_url")


def stdlib_dir() -> Path:
    """Return the folder of the running interpreter's standard-library sources."""
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(held_out: bool = False) -> list[Path]:
    """Top-level ``.py`` modules of the standard library, sorted; the held-out ones or the rest."""
    files = sorted(stdlib_dir().glob("*.py"))
    return [f for f in files if (f.name in HELD_OUT) == held_out]


def make_url(rng: random.Random) -> str:
    """Make a plausible URL: a known or made-up host, a path, sometimes a query or a fragment."""
    host = rng.choice(_HOSTS) if rng.random() < 0.6 else f"{rng.choice(_WORDS)}.example.net"
    segments = [rng.choice(_WORDS) for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.3:
        segments.append(str(rng.randint(1, 9999)))
    path = "/".join(segments)
    if rng.random() < 0.35:
        path += rng.choice((".html", ".txt", ".py", ".json", "/"))
    url = f"{'https' if rng.random() < 0.8 else 'http'}://{host}/{path}"
    if rng.random() < 0.2:
        url += f"?{rng.choice(_WORDS)}={rng.choice(_WORDS)}&page={rng.randint(1, 20)}"
    elif rng.random() < 0.15:
        url += f"#{rng.choice(_WORDS)}-{rng.randint(1, 99)}"
    return url


def url_line(rng: random.Random, indent: str) -> str:
    """Make a line that holds a URL, in a comment or a string, indented by ``indent``."""
    url = make_url(rng)
    quote = '"' if rng.random() < 0.6 else "'"
    form = rng.randrange(6)
    if form == 0:
        line = f"# See {url} for details."
    elif form == 1:
        line = f"# {url}"
    elif form == 2:
        line = f"# Reference: {url}"
    elif form == 3:
        line = f"{rng.choice(_NAMES)} = {quote}{url}{quote}"
    elif form == 4:
        line = f"{rng.choice(_CALLS)}({quote}{url}{quote})"
    else:
        line = f"return {quote}{url}{quote}"
    return indent + line


def mix_urls(source: str, rng: random.Random, rate: float = URL_RATE) -> str:
    """Insert URL lines into Python ``source`` after logical lines, keeping the indentation.

    Lines go only where a statement ends (never inside a string or brackets), indented like
    the line that follows. Source that does not tokenize is returned unchanged.
    """
    lines = source.splitlines(keepends=True)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return source
    starts: dict[int, int] = {}  # last line of each logical line -> its first line
    first = None
    for token in tokens:
        if token.type in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
            continue
        first = token.start[0] if first is None else first
        if token.type == tokenize.NEWLINE:
            starts[token.end[0]] = first
            first = None
    out = []
    for number, line in enumerate(lines, start=1):
        out.append(line)
        if number in starts and number < len(lines) and rng.random() < rate:
            following = lines[number]
            if not following.strip():  # a blank line: keep the statement's indentation
                following = lines[starts[number] - 1]
            indent = following[: len(following) - len(following.lstrip(" \t"))]
            out.append(url_line(rng, indent) + "\n")
    return "".join(out)


def corpus(files: Sequence[Path], seed: int) -> str:
    """Return the text of ``files`` with URLs mixed in (seeded), separated by blank lines."""
    rng = random.Random(seed)
    parts = [mix_urls(f.read_text(encoding="utf-8"), rng) for f in files]
    return "\n\n".join(parts)


def encode(text: str) -> torch.Tensor:
    """Return the int64 indices of ``text`` in :data:`VOCAB` (others: :data:`UNKNOWN`)."""
    index = {c: i for i, c in enumerate(VOCAB)}
    return torch.tensor([index.get(c, 0) for c in text], dtype=torch.int64)


class CharLSTM(nn.Module):
    """Character-level language model: an embedding, a stacked LSTM, a linear head.

    ``forward(ids, state=None)`` takes (N, T) character indices and returns the (N, T, V)
    next-character logits and the LSTM state to carry into the next piece of text.
    """

    def __init__(
        self, vocab_size: int = len(VOCAB), embed: int = 32, hidden: int = 128, layers: int = 2
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed)
        self.rnn = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(
        self, ids: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Next-character logits (N, T, V) of (N, T) indices, and the final LSTM state."""
        out, state = self.rnn(self.embedding(ids), state)
        return self.head(out), state


@dataclass(repr=False)
class TextDemo:
    """A trained character model with a text it was not trained on.

    Attributes
    ----------
    name
        Short title.
    description
        One paragraph a lecturer can show.
    model
        The trained :class:`CharLSTM`, in eval mode; a fresh copy on every call.
    vocab
        The model's characters in index order; index 0 is the unknown entry.
    text
        Held-out Python source (with URLs mixed in) to explore.
    """

    name: str
    description: str
    model: nn.Module
    vocab: list[str]
    text: str

    def __repr__(self) -> str:
        return (
            f"TextDemo(name={self.name!r}, model={type(self.model).__name__}, "
            f"vocab={len(self.vocab)} characters, text={len(self.text)} characters)"
        )

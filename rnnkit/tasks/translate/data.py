"""The sentence pairs of a translation run: reading the splits, the two vocabularies, encoding,
detokenising, and batches.

Both sides are tokenised alike (default: lower-cased words; with bpe/unigram, each side by its
own subword tokenizer learnt from its training sentences); the target vocabulary has
``<bos>``/``<eos>``. The run directory holds ``vocab_src.json`` and ``vocab_tgt.json`` (and
``vocab_subword_src.json``, ``vocab_subword_tgt.json``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rnnkit.data import (
    SequenceDataset,
    Vocab,
    encode_pairs,
    get_tokenizer,
    multi30k,
    read_parallel,
    read_parallel_tsv,
)
from rnnkit.data.subword import SubwordTokenizer
from rnnkit.runs import Run, TaskError
from rnnkit.tasks.translate.config import TranslateConfig, TranslateDataConfig
from rnnkit.train import BucketLoader, RunDir

Pairs = list[tuple[str, str]]


def load_pairs(config: TranslateDataConfig) -> dict[str, Pairs]:
    """The sentence pairs of every split the config names (``train``, ``valid``, maybe ``test``)."""
    if config.src_file is not None or config.pairs_file is not None:
        if config.pairs_file is not None:
            train = read_parallel_tsv(config.pairs_file)
        else:
            train = read_parallel(config.src_file, config.tgt_file)  # type: ignore[arg-type]
        splits: dict[str, Pairs] = {"train": train}
        if config.valid_src_file is None and config.valid_fraction > 0:
            n = max(1, int(len(train) * config.valid_fraction))
            if n >= len(train):
                raise TaskError(
                    f"{len(train)} training pairs are too few to keep {n} for validation; give "
                    "--valid-src-file/--valid-tgt-file or lower --valid-fraction"
                )
            splits = {"train": train[:-n], "valid": train[-n:]}
        for split in ("valid", "test"):
            src, tgt = getattr(config, f"{split}_src_file"), getattr(config, f"{split}_tgt_file")
            if src is not None:
                splits[split] = read_parallel(src, tgt)
        return splits
    if config.dataset == "multi30k":
        return multi30k(config.data_dir, src=config.src, tgt=config.tgt)
    raise TaskError("choose a --dataset or give your own --src-file/--tgt-file or --pairs-file")


def detokenize(tokens: Sequence[str], tokenizer: str) -> str:
    """Text from tokens: undo the ``words`` tokenizer's splits (``man ' s .`` -> ``man's.``)."""
    if tokenizer == "chars":
        return "".join(tokens)
    text = " ".join(tokens)
    if tokenizer == "words":
        text = re.sub(r" ([.,!?;:)])", r"\1", text)
        text = re.sub(r"\( ", "(", text).replace(" ' ", "'")
    return text


SUBWORDS = ("bpe", "unigram")


@dataclass
class TranslatePipeline:
    """Sentences <-> ids on both sides: the source and target vocabularies and the tokenizer
    (for bpe/unigram, each side's subword tokenizer)."""

    src: Vocab
    tgt: Vocab
    data: TranslateDataConfig
    src_subword: SubwordTokenizer | None = None
    tgt_subword: SubwordTokenizer | None = None

    @classmethod
    def build(cls, data: TranslateDataConfig, train: Pairs) -> TranslatePipeline:
        """Vocabularies of the training pairs (the target with <bos>/<eos>); for bpe/unigram,
        first each side's subword tokenizer, learnt from its training sentences only."""
        if data.tokenizer in SUBWORDS:
            sides = []
            for i, specials in ((0, False), (1, True)):
                texts = [pair[i] for pair in train]
                subword = SubwordTokenizer.train(texts, data.tokenizer, data.vocab_size)
                streams = [*(subword.tokenize(t) for t in texts), subword.pieces()]
                sides.append((Vocab.build(streams, bos=specials, eos=specials), subword))
            (src, src_subword), (tgt, tgt_subword) = sides
            return cls(src, tgt, data, src_subword, tgt_subword)
        tokenize = get_tokenizer(data.tokenizer)
        src = Vocab.build((tokenize(s) for s, _ in train), data.min_freq, data.max_vocab)
        tgt = Vocab.build(
            (tokenize(t) for _, t in train), data.min_freq, data.max_vocab, bos=True, eos=True
        )
        return cls(src, tgt, data)

    def tokenizers(self) -> tuple[Any, Any]:
        """The source and target tokenizers (functions from text to tokens)."""
        if self.src_subword is not None and self.tgt_subword is not None:
            return self.src_subword.tokenize, self.tgt_subword.tokenize
        tokenize = get_tokenizer(self.data.tokenizer)
        return tokenize, tokenize

    def source_tokens(self, text: str) -> list[str]:
        """The source tokens the model reads of a sentence (cut to max_len)."""
        tokens = self.tokenizers()[0](text)
        return tokens[: self.data.max_len] if self.data.max_len else tokens

    def encode(self, pairs: Pairs) -> SequenceDataset:
        src_tok, tgt_tok = self.tokenizers()
        try:
            return encode_pairs(pairs, src_tok, self.src, tgt_tok, self.tgt, self.data.max_len)
        except ValueError as err:  # an empty side after tokenisation: say which pair
            raise TaskError(f"cannot encode the sentence pairs: {err}") from err

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Target text of target tokens (exact for subwords)."""
        if self.tgt_subword is not None:
            return self.tgt_subword.detokenize(tokens, line_end=None)
        return detokenize(tokens, self.data.tokenizer)

    def display_source(self, token: str) -> str:
        """A source token as text (a subword piece as the text it stands for)."""
        return self.src_subword.display(token) if self.src_subword is not None else token

    def display_target(self, tokens: Sequence[str]) -> list[str]:
        """Target tokens as text (subword pieces as the text they stand for)."""
        subword = self.tgt_subword
        return [subword.display(t) for t in tokens] if subword is not None else list(tokens)

    def words(self, tokens: Sequence[str]) -> list[str]:
        """Target tokens as the words BLEU counts: the tokens themselves, or for subwords the
        ``words`` tokens of their text (so BLEU compares words whatever the tokenizer)."""
        if self.tgt_subword is not None:
            return get_tokenizer("words")(self.detokenize(tokens))
        return list(tokens)

    def reference_words(self, text: str) -> list[str]:
        """A reference translation cut into the words :meth:`words` compares with."""
        tokenizer = "words" if self.tgt_subword is not None else self.data.tokenizer
        return get_tokenizer(tokenizer)(text)

    def save(self, run: RunDir) -> None:
        run.save_vocab(self.src, name="src")
        run.save_vocab(self.tgt, name="tgt")
        for side, subword in (("src", self.src_subword), ("tgt", self.tgt_subword)):
            if subword is not None:
                run.save_vocab(subword, name=f"subword_{side}")

    @classmethod
    def load(cls, run: Run, data: TranslateDataConfig) -> TranslatePipeline:
        d = run.dir
        src = Vocab.from_dict(d.load_vocab("src"), source=str(d.vocab_path("src")))
        tgt = Vocab.from_dict(d.load_vocab("tgt"), source=str(d.vocab_path("tgt")))
        if data.tokenizer not in SUBWORDS:
            return cls(src, tgt, data)
        subwords = [
            SubwordTokenizer.from_dict(
                d.load_vocab(f"subword_{side}"), source=str(d.vocab_path(f"subword_{side}"))
            )
            for side in ("src", "tgt")
        ]
        return cls(src, tgt, data, *subwords)


def training_batches(config: TranslateConfig, data: SequenceDataset) -> BucketLoader:
    """Shuffled bucketed batches, each with its epoch's teacher-forcing ratio."""
    epochs = config.trainer.epochs

    def ratio(epoch: int) -> dict[str, float]:
        return {"teacher_forcing": config.model.teacher_forcing_at(epoch, epochs)}

    try:
        return BucketLoader(
            data, config.data.batch_size, True, config.trainer.seed or 0, extras=ratio
        )
    except ValueError as err:  # too few batches for the processes
        raise TaskError(str(err)) from None


def eval_batches(data: SequenceDataset, config: TranslateDataConfig) -> BucketLoader:
    return BucketLoader(data, config.eval_batch_size, shuffle=False)

"""rnnkit.data: from files to batches.

* tokenizers and vocabularies: :mod:`~rnnkit.data.tokenizers`, :class:`Vocab`, :class:`LabelMap`,
  pretrained vectors (:func:`load_vectors`);
* datasets, one module each, returning plain Python data, splits as a ``dict`` from split name
  (``"train"``, ``"valid"``, ``"test"``) to a list of examples or a token stream: AG News, IMDB,
  Penn Treebank, WikiText-2 (WikiText-103 and One Billion Word as token caches), any text
  corpus (Tiny Shakespeare, Jay Chou lyrics), human numbers,
  CoNLL column files, parallel text (Multi30k), time-series CSVs (ETT), and any CSV/TSV/JSONL
  table;
* batches: encoding to ids (:mod:`~rnnkit.data.encoding`), padding collate and length bucketing
  (:mod:`~rnnkit.data.batching`), language-model streams (:class:`LMStream`), forecasting
  windows (:class:`WindowDataset`, :class:`Normalizer`);
* corpora larger than memory: streaming tokenisation (:func:`iter_tokens`, :class:`TextSpec`),
  token caches of memory-mapped ids (:func:`token_cache`, :func:`list_token_caches`,
  :func:`clear_token_caches`) read as :class:`TokenIds` views; tables, CoNLL files and parallel
  text read lazily through record indexes (:func:`table_records`, :func:`conll_records`,
  :func:`parallel_records`) and encoded by :class:`LazyDataset` (``lazy_*``).

Files are found in ``data_dir``, else ``$RNNKIT_DATA``, else the cache, and downloaded with a
checksum when missing (:mod:`~rnnkit.data.download`).
"""

from rnnkit.data.ag_news import ag_news, read_ag_news_csv
from rnnkit.data.batching import IGNORE_INDEX, BucketBatchSampler, collate, padding_fraction
from rnnkit.data.cache_list import (
    CacheEntry,
    clear_token_caches,
    format_entries,
    list_token_caches,
)
from rnnkit.data.conll import conll2003, read_conll, read_conll_columns
from rnnkit.data.download import DownloadError, Remote, download, file_digest, resolve_data_dir
from rnnkit.data.encoding import (
    SequenceDataset,
    encode_classification,
    encode_pairs,
    encode_tagging,
)
from rnnkit.data.files import DataError
from rnnkit.data.frames import read_frames
from rnnkit.data.human_numbers import human_numbers, number_to_words
from rnnkit.data.imdb import imdb, imdb_unlabelled
from rnnkit.data.labels import LabelMap
from rnnkit.data.large_corpora import (
    one_billion_words,
    one_billion_words_files,
    wikitext103,
    wikitext103_files,
)
from rnnkit.data.lazy_dataset import LazyDataset, lazy_classification, lazy_pairs, lazy_tagging
from rnnkit.data.lm_stream import LMStream
from rnnkit.data.parallel import multi30k, read_parallel, read_parallel_tsv
from rnnkit.data.ptb import ptb, ptb_files, read_token_stream, wikitext2, wikitext2_files
from rnnkit.data.record_files import conll_records, parallel_records, table_records
from rnnkit.data.record_index import Records
from rnnkit.data.table import table
from rnnkit.data.text_corpus import jay_chou_lyrics, split_stream, text_corpus, tiny_shakespeare
from rnnkit.data.time_series import TimeSeries, chronological_split, ett, ett_split, time_series_csv
from rnnkit.data.token_cache import TokenCache, split_ranges, token_cache
from rnnkit.data.token_ids import TokenIds
from rnnkit.data.token_scan import TextSpec, iter_tokens
from rnnkit.data.tokenizers import TOKENIZERS, Tokenizer, chars, get_tokenizer, whitespace, words
from rnnkit.data.vectors import PretrainedVectors, load_vectors
from rnnkit.data.vocab import Vocab
from rnnkit.data.windows import Normalizer, WindowDataset

__all__ = [
    "IGNORE_INDEX",
    "TOKENIZERS",
    "BucketBatchSampler",
    "CacheEntry",
    "DataError",
    "DownloadError",
    "LMStream",
    "LabelMap",
    "LazyDataset",
    "Normalizer",
    "PretrainedVectors",
    "Records",
    "Remote",
    "SequenceDataset",
    "TextSpec",
    "TimeSeries",
    "TokenCache",
    "TokenIds",
    "Tokenizer",
    "Vocab",
    "WindowDataset",
    "ag_news",
    "chars",
    "chronological_split",
    "clear_token_caches",
    "collate",
    "conll2003",
    "conll_records",
    "download",
    "encode_classification",
    "encode_pairs",
    "encode_tagging",
    "ett",
    "ett_split",
    "file_digest",
    "format_entries",
    "get_tokenizer",
    "human_numbers",
    "imdb",
    "imdb_unlabelled",
    "iter_tokens",
    "jay_chou_lyrics",
    "lazy_classification",
    "lazy_pairs",
    "lazy_tagging",
    "list_token_caches",
    "load_vectors",
    "multi30k",
    "number_to_words",
    "one_billion_words",
    "one_billion_words_files",
    "padding_fraction",
    "parallel_records",
    "ptb",
    "ptb_files",
    "read_ag_news_csv",
    "read_conll",
    "read_frames",
    "read_conll_columns",
    "read_parallel",
    "read_parallel_tsv",
    "read_token_stream",
    "resolve_data_dir",
    "split_ranges",
    "split_stream",
    "table",
    "table_records",
    "text_corpus",
    "time_series_csv",
    "tiny_shakespeare",
    "token_cache",
    "whitespace",
    "wikitext2",
    "wikitext2_files",
    "wikitext103",
    "wikitext103_files",
    "words",
]

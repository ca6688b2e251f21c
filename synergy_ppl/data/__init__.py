"""Combination screens: reading, checking, replicate averaging, the demo and splits.

A *screen* (:class:`Screen`) is a table of measured (drug A, drug B, cell line, score)
triples together with what is known about the drugs (SMILES or a ready feature table) and,
optionally, a cell-line feature table. Drug order within a pair carries no meaning, so every
pair is stored canonically (``drug_a <= drug_b``) before replicates are averaged or splits are
drawn: a split that puts (A, B) in training and (B, A) in test would leak.

The modules follow the data, each importing only those before it:

``screen``
    :class:`Screen`, the validated screen every loader returns.
``tables``
    Readers and checks of tables (combination table, drug SMILES, cell-line features,
    pairs to rank), replicate averaging, and :func:`assemble_screen`, the last step shared
    by all loaders.
``monotherapy``, ``monotherapy_join``
    Single-agent responses (:class:`SingleAgentTable`, :func:`read_monotherapy`): a table of
    each drug's response alone in each line, oriented higher = more active, and its joins to
    a screen (:func:`attach_monotherapy`), a second table and a feature matrix.
``user``
    A user's screen: :func:`screen_from_frame` for tables in memory, and
    :func:`load_user_screen`, which reads files and then takes the same path.
``builtin``
    The O'Neil and NCI-ALMANAC screens: data directory, :func:`download`, loaders.
``demo``
    :func:`make_demo_screen`, a synthetic screen with a known truth.
``splits``
    :func:`split_screen`: train / validation / test parts without leakage.
``config``
    :func:`load_screen` (any source by name) and :class:`DataConfig` (the data options).
``features``
    Drug and cell-line feature matrices for the model (imported on its own, as it needs
    RDKit and torch).

Examples
--------
>>> from synergy_ppl.data import DataConfig
>>> config = DataConfig(data="demo", split="pair")
>>> screen = config.load()
>>> split = config.split_of(screen)
>>> len(split.train) + len(split.val) + len(split.test) == len(screen.table)
True
"""

from ..errors import DataError, OptionError
from .builtin import (
    ALMANAC_HOME,
    CHEMICALX_ONEIL,
    DATASETS,
    default_cache_dir,
    download,
    load_almanac,
    load_oneil,
    resolve_data_dir,
)
from .config import DataConfig, load_screen
from .demo import make_demo_screen
from .monotherapy import (
    SingleAgentTable,
    monotherapy_from_frame,
    read_monotherapy,
    single_agent_table,
)
from .monotherapy_join import attach_monotherapy
from .screen import Screen
from .splits import SPLIT_KINDS, Split, split_screen
from .tables import (
    COLUMN_ALIASES,
    DEFAULT_COLUMN_MAP,
    MAX_ABS_SCORE,
    PAIR_COLUMNS,
    TABLE_COLUMNS,
    assemble_screen,
    canonicalise_and_average,
    check_cell_features,
    check_cell_lines_known,
    check_column_map,
    check_drugs_known,
    check_pairs,
    detect_columns,
    read_cell_features,
    read_pairs,
    read_smiles,
    read_table,
    smiles_from_table,
    standardise_table,
)
from .user import load_user_screen, screen_from_frame

__all__ = [
    "ALMANAC_HOME",
    "CHEMICALX_ONEIL",
    "DATASETS",
    "DEFAULT_COLUMN_MAP",
    "MAX_ABS_SCORE",
    "PAIR_COLUMNS",
    "COLUMN_ALIASES",
    "SPLIT_KINDS",
    "TABLE_COLUMNS",
    "DataConfig",
    "DataError",
    "OptionError",
    "Screen",
    "SingleAgentTable",
    "Split",
    "assemble_screen",
    "attach_monotherapy",
    "canonicalise_and_average",
    "check_cell_features",
    "check_cell_lines_known",
    "check_column_map",
    "check_drugs_known",
    "check_pairs",
    "default_cache_dir",
    "detect_columns",
    "download",
    "load_almanac",
    "load_oneil",
    "load_screen",
    "load_user_screen",
    "make_demo_screen",
    "monotherapy_from_frame",
    "read_cell_features",
    "read_monotherapy",
    "read_pairs",
    "read_smiles",
    "read_table",
    "resolve_data_dir",
    "screen_from_frame",
    "single_agent_table",
    "smiles_from_table",
    "split_screen",
    "standardise_table",
]

"""hybrid-retrieval: where retrieval lives in hybrid SSM-Transformer language models (arXiv 2510.19861)."""

__version__ = "0.2.0"

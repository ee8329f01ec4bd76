"""`python -m hybrid_retrieval.config --check CONFIG | --export-schema [PATH]`."""

from hybrid_retrieval.config.load import main

raise SystemExit(main())

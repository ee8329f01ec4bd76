"""Greedy generation on a model's cache: prefill and decode apart, branching one prefill into many
continuations, and what a checkpoint's own generation config would have changed."""

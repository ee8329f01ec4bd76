"""What an evaluator is handed beside the results: the hub revision locks of a config, the committed
reference outputs and their check, the generated config docs, and the end-of-run summary."""

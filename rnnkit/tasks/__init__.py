"""Task recipes: config -> data -> model -> trainer, one module per task; used by the CLI."""
